"""`maskwatch serve` as users start it: a real process, HTTP and gRPC on loopback, key from the env."""

import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
import httpx  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_starts_answers_and_stops(val_images):
    import grpc

    from maskwatch.serve.grpc_server import load_proto

    port, grpc_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "maskwatch.cli", "serve", "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MASKWATCH_API_KEY": "k"},
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("server did not become ready")
        data = val_images[0].read_bytes()
        assert httpx.post(base + "/v1/detect", content=data).status_code == 401
        res = httpx.post(base + "/v1/detect", content=data, headers={"X-API-Key": "k"}, timeout=30)
        assert res.status_code == 200 and res.json()["faces"]
        assert "maskwatch" in httpx.get(base + "/").text
        pb, services = load_proto()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            out = services.MaskWatchStub(channel).Detect(
                pb.DetectRequest(image=data), metadata=[("x-api-key", "k")], timeout=30
            )
        assert len(out.faces) == len(res.json()["faces"])
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode in (0, -15)
