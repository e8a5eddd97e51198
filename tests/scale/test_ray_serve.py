"""``serve --ray``: the maskwatch app as a Ray Serve deployment on loopback, with the API
key, the answers and the 503 of a full inference queue as without Ray, and gRPC answered by
the replicas."""

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

    port, grpc_port = _free_port(), _free_port()
    settings = ServeSettings.resolve(
        port=port, grpc_port=grpc_port, api_key="s3cret", workers=1, queue=0, data_dir=str(tmp_path / "data")
    )
    _, grpc_server = serve_ray(
        settings, min_replicas=1, max_replicas=1, target_ongoing_requests=2, blocking=False, num_cpus=0.5
    )
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
        _grpc_answers_as_the_plain_server(grpc_port, image, want, detector.model_version)
    finally:
        grpc_server.stop(grace=None)
        serve.shutdown()


def _grpc_answers_as_the_plain_server(port, image, want, version):
    """The driver's gRPC front: the key, the faces a replica finds, a bad image's status."""
    grpc = pytest.importorskip("grpc", reason="gRPC needs the [serve] extra")
    from maskwatch.serve.grpc_server import load_proto

    pb, services = load_proto()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = services.MaskWatchStub(channel)
        md = [("x-api-key", "s3cret")]
        res = stub.Detect(pb.DetectRequest(image=image, id="a"), metadata=md, timeout=60)
        assert res.id == "a" and res.model_version == version
        assert [(f.label, round(f.x1, 2)) for f in res.faces] == [(f.label, round(f.box[0], 2)) for f in want.faces()]
        with pytest.raises(grpc.RpcError) as info:
            stub.Detect(pb.DetectRequest(image=b"junk"), metadata=md, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not an image" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            stub.Detect(pb.DetectRequest(image=image), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
