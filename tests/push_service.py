"""A local Web Push service (a real HTTP peer) and browser-side subscriptions that decrypt what it
received, for the push channel's tests.

`PushService` answers POST /push/<device> with 201 (or the statuses scripted for that device, in
turn; the last repeats) and records each request: device, headers, body. `Device` is what a
browser holds for one subscription: its P-256 key pair and auth secret; `subscription()` is the
JSON the browser gives the site, `decrypt(body)` opens an aes128gcm message (RFC 8291) like the
browser does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Device:
    def __init__(self, service: PushService, name: str):
        self.name = name
        self.endpoint = f"{service.origin}/push/{name}"
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self) -> dict:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        return json.loads(
            http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        )


class PushService:
    def __init__(self, script: dict | None = None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per sending job

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                device = self.path.rsplit("/", 1)[-1]
                with svc.lock:
                    svc.requests.append({"device": device, "headers": self.headers, "body": body})
                    seq = svc.script.get(device)
                    status = (seq.pop(0) if len(seq) > 1 else seq[0]) if seq else 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def device(self, name: str) -> Device:
        return Device(self, name)

    def to(self, device: Device) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["device"] == device.name]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
