"""An aiosmtpd handler for tests/notify/tst_smtpsender: each message it accepts is written to a
folder, so that the test can assert exactly what a real SMTP server received.

    PYTHONPATH=tests/notify python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtpsink.FolderHandler \
        FOLDER [accept|refuse|error-once]

accept: every message is stored as FOLDER/<n>.eml (the DATA bytes as received, CRLF line ends,
        dot-stuffing undone) with FOLDER/<n>.json beside it ({"mail_from", "rcpt_tos"}); the .eml
        appears last and at once (rename), so a reader never sees half a message.
refuse: every RCPT TO is answered "550 5.1.1 mailbox unavailable"; nothing is stored.
error-once: the first DATA fails inside the handler (aiosmtpd answers "500 Error: ..." and keeps
        the connection), as a relay with a passing fault does; later messages are stored as in
        accept.
"""

import itertools
import json
import os
import time


class FolderHandler:
    def __init__(self, folder, mode="accept"):
        if mode not in ("accept", "refuse", "error-once"):
            raise ValueError(f"mode must be accept, refuse or error-once, not {mode}")
        self.folder = folder
        self.mode = mode
        self.counter = itertools.count()

    @classmethod
    def from_cli(cls, parser, *args):
        # aiosmtpd passes CLASSARGS only to a handler with from_cli
        if not 1 <= len(args) <= 2:
            parser.error("FolderHandler takes FOLDER [accept|refuse|error-once]")
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "refuse":
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "error-once":
            self.mode = "accept"
            raise RuntimeError("a passing fault of the relay")
        name = f"{time.time_ns()}-{next(self.counter)}"
        base = os.path.join(self.folder, name)
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 stored " + name
