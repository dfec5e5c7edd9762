"""A real HTTP receiver for webhooks, and a Standard Webhooks verifier written apart from gll-mail's signer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int | None = None, now: int = 0) -> dict:
    """What a receiver does: check one of the v1 signatures over id.timestamp.body; the payload."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    given = [part.split(",", 1)[1].encode() for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, sig) for sig in given):
        raise ValueError("bad signature")
    if tolerance is not None and abs(now - int(stamp)) > tolerance:
        raise ValueError("too old")
    return json.loads(body)


class Receiver:
    """Records each POST (headers, body); answers the codes of ``plan`` in turn, then ``default``.
    ``hang_on``: the request numbers (1-based) that never get an answer until the receiver stops."""

    def __init__(self, default: int = 204, plan: list[int] | None = None, hang_on: set[int] = frozenset()):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.plan = list(plan or [])
        self.default = default
        self.hang_on = set(hang_on)
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    number = len(receiver.received)
                    code = receiver.plan.pop(0) if receiver.plan else receiver.default
                if number in receiver.hang_on:
                    receiver.release.wait(30)
                    return
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/gll"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self, secret: str) -> list[tuple[str, dict]]:
        """(webhook-id, payload) of every request received, each signature verified."""
        with self.lock:
            got = list(self.received)
        return [(headers["webhook-id"], verify(secret, headers, body)) for headers, body in got]
