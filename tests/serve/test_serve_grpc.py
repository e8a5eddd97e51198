"""gRPC round trips on a real server bound to a free loopback port."""

import pytest

grpc = pytest.importorskip("grpc", reason="serving needs the [serve] extra")

from maskwatch.serve.grpc_server import create_grpc_server, load_proto  # noqa: E402


@pytest.fixture
def server(detector):
    srv, port = create_grpc_server(detector, 0, api_key="k")
    srv.start()
    yield port
    srv.stop(grace=None)


def test_unary_and_stream(server, detector, val_images):
    pb, services = load_proto()
    with grpc.insecure_channel(f"127.0.0.1:{server}") as channel:
        stub = services.MaskWatchStub(channel)
        md = [("x-api-key", "k")]
        data = val_images[0].read_bytes()
        res = stub.Detect(pb.DetectRequest(image=data, id="a"), metadata=md)
        expected = detector.detect(str(val_images[0])).above(0.3).faces()
        assert res.id == "a" and len(res.faces) == len(expected) > 0
        assert res.faces[0].label == expected[0].label and abs(res.faces[0].x1 - expected[0].box[0]) < 1e-3
        assert len(res.faces[0].landmarks) == 10 and res.model_version == detector.model_version

        frames = [pb.DetectRequest(image=p.read_bytes(), id=str(i)) for i, p in enumerate(val_images[:3])]
        frames.insert(1, pb.DetectRequest(image=b"junk", id="bad"))
        out = list(stub.DetectStream(iter(frames), metadata=md))
        assert [r.id for r in out] == ["0", "bad", "1", "2"]
        assert out[1].error and not out[1].faces and all(r.faces for r in out if r.id != "bad")

        with pytest.raises(grpc.RpcError) as info:
            stub.Detect(pb.DetectRequest(image=b"junk"), metadata=md)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not an image" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            stub.Detect(pb.DetectRequest(image=data))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
