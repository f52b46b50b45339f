#!/usr/bin/env python3
"""Safe-mode test vectors for mend's WeChat adapter, computed independently of mend.

Encrypts official-account messages as the WeChat server does (消息加解密说明): AES-256-CBC with
the EncodingAESKey, IV = key[:16], over random(16) + length(4, big-endian) + message + appid,
PKCS#7-padded to 32 bytes; msg_signature = sha1 of the sorted token, timestamp, nonce, Encrypt.
Uses Python's `cryptography` package. Run it to regenerate vectors.json:

    python3 tests/data/wechat/make_vectors.py > tests/data/wechat/vectors.json
"""
import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "pamtest"
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wxb11529c136998cb6"
ACCOUNT = "gh_7f083739789a"
OPENID = "oia2TjjewbmiOUlr6X-1crbLOvLw"

MESSAGES = [
    ("text_complaint", "1795176000", "xxxxxx", bytes(range(16)),
     f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
     "<CreateTime>1795176000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
     "<Content><![CDATA[宽带又断了,报修三天了没人管,我要投诉]]></Content><MsgId>24410000000000001</MsgId></xml>"),
    ("menu_complaint", "1795176100", "nonce2", b"0123456789abcdef",
     f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
     "<CreateTime>1795176100</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
     "<EventKey><![CDATA[COMPLAINT]]></EventKey></xml>"),
    ("text_question", "1795176200", "nonce3", b"fedcba9876543210",
     f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
     "<CreateTime>1795176200</CreateTime><MsgType><![CDATA[text]]></MsgType>"
     "<Content><![CDATA[请问营业厅几点关门?]]></Content><MsgId>24410000000000002</MsgId></xml>"),
]


def encrypt(message: str, random16: bytes) -> str:
    key = base64.b64decode(ENCODING_AES_KEY + "=")
    body = message.encode()
    plain = random16 + struct.pack(">I", len(body)) + body + APPID.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


vectors = []
for name, timestamp, nonce, random16, message in MESSAGES:
    encrypted = encrypt(message, random16)
    vectors.append({
        "name": name,
        "timestamp": timestamp,
        "nonce": nonce,
        "message": message,
        "encrypt": encrypted,
        "signature": sha1_sorted(TOKEN, timestamp, nonce),
        "msg_signature": sha1_sorted(TOKEN, timestamp, nonce, encrypted),
        "body": f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
    })

print(json.dumps({"token": TOKEN, "encoding_aes_key": ENCODING_AES_KEY, "appid": APPID, "vectors": vectors},
                 ensure_ascii=False, indent=2))
