"""gRPC server for ``proto/maskwatch.proto``. The proto is compiled at start-up by
grpcio-tools (``grpc.protos_and_services``), so no generated code is kept in the repository."""

from __future__ import annotations

import importlib.resources
import secrets
import sys
from concurrent import futures
from pathlib import Path

import grpc

from ..defaults import OUTPUT_MIN_SCORE
from ..detections import Detections
from ..errors import BadInputError, ConfigError, HttpError, MaskwatchError
from ..images import decode_image

PROTO_DIR = Path(str(importlib.resources.files("maskwatch.serve") / "proto"))


def load_proto():
    """(messages module, services module) for maskwatch.proto."""
    if str(PROTO_DIR) not in sys.path:
        sys.path.insert(0, str(PROTO_DIR))
    return grpc.protos_and_services("maskwatch.proto")


def grpc_status(exc: MaskwatchError) -> grpc.StatusCode:
    """The gRPC status of an error, as the HTTP routes give it a status code: too large,
    not found, a client's mistake, or ours."""
    status = exc.http_status
    if status == 413:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, HttpError) and status == 404:
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, BadInputError) or 400 <= status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


def detect_response(pb, dets: Detections, request_id: str, width: int, height: int, model_version: str):
    """The ``DetectResponse`` of one image's faces (landmarks flattened to x, y, x, y, ...)."""
    faces = [
        pb.Face(x1=x1, y1=y1, x2=x2, y2=y2, label=label, score=score, landmarks=[v for p in marks for v in p])
        for (x1, y1, x2, y2), label, score, marks in zip(
            dets.xyxy.tolist(), dets.labels, dets.confidence.tolist(), dets.landmarks.tolist()
        )
    ]
    return pb.DetectResponse(id=request_id, width=width, height=height, faces=faces, model_version=model_version)


def _response(pb, detector, request, max_bytes: int, min_score: float, max_pixels: int | None):
    if len(request.image) > max_bytes:
        return pb.DetectResponse(
            id=request.id, error=f"image exceeds {max_bytes:,} bytes"
        ), grpc.StatusCode.RESOURCE_EXHAUSTED
    try:
        image = decode_image(request.image, request.id or "image", max_pixels)
    except BadInputError as exc:
        return pb.DetectResponse(id=request.id, error=str(exc)), grpc_status(exc)
    dets = detector.detect(image).above(request.min_score or min_score)
    return detect_response(pb, dets, request.id, image.shape[1], image.shape[0], detector.model_version), None


class _Auth(grpc.ServerInterceptor):
    def __init__(self, key: str):
        self.key = key

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key (metadata x-api-key)")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(lambda it, context: deny(None, context))

    def intercept_service(self, continuation, details):
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)  # probes and load balancers send no metadata
        given = dict(details.invocation_metadata or ()).get("x-api-key")
        if isinstance(given, str) and secrets.compare_digest(given.encode(), self.key.encode()):
            return continuation(details)
        return self._deny_stream if details.method.endswith("DetectStream") else self._deny


def create_grpc_server(
    detector,
    port: int = 50051,
    host: str = "127.0.0.1",
    workers: int = 4,
    api_key: str | None = None,
    max_bytes: int = 20 * 1024 * 1024,
    min_score: float = OUTPUT_MIN_SCORE,
    max_pixels: int | None = None,
    model_name: str = "maskwatch",
) -> tuple[grpc.Server, int]:
    """A started-later server and the port it bound (pass 0 for any free port). A request's
    ``min_score`` (when not 0) overrides ``min_score``.

    Raises:
        ConfigError: the port is taken (bound exclusively, never shared) or cannot be bound.
    """
    pb, services = load_proto()

    class Servicer(services.MaskWatchServicer):
        def Detect(self, request, context):  # noqa: N802 - gRPC method names
            response, status = _response(pb, detector, request, max_bytes, min_score, max_pixels)
            if status is not None:
                context.abort(status, response.error)
            return response

        def DetectStream(self, request_iterator, context):  # noqa: N802
            for request in request_iterator:
                # a bad frame does not end the stream
                response, _ = _response(pb, detector, request, max_bytes, min_score, max_pixels)
                yield response

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        interceptors=[_Auth(api_key)] if api_key else [],
        options=[
            ("grpc.max_receive_message_length", max_bytes + 1024),
            # bind exclusively: with gRPC's default SO_REUSEPORT a second server on the same
            # port silently shares its calls (a keyless one answering calls meant for a keyed one)
            ("grpc.so_reuseport", 0),
        ],
    )
    services.add_MaskWatchServicer_to_server(Servicer(), server)
    from .kserve_grpc import add_health, add_kserve_servicer  # KServe v2 and grpc.health.v1, same port

    add_kserve_servicer(server, detector, model_name, max_bytes=max_bytes, min_score=min_score, max_pixels=max_pixels)
    add_health(server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        server.stop(None)
        raise ConfigError(
            f"grpc_port: cannot listen on {host}:{port} for gRPC: the port is in use (another `maskwatch serve`?) "
            "or not allowed; choose another with --grpc-port, or --grpc-port 0 for no gRPC"
        )
    return server, bound
