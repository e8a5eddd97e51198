"""The HTTP API with the real model on real images, and every error path."""

import asyncio
import base64
import json
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from test_images import png_bomb  # noqa: E402
from videos import make_video  # noqa: E402

from maskwatch.detections import face_rows  # noqa: E402
from maskwatch.serve.app import create_app  # noqa: E402
from maskwatch.settings import ServeSettings  # noqa: E402

FIELDS = {"image", "x1", "y1", "x2", "y2", "label", "score", "landmarks"}


@pytest.fixture(scope="module")
def client(detector):
    return TestClient(
        create_app(
            detector, ServeSettings(max_upload_mb=3_000_000 / 2**20, max_video_mb=5_000_000 / 2**20, api_key=None)
        )
    )


def test_detect_multipart_matches_the_cli_fields(client, detector, val_images):
    path = val_images[0]
    res = client.post("/v1/detect", files={"file": (path.name, path.read_bytes(), "image/jpeg")})
    assert res.status_code == 200
    body = res.json()
    image = cv2.imread(str(path))
    assert (body["width"], body["height"]) == (image.shape[1], image.shape[0])
    assert body["model_version"] == detector.model_version
    assert body["faces"] and all(set(f) == FIELDS and f["image"] == path.name for f in body["faces"])
    expected = face_rows(detector.detect(image).above(0.3))
    assert [{k: v for k, v in f.items() if k != "image"} for f in body["faces"]] == expected
    assert sum(body["counts"].values()) == len(body["faces"])


def test_raw_body_and_annotated_jpeg(client, val_images):
    data = val_images[1].read_bytes()
    raw = client.post("/v1/detect", content=data, headers={"content-type": "application/octet-stream"})
    assert raw.status_code == 200 and raw.json()["faces"]
    ann = client.post("/v1/detect?annotated=1", content=data)
    assert ann.status_code == 200 and ann.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(ann.content, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == original.shape and np.abs(picture.astype(int) - original.astype(int)).sum() > 0


def test_tf_serving_surface(client, val_images):
    assert client.get("/v1/models/maskwatch").json()["model_version_status"][0]["state"] == "AVAILABLE"
    meta = client.get("/v1/models/maskwatch/metadata").json()
    assert "serving_default" in meta["metadata"]["signature_def"]["signature_def"]
    data = val_images[0].read_bytes()
    b64 = base64.b64encode(data).decode()
    res = client.post("/v1/models/maskwatch:predict", json={"instances": [{"b64": b64}, {"image_bytes": {"b64": b64}}]})
    assert res.status_code == 200
    preds = res.json()["predictions"]
    assert len(preds) == 2 and preds[0] == preds[1]
    p = preds[0]
    direct = client.post("/v1/detect", content=data).json()
    assert p["num_detections"] == len(direct["faces"]) > 0
    h, w = direct["height"], direct["width"]
    ymin, xmin, ymax, xmax = p["detection_boxes"][0]
    assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1
    assert xmin * w == pytest.approx(direct["faces"][0]["x1"], abs=0.1)
    assert ymax * h == pytest.approx(direct["faces"][0]["y2"], abs=0.1)
    assert p["detection_labels"][0] == direct["faces"][0]["label"]
    assert set(p["detection_classes"]) <= {1, 2, 3}
    assert client.get("/v1/models/other").status_code == 404


@pytest.mark.parametrize(
    "make, status, words",
    [
        (lambda p: b"", 400, "send an image"),
        (lambda p: b"%PDF-1.4 hello", 415, "not an image"),
        (lambda p: p.read_bytes()[: len(p.read_bytes()) // 2], 400, "truncated"),
        (lambda p: png_bomb(20000, 20000), 413, "exceeds the limit"),
    ],
)
def test_bad_uploads_get_clear_json_errors(client, val_images, make, status, words):
    res = client.post("/v1/detect", content=make(val_images[2]))
    assert res.status_code == status
    assert words in res.json()["error"]["message"]


def test_oversized_body_refused_while_streaming(client):
    big = b"\xff\xd8\xff" + b"\0" * 3_100_000
    res = client.post("/v1/detect", content=big)
    assert res.status_code == 413 and "exceeds the limit" in res.json()["error"]["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"\0" * 100_000

    res = client.post("/v1/detect", content=chunks())
    assert res.status_code == 413


def test_tf_serving_errors(client):
    assert client.post("/v1/models/maskwatch:predict", json={"instances": [{"b64": "%%%"}]}).status_code == 400
    assert client.post("/v1/models/maskwatch:predict", json={"instances": [{"x": 1}]}).status_code == 400
    res = client.post("/v1/models/maskwatch:predict", json={"wrong": []})
    assert res.status_code == 422 and "instances" in res.json()["error"]["message"]
    assert client.post("/v1/models/maskwatch:classify", json={"instances": []}).status_code == 404


def test_api_key_on_every_api_and_websocket_route(detector, val_images):
    app = create_app(detector, ServeSettings(api_key="s3cret"))
    c = TestClient(app)
    data = val_images[0].read_bytes()
    for method, url in [
        ("post", "/v1/detect"),
        ("get", "/v1/models/maskwatch"),
        ("get", "/metrics"),
        ("get", "/v1/info"),
        ("get", "/v1/models/maskwatch/metadata"),
    ]:
        res = getattr(c, method)(url, **({"content": data} if method == "post" else {}))
        assert res.status_code == 401, url
        assert "API key" in res.json()["error"]["message"]
    assert c.post("/v1/detect", content=data, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert c.post("/v1/detect", content=data, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.post("/v1/detect", content=data, headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as info, c.websocket_connect("/v1/ws") as ws:
        ws.receive_text()
    assert info.value.code == 4401
    with c.websocket_connect("/v1/ws?api_key=s3cret") as ws:
        ws.send_bytes(data)
        assert json.loads(ws.receive_text())["faces"]


def test_cors_off_by_default_and_on_when_asked(detector):
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    off = TestClient(create_app(detector, ServeSettings())).options("/v1/detect", headers=pre)
    assert "access-control-allow-origin" not in off.headers
    on = TestClient(create_app(detector, ServeSettings(cors_origins=["https://ok.example"])))
    res = on.options("/v1/detect", headers={**pre, "Origin": "https://ok.example"})
    assert res.headers["access-control-allow-origin"] == "https://ok.example"


def test_static_files_have_no_path_traversal(client):
    assert client.get("/static/app.js").status_code == 200
    for url in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ):
        res = client.get(url)
        assert res.status_code == 404, url
        assert b"create_app" not in res.content and b"root:" not in res.content


def test_full_queue_answers_503_with_retry_after(detector, val_images):
    class Slow:
        model_version = detector.model_version
        classifier = detector.classifier

        def detect(self, image):
            time.sleep(0.5)
            return detector.detect(image)

    app = create_app(Slow(), ServeSettings(workers=1, queue=1))
    data = val_images[0].read_bytes()

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*[c.post("/v1/detect", content=data) for _ in range(5)])

    results = asyncio.run(burst())
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 2 and codes.count(503) == 3
    busy = next(r for r in results if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]["message"]


def test_health_ready_and_metrics(client, val_images):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/v1/detect", content=val_images[0].read_bytes())
    text = client.get("/metrics").text
    assert 'maskwatch_requests_total{route="detect",status="200"}' in text
    assert "maskwatch_request_seconds_bucket" in text
    assert 'maskwatch_faces_total{label="with_mask"}' in text


def test_websocket_live_frames(client, val_images):
    with client.websocket_connect("/v1/ws") as ws:
        for p in val_images[:3]:
            ws.send_bytes(p.read_bytes())
            msg = json.loads(ws.receive_text())
            assert msg["faces"] and msg["width"] > 0 and "latency_ms" in msg
        ws.send_bytes(b"garbage")
        assert "not an image" in json.loads(ws.receive_text())["error"]


def test_video_upload(client, val_images, tmp_path):
    video = make_video(val_images[:3], tmp_path / "v.mp4", frames_each=4, fps=10)
    res = client.post("/v1/detect/video?stride=4", files={"file": ("v.mp4", video.read_bytes(), "video/mp4")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["frames_analysed"] == 3 and [f["frame"] for f in body["frames"]] == [0, 4, 8]
    assert all(f["faces"] for f in body["frames"]) and body["frames"][1]["t"] == pytest.approx(0.4)
    bad = client.post("/v1/detect/video", files={"file": ("x.mp4", b"hello there", "video/mp4")})
    assert bad.status_code == 415
    broken = client.post("/v1/detect/video", files={"file": ("y.mp4", video.read_bytes()[:3000], "video/mp4")})
    assert broken.status_code == 400 and "y.mp4" in broken.json()["error"]["message"]


def test_mjpeg_stream_of_a_server_side_source(detector, val_images, tmp_path):
    video = make_video(val_images[:2], tmp_path / "cam.mp4", frames_each=3)
    c = TestClient(create_app(detector, ServeSettings(source=str(video))))
    with c.stream("GET", "/v1/stream.mjpg") as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("multipart/x-mixed-replace")
        body = b""
        for chunk in res.iter_bytes():
            body += chunk
            if body.count(b"--frame") >= 2:
                break
    first = body.split(b"\r\n\r\n", 1)[1]
    assert first.startswith(b"\xff\xd8")
    assert TestClient(create_app(detector, ServeSettings())).get("/v1/stream.mjpg").status_code == 404


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/detect" in spec["paths"] and "/v1/models/{name_verb}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_metrics_count_each_request_once_with_its_status(detector, val_images):
    c = TestClient(create_app(detector, ServeSettings()))
    b64 = base64.b64encode(val_images[0].read_bytes()).decode()
    assert c.post("/v1/models/maskwatch:predict", json={"instances": [{"b64": b64}, {"b64": b64}]}).status_code == 200
    assert c.post("/v1/detect", content=b"%PDF-1.4").status_code == 415
    assert c.post("/v1/models/maskwatch:predict", json={"instances": [{"b64": "%%"}]}).status_code == 400
    text = c.get("/metrics").text
    assert 'maskwatch_requests_total{route="predict",status="200"} 1.0' in text  # two images, one request
    assert 'maskwatch_requests_total{route="detect",status="415"} 1.0' in text
    assert 'maskwatch_requests_total{route="predict",status="400"} 1.0' in text
    faces = sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("maskwatch_faces_total{")
    )
    assert faces == 2 * len(detector.detect(str(val_images[0])).above(0.3))
