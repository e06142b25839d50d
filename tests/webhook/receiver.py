#!/usr/bin/env python3
"""A merchant's HTTPS webhook receiver for tests/webhook (issue 19): it verifies every call's
Flashsale-Signature with the endpoint's secrets, as docs/MERCHANT_WEBHOOKS.md tells merchants to,
and logs each call as one JSON line.

  receiver.py --cert CERT --key KEY --port-file FILE --log FILE --control FILE \
              --secret /a=SECRETFILE [--secret /b=SECRETFILE ...] [--port N]

Each POST to PATH is answered by the rules in the control file (read on every call; JSON):
  {"/b": {"fail_first": 3}, "/c": {"always_fail": true}}
fail_first N: 500 to the path's first N calls; always_fail: 500 to every call; else 200.
Log lines: {"path", "event_id", "type", "attempt", "signature_ok", "status"}; signature_ok is
false for a missing, malformed, stale (more than 300 s) or forged signature. The port is written
to --port-file once the server listens.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import threading
import time

TOLERANCE_S = 300


def verify(header, body, secrets, now):
    """The merchant-side check of docs/MERCHANT_WEBHOOKS.md."""
    if not header:
        return False
    t, v1 = None, []
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key == "t":
            t = value
        elif key == "v1":
            v1.append(value)
    if t is None or not t.isdigit() or not v1:
        return False
    if abs(now - int(t)) > TOLERANCE_S:
        return False
    signed = t.encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, sig) for sig in v1):
            return True
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--secret", action="append", default=[])
    args = parser.parse_args()

    secrets = {}
    for spec in args.secret:
        path, _, file = spec.partition("=")
        with open(file, "rb") as f:
            secrets[path] = [line.strip() for line in f.read().split(b"\n") if line.strip()]

    lock = threading.Lock()
    calls = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verify(self.headers.get("Flashsale-Signature"), body,
                        secrets.get(self.path, []), int(time.time()))
            try:
                with open(args.control) as f:
                    rule = json.load(f).get(self.path, {})
            except (OSError, ValueError):
                rule = {}
            with lock:
                n = calls.get(self.path, 0) + 1
                calls[self.path] = n
                status = 200
                if rule.get("always_fail") or n <= rule.get("fail_first", 0):
                    status = 500
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {}
                line = {"path": self.path, "event_id": self.headers.get("Flashsale-Event-Id"),
                        "body_id": event.get("id"), "type": event.get("type"),
                        "attempt": self.headers.get("Flashsale-Delivery-Attempt"),
                        "signature_ok": ok, "status": status}
                with open(args.log, "a") as f:
                    f.write(json.dumps(line) + "\n")
            answer = b'{"received":true}' if status == 200 else b'{"error":"try later"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
