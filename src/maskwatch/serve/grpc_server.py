"""gRPC server for ``proto/maskwatch.proto``. The proto is compiled at start-up by
grpcio-tools (``grpc.protos_and_services``), so no generated code is kept in the repository."""

from __future__ import annotations

import importlib.resources
import secrets
import sys
from concurrent import futures
from pathlib import Path

import grpc

from ..errors import BadInputError, ImageTooLargeError
from ..images import decode_image

PROTO_DIR = Path(str(importlib.resources.files("maskwatch.serve") / "proto"))


def load_proto():
    """(messages module, services module) for maskwatch.proto."""
    if str(PROTO_DIR) not in sys.path:
        sys.path.insert(0, str(PROTO_DIR))
    return grpc.protos_and_services("maskwatch.proto")


def _response(pb, detector, request, max_bytes: int):
    if len(request.image) > max_bytes:
        return pb.DetectResponse(
            id=request.id, error=f"image exceeds {max_bytes:,} bytes"
        ), grpc.StatusCode.RESOURCE_EXHAUSTED
    try:
        image = decode_image(request.image, request.id or "image")
    except ImageTooLargeError as exc:
        return pb.DetectResponse(id=request.id, error=str(exc)), grpc.StatusCode.RESOURCE_EXHAUSTED
    except BadInputError as exc:
        return pb.DetectResponse(id=request.id, error=str(exc)), grpc.StatusCode.INVALID_ARGUMENT
    faces = detector.detect(image, request.min_score or None)
    out = [
        pb.Face(
            x1=f.box[0],
            y1=f.box[1],
            x2=f.box[2],
            y2=f.box[3],
            label=f.label,
            score=f.score,
            landmarks=[v for point in (f.landmarks or ()) for v in point],
        )
        for f in faces
    ]
    return pb.DetectResponse(
        id=request.id, width=image.shape[1], height=image.shape[0], faces=out, model_version=detector.model_version
    ), None


class _Auth(grpc.ServerInterceptor):
    def __init__(self, key: str):
        self.key = key

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key (metadata x-api-key)")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(lambda it, context: deny(None, context))

    def intercept_service(self, continuation, details):
        given = dict(details.invocation_metadata or ()).get("x-api-key")
        if given is not None and secrets.compare_digest(given, self.key):
            return continuation(details)
        return self._deny_stream if details.method.endswith("DetectStream") else self._deny


def create_grpc_server(
    detector,
    port: int = 50051,
    host: str = "127.0.0.1",
    workers: int = 4,
    api_key: str | None = None,
    max_bytes: int = 20 * 1024 * 1024,
) -> tuple[grpc.Server, int]:
    """A started-later server and the port it bound (pass 0 for any free port)."""
    pb, services = load_proto()

    class Servicer(services.MaskWatchServicer):
        def Detect(self, request, context):  # noqa: N802 - gRPC method names
            response, status = _response(pb, detector, request, max_bytes)
            if status is not None:
                context.abort(status, response.error)
            return response

        def DetectStream(self, request_iterator, context):  # noqa: N802
            for request in request_iterator:
                response, _ = _response(pb, detector, request, max_bytes)  # a bad frame does not end the stream
                yield response

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        interceptors=[_Auth(api_key)] if api_key else [],
        options=[("grpc.max_receive_message_length", max_bytes + 1024)],
    )
    services.add_MaskWatchServicer_to_server(Servicer(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound
