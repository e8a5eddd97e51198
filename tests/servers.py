"""Local HTTP servers for tests: a camera that drops and comes back, a webhook receiver
that can be taken down, and an app served by uvicorn on a free port."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
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

    def __init__(self, down: bool = False, delay: float = 0.0):
        self.down = down
        self.delay = delay  # seconds before each answer: a slow receiver widens any race
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
                time.sleep(this.delay)
                this.received[payload["id"]] += 1
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler, "/hook")


class Redirector(LocalServer):
    """Answers every POST with ``code`` and a Location pointing at its own /elsewhere, and
    counts whatever reaches /elsewhere (a client that follows the redirect)."""

    def __init__(self, code: int = 302):
        self.posts = 0
        self.followed = 0
        this = self

        class Handler(_Quiet):
            def _elsewhere(self):
                this.followed += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                self._elsewhere()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/elsewhere"):
                    self._elsewhere()
                    return
                this.posts += 1
                self.send_response(code)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler, "/hook")


class Hanging:
    """A webhook that accepts connections and never answers (nor closes them)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.accepted: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self._closed = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    """``app`` (ASGI) served by uvicorn on a free loopback port, in a thread; yields the base
    URL ``http://127.0.0.1:PORT``."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(15)
