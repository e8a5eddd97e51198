"""``serve --ray``: the maskwatch app as a Ray Serve deployment on loopback, with the API
key, the answers and the 503 of a full inference queue as without Ray."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")
pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
import httpx  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_ray_keeps_routes_key_and_503(ray_local, tmp_path, val_images, detector):
    from ray import serve

    from maskwatch.scale.ray_serve import serve_ray
    from maskwatch.settings import ServeSettings

    port = _free_port()
    settings = ServeSettings.resolve(
        port=port, grpc_port=0, api_key="s3cret", workers=1, queue=0, data_dir=str(tmp_path / "data")
    )
    serve_ray(settings, min_replicas=1, max_replicas=1, target_ongoing_requests=2, blocking=False, num_cpus=0.5)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Ray Serve did not come up"
            time.sleep(0.5)
        image = val_images[0].read_bytes()
        assert httpx.post(base + "/v1/detect", content=image, timeout=30).status_code == 401
        ok = httpx.post(base + "/v1/detect", content=image, headers={"X-API-Key": "s3cret"}, timeout=60)
        assert ok.status_code == 200, ok.text
        want = detector.detect(val_images[0]).above(settings.min_score)
        assert len(ok.json()["faces"]) == len(want)

        # one inference thread, no queue: of 6 requests at once some are turned away with 503
        big = max(val_images[:20], key=lambda p: p.stat().st_size).read_bytes()
        codes, busy = [], []

        def call():
            r = httpx.post(base + "/v1/detect", content=big, headers={"X-API-Key": "s3cret"}, timeout=120)
            codes.append(r.status_code)
            if r.status_code == 503:
                busy.append(r.headers.get("retry-after"))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
        assert all(busy)
        metrics = httpx.get(base + "/metrics", headers={"X-API-Key": "s3cret"}, timeout=10)
        assert metrics.status_code == 200
    finally:
        serve.shutdown()
