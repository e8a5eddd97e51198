"""Local HTTP servers for tests: a camera that drops and comes back, a webhook receiver
that can be taken down."""

from __future__ import annotations

import http.server
import json
import threading
from collections import Counter
from pathlib import Path


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass


class LocalServer:
    def __init__(self, handler: type, path: str):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Camera(LocalServer):
    """Serves one video file (an MJPEG AVI) per GET. Requests numbered ``down`` (1-based)
    are answered 503: the camera rebooting, or gone for good."""

    def __init__(self, video: Path, down=lambda n: False):
        self.served = {"n": 0}
        served, data = self.served, Path(video).read_bytes()

        class Handler(_Quiet):
            def do_GET(self):
                served["n"] += 1
                if down(served["n"]):
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler, "/cam.avi")


class Receiver(LocalServer):
    """A webhook: records every POSTed event id; while ``down``, answers 503."""

    def __init__(self, down: bool = False):
        self.down = down
        self.received: Counter = Counter()
        self.refused = 0
        this = self

        class Handler(_Quiet):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if this.down:
                    this.refused += 1
                    self.send_error(503)
                    return
                payload = json.loads(body)
                assert self.headers["Idempotency-Key"] == payload["id"]
                this.received[payload["id"]] += 1
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler, "/hook")
