"""The Open Inference Protocol (KServe v2) over HTTP and gRPC, called with the real client users
have (``tritonclient``), on real servers bound to free loopback ports, with the real model on
real andrewmvd images; and grpc.health.v1 health checking."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
grpc = pytest.importorskip("grpc", reason="serving needs the [serve] extra")
pytest.importorskip("grpc_health", reason="gRPC health checking needs the [serve] extra (grpcio-health-checking)")
httpclient = pytest.importorskip("tritonclient.http", reason="the OIP tests need tritonclient[http,grpc] ([dev] extra)")
grpcclient = pytest.importorskip("tritonclient.grpc", reason="the OIP tests need tritonclient[http,grpc] ([dev] extra)")
import httpx  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from servers import serving  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from maskwatch.labels import LABELS  # noqa: E402
from maskwatch.serve.app import create_app  # noqa: E402
from maskwatch.serve.grpc_server import create_grpc_server  # noqa: E402
from maskwatch.settings import ServeSettings  # noqa: E402

KEY = "s3cret"


def _auth() -> dict:
    """The key header, a fresh dict per call: tritonclient.http writes its
    Inference-Header-Content-Length into the ``headers`` dict it is given."""
    return {"x-api-key": KEY}


OUTPUT_SHAPES = {
    "boxes": ("FP32", [-1, 4]),
    "scores": ("FP32", [-1]),
    "classes": ("INT32", [-1]),
    "labels": ("BYTES", [-1]),
    "landmarks": ("FP32", [-1, 5, 2]),
    "count": ("INT32", [1]),
}


@pytest.fixture(scope="module")
def http_port(detector):
    with serving(create_app(detector, ServeSettings(api_key=KEY, max_upload_mb=3))) as base:
        yield urlsplit(base).port


@pytest.fixture(scope="module")
def grpc_port(detector):
    server, port = create_grpc_server(detector, 0, api_key=KEY)
    server.start()
    yield port
    server.stop(grace=None)


@pytest.fixture(scope="module")
def expected(detector, val_images):
    """What the detector itself finds on the image, above the servers' default min_score."""
    return detector.detect(str(val_images[0])).above(0.3)


def _check_outputs(result, dets):
    n = len(dets)
    assert n > 0
    assert result.as_numpy("count").tolist() == [n]
    np.testing.assert_allclose(result.as_numpy("boxes"), dets.xyxy, atol=1e-3)
    np.testing.assert_allclose(result.as_numpy("scores"), dets.confidence, atol=1e-5)
    assert result.as_numpy("classes").tolist() == dets.class_id.tolist()
    assert [b.decode() for b in result.as_numpy("labels")] == dets.labels
    assert [LABELS[k] for k in result.as_numpy("classes")] == dets.labels
    assert result.as_numpy("landmarks").shape == (n, 5, 2)
    np.testing.assert_allclose(result.as_numpy("landmarks"), dets.landmarks, atol=1e-3)


def _bytes_input(module, data: bytes, binary: bool = True):
    inp = module.InferInput("image_bytes", [1], "BYTES")
    if binary:
        inp.set_data_from_numpy(np.array([data], dtype=object))
    else:  # JSON: the encoded image as a base64 string
        inp.set_data_from_numpy(np.array([base64.b64encode(data)], dtype=object), binary_data=False)
    return inp


# --- HTTP ---------------------------------------------------------------------------------------
def test_http_infer_with_tritonclient(http_port, val_images, expected):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{http_port}")
    data = val_images[0].read_bytes()

    # binary tensor data (tritonclient's default): the encoded image in, every output back
    result = client.infer("maskwatch", [_bytes_input(httpclient, data)], headers=_auth())
    _check_outputs(result, expected)

    # JSON: base64 in, the outputs asked for as JSON data, with a request id
    outputs = [httpclient.InferRequestedOutput(n, binary_data=False) for n in ("labels", "boxes", "count")]
    result = client.infer(
        "maskwatch", [_bytes_input(httpclient, data, binary=False)], outputs=outputs, request_id="r1", headers=_auth()
    )
    answer = result.get_response()
    assert answer["id"] == "r1" and [o["name"] for o in answer["outputs"]] == ["labels", "boxes", "count"]
    assert all("data" in o for o in answer["outputs"])
    assert [b.decode() if isinstance(b, bytes) else b for b in result.as_numpy("labels")] == expected.labels
    np.testing.assert_allclose(result.as_numpy("boxes"), expected.xyxy, atol=1e-3)

    # a decoded image: UINT8 [H, W, 3], RGB
    rgb = cv2.cvtColor(cv2.imread(str(val_images[0])), cv2.COLOR_BGR2RGB)
    inp = httpclient.InferInput("image", list(rgb.shape), "UINT8")
    inp.set_data_from_numpy(rgb)
    _check_outputs(client.infer("maskwatch", [inp], headers=_auth()), expected)

    # a gzip-compressed request, on the versioned route
    result = client.infer(
        "maskwatch",
        [_bytes_input(httpclient, data)],
        model_version="1",
        request_compression_algorithm="gzip",
        headers=_auth(),
    )
    _check_outputs(result, expected)

    # min_score as a request parameter
    result = client.infer(
        "maskwatch", [_bytes_input(httpclient, data)], parameters={"min_score": "0.99"}, headers=_auth()
    )
    assert result.as_numpy("count").tolist() == [int((expected.confidence >= 0.99).sum())]


def test_http_server_and_model_metadata(http_port):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{http_port}")
    # health: no key needed (probes)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("maskwatch")
    assert not client.is_model_ready("other")
    server = client.get_server_metadata(headers=_auth())
    assert server["name"] == "maskwatch" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("maskwatch", headers=_auth())
    assert meta["name"] == "maskwatch" and meta["versions"] == ["1"]
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == OUTPUT_SHAPES
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"image_bytes": "BYTES", "image": "UINT8"}
    assert meta["labels"] == list(LABELS)
    assert client.get_model_metadata("maskwatch", "1", headers=_auth())["name"] == "maskwatch"


def test_http_key_and_client_errors(http_port, val_images):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{http_port}")
    data = val_images[0].read_bytes()
    with pytest.raises(InferenceServerException) as info:
        client.infer("maskwatch", [_bytes_input(httpclient, data)])
    assert info.value.status() == "401" and "API key" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("maskwatch")
    assert info.value.status() == "401"
    with pytest.raises(InferenceServerException) as info:
        client.infer("maskwatch", [_bytes_input(httpclient, b"%PDF-1.4 not an image")], headers=_auth())
    assert info.value.status() == "415" and "not an image" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        client.infer("other", [_bytes_input(httpclient, data)], headers=_auth())
    assert info.value.status() == "404"
    with pytest.raises(InferenceServerException) as info:
        client.infer(
            "maskwatch",
            [_bytes_input(httpclient, data)],
            outputs=[httpclient.InferRequestedOutput("nope")],
            headers=_auth(),
        )
    assert info.value.status() == "400" and "nope" in info.value.message()

    # plain requests: errors are the protocol's {"error": "<message>"}, JSON with or without Content-Type
    base = f"http://127.0.0.1:{http_port}/v2/models/maskwatch/infer"
    res = httpx.post(base, content=json.dumps({"inputs": []}), headers=_auth())
    assert res.status_code == 400 and isinstance(res.json()["error"], str)
    res = httpx.post(base, content=b"{not json", headers=_auth())
    assert res.status_code == 400 and "not JSON" in res.json()["error"]
    res = httpx.post(base, json={"inputs": []})
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
    body = {"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]}
    res = httpx.post(base, json=body, headers=_auth())
    assert res.status_code == 400 and "one image per request" in res.json()["error"]
    body = {"inputs": [{"name": "image", "datatype": "UINT8", "shape": [2, 2, 3], "data": [1, 2, 3]}]}
    res = httpx.post(base, json=body, headers=_auth())
    assert res.status_code == 400 and "needs 12 values" in res.json()["error"]
    b64 = base64.b64encode(data).decode()
    body = {"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [1], "data": [b64]}]}
    res = httpx.post(base, content=json.dumps(body), headers={**_auth(), "Content-Type": "text/plain"})
    assert res.status_code == 200 and res.json()["outputs"][-1] == {
        "name": "count",
        "datatype": "INT32",
        "shape": [1],
        "data": [res.json()["outputs"][0]["shape"][0]],
    }
    res = httpx.post(base.replace("/infer", "/versions/2/infer"), json=body, headers=_auth())
    assert res.status_code == 404 and "version" in res.json()["error"]
    big = {"inputs": [{"name": "image", "datatype": "UINT8", "shape": [20000, 20000, 3], "data": [0]}]}
    res = httpx.post(base, json=big, headers=_auth())
    assert res.status_code == 413


# --- gRPC ---------------------------------------------------------------------------------------
def test_grpc_infer_with_tritonclient(grpc_port, val_images, expected):
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    data = val_images[0].read_bytes()
    result = client.infer("maskwatch", [_bytes_input(grpcclient, data)], request_id="g1", headers=_auth())
    _check_outputs(result, expected)
    assert result.get_response().id == "g1"

    rgb = cv2.cvtColor(cv2.imread(str(val_images[0])), cv2.COLOR_BGR2RGB)
    inp = grpcclient.InferInput("image", list(rgb.shape), "UINT8")
    inp.set_data_from_numpy(rgb)
    outputs = [grpcclient.InferRequestedOutput("boxes"), grpcclient.InferRequestedOutput("labels")]
    result = client.infer("maskwatch", [inp], outputs=outputs, headers=_auth())
    assert [o.name for o in result.get_response().outputs] == ["boxes", "labels"]
    np.testing.assert_allclose(result.as_numpy("boxes"), expected.xyxy, atol=1e-3)
    assert [b.decode() for b in result.as_numpy("labels")] == expected.labels

    result = client.infer(
        "maskwatch", [_bytes_input(grpcclient, data)], parameters={"min_score": "0.99"}, headers=_auth()
    )
    assert result.as_numpy("count").tolist() == [int((expected.confidence >= 0.99).sum())]


def test_grpc_metadata_key_and_errors(grpc_port, val_images):
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    assert client.is_server_live(headers=_auth()) and client.is_server_ready(headers=_auth())
    assert client.is_model_ready("maskwatch", headers=_auth())
    server = client.get_server_metadata(headers=_auth(), as_json=True)
    assert server["name"] == "maskwatch" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("maskwatch", headers=_auth(), as_json=True)
    assert meta["versions"] == ["1"]
    # as_json gives int64 shapes as strings (protobuf's JSON mapping)
    assert {o["name"]: (o["datatype"], [int(d) for d in o["shape"]]) for o in meta["outputs"]} == OUTPUT_SHAPES

    data = val_images[0].read_bytes()
    with pytest.raises(InferenceServerException) as info:
        client.infer("maskwatch", [_bytes_input(grpcclient, data)])
    assert info.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException) as info:
        client.infer("maskwatch", [_bytes_input(grpcclient, b"junk")], headers=_auth())
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT" and "not an image" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("other", headers=_auth())
    assert info.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as info:
        client.is_model_ready("other", headers=_auth())
    assert info.value.status() == "StatusCode.NOT_FOUND"


def _health(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_grpc_health_serving(detector):
    server, port = create_grpc_server(detector, 0)
    server.start()
    try:
        for service in ("", "inference.GRPCInferenceService", "maskwatch.v1.MaskWatch"):
            assert _health(port, service) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            _health(port, "no.such.Service")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop(grace=None)


def test_grpc_health_needs_no_key(grpc_port):
    assert _health(grpc_port) == health_pb2.HealthCheckResponse.SERVING
