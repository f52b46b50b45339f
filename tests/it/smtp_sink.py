"""A real SMTP server for the email tests (aiosmtpd, from Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT DIR. Listens on 127.0.0.1:PORT and writes each message it accepts to
DIR/NNNNN.json as {"mail_from", "rcpt_tos", "data_base64"} (written whole, then renamed, so a
reader never sees half a file). While DIR/refuse exists it answers DATA with 451, as a server
that is busy or greylisting does. Prints "ready" once it listens; runs until killed.
"""

import base64
import itertools
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.numbers = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
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
        return "250 2.0.0 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
