"""A real SMTP server for the email tests (aiosmtpd, from Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT DIR [USER:PASSWORD]. Listens on 127.0.0.1:PORT and writes each message it accepts to
DIR/NNNNN.json as {"mail_from", "rcpt_tos", "data_base64"} (written whole, then renamed, so a
reader never sees half a file). While DIR/refuse exists it answers DATA with 451, as a server
that is busy or greylisting does; while DIR/relay exists it answers RCPT with 554 5.7.1, as a
relay does to a client it does not relay for; while DIR/drop-rcpt exists it drops the connection at RCPT;
while DIR/drop exists it keeps the message of DATA and then drops
the connection instead of answering 250, as a relay that fails at the wrong moment does; while DIR/stall exists it
says nothing for a minute after the data, as a hung content filter does. With USER:PASSWORD it requires that login (AUTH PLAIN or
LOGIN). With SINK_CERT and SINK_KEY in its environment (PEM files) it requires STARTTLS with that
certificate first, and logs in only over it. Prints "ready" once it listens; runs until killed.
"""

import asyncio
import base64
import itertools
import json
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if os.path.exists(os.path.join(self.directory, "drop-rcpt")):
            server.transport.abort()
            return "250 OK"
        if os.path.exists(os.path.join(self.directory, "relay")):
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(os.path.join(self.directory, "stall")):
            await asyncio.sleep(60)
            return "451 4.3.0 Timed out"
        if os.path.exists(os.path.join(self.directory, "refuse")):
            return "451 4.3.0 Mailbox busy, try again later"
        number = next(self.numbers)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data_base64": base64.b64encode(envelope.original_content or envelope.content).decode("ascii"),
        }
        partial = os.path.join(self.directory, f".{number:05}.partial")
        with open(partial, "w") as f:
            json.dump(record, f)
        os.rename(partial, os.path.join(self.directory, f"{number:05}.json"))
        if os.path.exists(os.path.join(self.directory, "drop")):
            server.transport.abort()
        return "250 2.0.0 Message accepted"


def login_checker(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (user, password)
        return AuthResult(success=ok, handled=False)

    return check


def main():
    # Login without TLS is what this fixture is for; aiosmtpd's warnings about it are noise.
    warnings.simplefilter("ignore")
    port, directory = int(sys.argv[1]), sys.argv[2]
    auth = {}
    if len(sys.argv) > 3:
        user, password = sys.argv[3].encode().split(b":", 1)
        auth = {"authenticator": login_checker(user, password), "auth_required": True, "auth_require_tls": False}
    tls = {}
    if os.environ.get("SINK_CERT"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.environ["SINK_CERT"], os.environ["SINK_KEY"])
        tls = {"tls_context": context, "require_starttls": True}
        if auth:
            auth["auth_require_tls"] = True
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **auth, **tls)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
