"""A local SMS gateway for the load test: the app (SMS_GATEWAY_URL) and the floor post each SMS
here; the generator reads the registration code a family's phone received (GET /code?to=…).
Loopback only; the last SMS per number is kept."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CODE = re.compile(r"\b(\d{6})\b")


class _Handler(BaseHTTPRequestHandler):
    texts: dict[str, str] = {}
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # quiet: thousands of requests
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            sms = json.loads(body)
            with self.lock:
                self.texts[str(sms["to"])] = str(sms["text"])
        except (ValueError, KeyError, TypeError):
            self.send_response(400)
            self.end_headers()
            return
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        to = (parse_qs(urlsplit(self.path).query).get("to") or [""])[0]
        with self.lock:
            text = self.texts.get(to, "")
        found = CODE.search(text)
        data = found.group(1).encode() if found else b""
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start() -> tuple[str, ThreadingHTTPServer]:
    """Serve in a daemon thread; returns (base URL, server) — `server.shutdown()` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
