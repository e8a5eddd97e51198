"""What a hostile or unlucky client tried against `maskwatch serve` (issue 10, items 7, 8, 10,
11, 12 and 18), each against a real server on loopback: uvicorn in a thread, real sockets,
chunked uploads, clients that hang up, a second gRPC server on a taken port."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
import httpx  # noqa: E402
from servers import free_port, serving  # noqa: E402
from videos import make_video  # noqa: E402

from maskwatch.serve.app import create_app  # noqa: E402
from maskwatch.settings import ServeSettings  # noqa: E402


def metric(base: str, name: str, headers=None, **labels) -> float:
    """The value of one sample in /metrics (0 when absent)."""
    text = httpx.get(base + "/metrics", headers=headers or {}).text
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(got.get(k) == str(v) for k, v in labels.items()):
            return float(value)
    return 0.0


def raw_request(port: int, head: str, body_parts=(), wait: float = 5.0) -> tuple[int, dict, bytes]:
    """Send ``head`` and then ``body_parts`` on a plain socket; read the answer (it may come
    before the body was sent: the point of several tests). Returns (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head.encode("latin-1"))
        for part in body_parts:
            try:
                s.sendall(part)
            except OSError:
                break  # the server answered and closed: fine
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head_bytes, _, rest = data.partition(b"\r\n\r\n")
            lines = head_bytes.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", 0))
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
            rest = rest[:length]
        except (TimeoutError, ConnectionResetError):
            pytest.fail(f"no answer within {wait} s (got {data[:200]!r})")
    return int(lines[0].split()[1]), headers, rest


def chunked(data: bytes, size: int = 256 * 1024):
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


# --- item 10: client errors are JSON 4xx, counted in /metrics --------------------------------------
@pytest.fixture(scope="module")
def keyed(detector, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "w.db"
    settings = ServeSettings(api_key="sekrit", database=f"sqlite:///{db}", grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        yield base


KEY = {"X-API-Key": "sekrit"}


def _json_error(res: httpx.Response, status: int) -> str:
    assert res.status_code == status, (res.status_code, res.text[:300])
    assert res.headers["content-type"].startswith("application/json"), res.text[:300]
    return res.json()["error"]["message"]


def test_raw_bytes_with_curls_default_content_type_work(keyed, val_images):
    data = val_images[0].read_bytes()
    res = httpx.post(
        keyed + "/v1/detect",
        content=data,
        headers={**KEY, "content-type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert res.status_code == 200, res.text[:300]
    assert res.json()["faces"]
    assert metric(keyed, "maskwatch_requests_total", KEY, route="detect", status=200) >= 1


def test_malformed_multipart_and_wrong_field_are_json_400(keyed, val_images):
    data = val_images[0].read_bytes()
    bad = httpx.post(
        keyed + "/v1/detect",
        content=b"--zzz\r\nContent-Disposition: form-data; name=file\r\n\r\nxx",  # no closing boundary
        headers={**KEY, "content-type": "multipart/form-data; boundary=zzz"},
    )
    assert res_ok_4xx(bad)
    no_boundary = httpx.post(keyed + "/v1/detect", content=data, headers={**KEY, "content-type": "multipart/form-data"})
    assert res_ok_4xx(no_boundary)
    wrong = httpx.post(keyed + "/v1/detect", files={"image": ("a.jpg", data, "image/jpeg")}, headers=KEY)
    assert "'file'" in _json_error(wrong, 400)
    video_wrong = httpx.post(keyed + "/v1/detect/video", files={"video": ("a.mp4", b"x", "video/mp4")}, headers=KEY)
    assert "'file'" in _json_error(video_wrong, 400)
    assert metric(keyed, "maskwatch_requests_total", KEY, route="detect", status=400) >= 3


def res_ok_4xx(res: httpx.Response) -> bool:
    assert 400 <= res.status_code < 500, (res.status_code, res.text[:300])
    assert res.json()["error"]["message"]
    return True


def test_non_ascii_api_key_is_401_not_500(keyed):
    before = metric(keyed, "maskwatch_requests_total", KEY, route="info", status=401)
    header = httpx.get(keyed + "/v1/info", headers={"X-API-Key": "clé".encode()})
    _json_error(header, 401)
    bearer = httpx.get(keyed + "/v1/info", headers={"Authorization": "Bearer ключ".encode()})
    _json_error(bearer, 401)
    query = httpx.get(keyed + "/v1/info?api_key=%C3%A9t%C3%A9")
    _json_error(query, 401)
    assert metric(keyed, "maskwatch_requests_total", KEY, route="info", status=401) == before + 3


def _ws_close(url: str, send: str | bytes | None = None):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url, open_timeout=10, close_timeout=5) as ws:
        if send is not None:
            ws.send(send)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    return info.value.rcvd


def test_websocket_non_ascii_key_and_text_frame_close_with_a_code(keyed):
    pytest.importorskip("websockets")
    ws = keyed.replace("http", "ws") + "/v1/ws"
    wrong = _ws_close(ws + "?api_key=%C3%A9")
    assert wrong is not None and wrong.code == 4401 and "API key" in wrong.reason
    text = _ws_close(ws + "?api_key=sekrit", send="hello")
    assert text is not None and text.code == 1003 and "binary" in text.reason
    assert metric(keyed, "maskwatch_requests_total", KEY, route="ws", status=4401) >= 1
    assert metric(keyed, "maskwatch_requests_total", KEY, route="ws", status=1003) >= 1


def test_tf_serving_image_bytes_string_is_400(keyed):
    for body in ({"instances": [{"image_bytes": "x"}]}, {"instances": [{"b64": 5}]}, {"instances": ["x"]}):
        res = httpx.post(keyed + "/v1/models/maskwatch:predict", json=body, headers=KEY)
        assert res_ok_4xx(res)
    assert metric(keyed, "maskwatch_requests_total", KEY, route="predict", status=400) >= 2


def test_events_since_overflow_is_422(keyed):
    for since in ("999999999999d", "99999999999999999999w", "nonsense"):
        res = httpx.get(keyed + "/v1/events", params={"since": since}, headers=KEY)
        assert since.split("d")[0][:5] in _json_error(res, 422) or "since" in res.text
    assert metric(keyed, "maskwatch_requests_total", KEY, route="list_events", status=422) >= 3


# --- item 11: 413 for oversized chunked bodies, 401 before the body is read ------------------------
@pytest.fixture(scope="module")
def small(detector):
    settings = ServeSettings(api_key="sekrit", max_upload_mb=1, max_video_mb=2, database=None, grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        yield base, int(base.rsplit(":", 1)[1])


def test_oversized_chunked_multipart_and_json_are_413(small):
    base, port = small
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + b"\xff" * (3 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        "POST /v1/detect HTTP/1.1\r\nHost: x\r\nX-API-Key: sekrit\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )
    status, headers, body = raw_request(port, head, chunked(multipart))
    assert status == 413 and headers["content-type"].startswith("application/json"), body[:200]
    big_json = json.dumps({"instances": [{"b64": "A" * (3 * 1024 * 1024)}]}).encode()
    head = (
        "POST /v1/models/maskwatch:predict HTTP/1.1\r\nHost: x\r\nX-API-Key: sekrit\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    )
    status, headers, body = raw_request(port, head, chunked(big_json))
    assert status == 413 and json.loads(body)["error"]["code"] == 413
    assert metric(base, "maskwatch_requests_total", KEY, route="detect", status=413) >= 1
    assert metric(base, "maskwatch_requests_total", KEY, route="predict", status=413) >= 1


def test_unauthenticated_upload_is_refused_before_its_body_is_read(small):
    base, port = small
    # declared 50 MB (over the limit, so a 413 would do too) and chunked without a length: the
    # answer is 401 after 64 KB have been sent, without waiting for the rest
    first = b"\0" * 65536
    for framing, part in (
        ("Content-Length: 52428800", first),
        ("Transfer-Encoding: chunked", b"10000\r\n" + first + b"\r\n"),
    ):
        head = (
            f"POST /v1/detect HTTP/1.1\r\nHost: x\r\n{framing}\r\n"
            "Content-Type: multipart/form-data; boundary=zz\r\n\r\n"
        )
        started = time.perf_counter()
        status, headers, body = raw_request(port, head, [part], wait=5)
        assert status == 401, body[:200]
        assert time.perf_counter() - started < 5
        assert headers["www-authenticate"] == "Bearer" and json.loads(body)["error"]["code"] == 401
    assert metric(base, "maskwatch_requests_total", KEY, route="detect", status=401) >= 2


# --- item 7: /v1/detect/video is bounded, cancellable, and never starves /v1/detect --------------
@pytest.fixture(scope="module")
def long_video(val_images, tmp_path_factory) -> bytes:
    path = make_video(val_images[:12], tmp_path_factory.mktemp("v") / "long.avi", frames_each=40, fourcc="MJPG")
    return path.read_bytes()


def test_video_frame_and_pixel_limits(detector, val_images, tmp_path):
    clip = make_video(val_images[:3], tmp_path / "c.avi", frames_each=10, fourcc="MJPG").read_bytes()
    settings = ServeSettings(max_video_frames=4, max_video_pixels=400_000, database=None, grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        res = httpx.post(base + "/v1/detect/video?stride=2", files={"file": ("c.avi", clip)}, timeout=60)
        assert res.status_code == 200, res.text[:300]
        body = res.json()
        assert body["frames_analysed"] == 4 and "max_video_frames" in body["truncated"]
        assert [f["frame"] for f in body["frames"]] == [0, 2, 4, 6]
    settings = ServeSettings(max_video_pixels=640 * 480 - 1, database=None, grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        res = httpx.post(base + "/v1/detect/video", files={"file": ("c.avi", clip)}, timeout=60)
        assert "640x480" in _json_error(res, 413)
        assert metric(base, "maskwatch_requests_total", route="detect_video", status=413) == 1


def test_video_work_has_its_own_pool_and_stops_when_the_client_leaves(detector, long_video, val_images):
    image = val_images[0].read_bytes()
    settings = ServeSettings(workers=1, video_workers=1, database=None, grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        port = int(base.rsplit(":", 1)[1])
        boundary = "vid"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.avi"\r\n\r\n'.encode()
            + long_video
            + f"\r\n--{boundary}--\r\n".encode()
        )
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                f"POST /v1/detect/video?stride=1 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
                + body
            )
            deadline = time.time() + 60
            while metric(base, "maskwatch_video_frames_total") < 3 and time.time() < deadline:
                time.sleep(0.2)
            assert metric(base, "maskwatch_video_frames_total") >= 3, "the video analysis did not start"
            # 1. while the long video is analysed (one inference worker only), images are answered
            started = time.perf_counter()
            res = httpx.post(base + "/v1/detect", content=image, timeout=120)
            assert res.status_code == 200 and res.json()["faces"]
            assert time.perf_counter() - started < 10
            assert metric(base, "maskwatch_video_pending") == 1, "the video finished first: make it longer"
        # 2. the client hung up (socket closed): within a few seconds no more frames are analysed
        time.sleep(3)
        stopped = metric(base, "maskwatch_video_frames_total")
        assert stopped < 480 - 10, "the whole video was analysed"
        time.sleep(1.5)
        assert metric(base, "maskwatch_video_frames_total") == stopped
        assert metric(base, "maskwatch_video_pending") == 0
        assert metric(base, "maskwatch_video_cancelled_total") == 1
        assert metric(base, "maskwatch_requests_total", route="detect_video", status=499) == 1


# --- item 12: /docs works offline ------------------------------------------------------------------
def test_docs_page_uses_only_local_assets(detector):
    settings = ServeSettings(database=None, grpc_port=0)
    with serving(create_app(detector, settings)) as base:
        for page in ("/docs", "/redoc"):
            html = httpx.get(base + page).text
            urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
            urls += re.findall(r"""url:\s*["']([^"']+)["']""", html)
            assert urls, html[:500]
            assert "://" not in html.replace(base, ""), f"{page} refers to another host: {html[:800]}"
            for url in urls:
                res = httpx.get(base + url)
                assert res.status_code == 200, url
            scripts = re.findall(r"""<script src=["']([^"']+)["']""", html)
            assert scripts and all("javascript" in httpx.get(base + s).headers["content-type"] for s in scripts), (
                scripts
            )
        css = re.findall(r"""href=["']([^"']+\.css)["']""", httpx.get(base + "/docs").text)
        assert css and httpx.get(base + css[0]).headers["content-type"].startswith("text/css")


# --- item 8: gRPC binds exclusively -----------------------------------------------------------------
def test_second_grpc_server_on_a_taken_port_fails_clearly(detector):
    pytest.importorskip("grpc")
    from maskwatch.errors import ConfigError
    from maskwatch.serve.grpc_server import create_grpc_server

    first, port = create_grpc_server(detector, 0)
    first.start()
    try:
        with pytest.raises(ConfigError, match=f"{port}.*in use"):
            create_grpc_server(detector, port)
    finally:
        first.stop(grace=None)


def test_serve_exits_2_when_the_grpc_port_is_taken(detector):
    pytest.importorskip("grpc")
    from maskwatch.serve.grpc_server import create_grpc_server

    first, grpc_port = create_grpc_server(detector, 0)
    first.start()
    try:
        command = ["serve", "--port", str(free_port()), "--grpc-port", str(grpc_port)]
        proc = subprocess.run(
            [sys.executable, "-m", "maskwatch.cli", *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        first.stop(grace=None)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{grpc_port}" in proc.stderr and "in use" in proc.stderr and "Traceback" not in proc.stderr


# --- item 18: an unreachable events database does not stop the server ------------------------------
@pytest.mark.parametrize(
    "database",
    ["postgresql+psycopg://nobody:x@127.0.0.1:9/none", "sqlite:////proc/maskwatch-nowhere/w.db"],
)
def test_unreachable_database_still_serves_detection(detector, val_images, database):
    if database.startswith("postgresql"):
        pytest.importorskip("psycopg")
    settings = ServeSettings(database=database, grpc_port=0)
    app = create_app(detector, settings)
    with serving(app) as base:
        res = httpx.post(base + "/v1/detect", content=Path(val_images[0]).read_bytes(), timeout=60)
        assert res.status_code == 200 and res.json()["faces"]
        info = httpx.get(base + "/v1/info").json()
        assert info["watch"] is True and "cannot" in info["watch_error"]
        for path in ("/v1/watch/summary", "/v1/events", "/v1/events/x/face.jpg"):
            message = _json_error(httpx.get(base + path), 503)
            assert "events database" in message
        assert metric(base, "maskwatch_requests_total", route="summary", status=503) == 1
