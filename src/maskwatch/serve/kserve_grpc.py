"""The Open Inference Protocol (KServe v2) over gRPC, and standard gRPC health checking, added
to an existing ``grpc.Server`` (the one :func:`maskwatch.serve.grpc_server.create_grpc_server`
makes, so the same port, API key interceptor and message size limit apply).

``proto/grpc_service.proto`` is compiled at first use by grpcio-tools into a *private*
descriptor pool: a process that also imports a client's copy of package ``inference``
(``tritonclient.grpc`` does) does not clash with ours. The service's handlers are registered
by name, so no generated code is needed. The model, its tensors and their encodings are the
REST routes' (``serve/routers/kserve.py``)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np

from .. import __version__
from ..defaults import OUTPUT_MIN_SCORE
from ..errors import BadInputError, HttpError, MaskwatchError
from .grpc_server import PROTO_DIR, grpc_status
from .routers.kserve import (
    EXTENSIONS,
    INPUTS,
    MODEL_VERSION,
    ONE_INPUT,
    OUTPUTS,
    PLATFORM,
    check_model,
    image_from_tensor,
    min_score_param,
    output_arrays,
    raw_bytes,
    requested_outputs,
    split_bytes,
)

SERVICE = "inference.GRPCInferenceService"
#: the services grpc.health.v1 reports (besides "", the server as a whole)
HEALTH_SERVICES = ("maskwatch.v1.MaskWatch", SERVICE)

_RPCS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


@functools.lru_cache(maxsize=1)
def load_messages() -> SimpleNamespace:
    """The message classes of ``grpc_service.proto``, by name (``.ModelInferRequest``, ...),
    from a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grpc_service.pb"
        code = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", "grpc_service.proto"])
        if code != 0:
            raise RuntimeError(f"protoc could not compile {PROTO_DIR / 'grpc_service.proto'} (exit {code})")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    names = {n for pair in _RPCS.values() for n in pair} | {"InferParameter", "InferTensorContents"}
    return SimpleNamespace(
        **{n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{n}")) for n in names}
    )


def _param(params, key: str):
    """One ``InferParameter``'s value (bool, int, str or float), or None when absent."""
    if key not in params:
        return None
    which = params[key].WhichOneof("parameter_choice")
    return getattr(params[key], which) if which else None


class KServeServicer:
    """``inference.GRPCInferenceService`` on ``detector``: one model, ``model_name``."""

    def __init__(
        self,
        detector,
        model_name: str = "maskwatch",
        max_bytes: int = 20 * 1024 * 1024,
        min_score: float = OUTPUT_MIN_SCORE,
        max_pixels: int | None = None,
    ):
        self.detector, self.model_name = detector, model_name
        self.max_bytes, self.min_score, self.max_pixels = max_bytes, min_score, max_pixels
        self.m = load_messages()

    # -- health and metadata ------------------------------------------------------------------
    def ServerLive(self, request, context):  # noqa: N802 - gRPC method names
        return self.m.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):  # noqa: N802
        return self.m.ServerReadyResponse(ready=self.detector is not None)

    def ModelReady(self, request, context):  # noqa: N802
        def answer():
            check_model(request.name, request.version, self.model_name)
            return self.m.ModelReadyResponse(ready=self.detector is not None)

        return self._call(context, answer)

    def ServerMetadata(self, request, context):  # noqa: N802
        return self.m.ServerMetadataResponse(name="maskwatch", version=__version__, extensions=EXTENSIONS)

    def ModelMetadata(self, request, context):  # noqa: N802
        def answer():
            check_model(request.name, request.version, self.model_name)
            response = self.m.ModelMetadataResponse(name=request.name, versions=[MODEL_VERSION], platform=PLATFORM)
            for field, tensors in (("inputs", INPUTS), ("outputs", OUTPUTS)):
                for name, (dtype, shape) in tensors.items():
                    getattr(response, field).add(name=name, datatype=dtype, shape=shape)
            return response

        return self._call(context, answer)

    # -- inference ------------------------------------------------------------------------
    def ModelInfer(self, request, context):  # noqa: N802
        return self._call(context, lambda: self._infer(request))

    def _infer(self, request):
        check_model(request.model_name, request.model_version, self.model_name)
        if len(request.inputs) != 1:
            raise HttpError(400, ONE_INPUT)
        tensor = request.inputs[0]
        what = f"input {tensor.name!r}"
        elements = values = None
        if request.raw_input_contents:
            raw = request.raw_input_contents[0]
            if tensor.datatype == "BYTES":
                elements = split_bytes(raw, what)
            elif tensor.datatype == "UINT8":
                values = np.frombuffer(raw, np.uint8)
        elif tensor.datatype == "BYTES":
            elements = list(tensor.contents.bytes_contents)
        elif tensor.datatype == "UINT8":
            ints = np.asarray(tensor.contents.uint_contents, np.int64)
            if ints.size and ints.max() > 255:
                raise BadInputError(what, "UINT8 data must be integers 0-255")
            values = ints.astype(np.uint8)
        color = _param(tensor.parameters, "color_format")
        image = image_from_tensor(
            tensor.name,
            tensor.datatype,
            list(tensor.shape),
            elements=elements,
            values=values,
            color_format="RGB" if color is None else color,
            max_pixels=self.max_pixels,
            max_bytes=self.max_bytes,
        )
        min_score = min_score_param(_param(request.parameters, "min_score"))
        dets = self.detector.detect(image).above(self.min_score if min_score is None else min_score)
        arrays = output_arrays(dets)
        response = self.m.ModelInferResponse(model_name=request.model_name, model_version=MODEL_VERSION, id=request.id)
        for name in requested_outputs(list(request.outputs)):
            array = arrays[name]
            response.outputs.add(name=name, datatype=OUTPUTS[name][0], shape=list(array.shape))
            response.raw_output_contents.append(raw_bytes(name, array))
        return response

    def _call(self, context, fn):
        try:
            return fn()
        except MaskwatchError as exc:
            context.abort(grpc_status(exc), str(exc))

    def handlers(self) -> grpc.GenericRpcHandler:
        """The service's method handlers, for ``server.add_generic_rpc_handlers``."""
        m = self.m
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                rpc: grpc.unary_unary_rpc_method_handler(
                    getattr(self, rpc),
                    request_deserializer=getattr(m, req).FromString,
                    response_serializer=getattr(m, resp).SerializeToString,
                )
                for rpc, (req, resp) in _RPCS.items()
            },
        )


def add_kserve_servicer(
    server: grpc.Server,
    detector,
    model_name: str = "maskwatch",
    max_bytes: int = 20 * 1024 * 1024,
    min_score: float = OUTPUT_MIN_SCORE,
    max_pixels: int | None = None,
) -> KServeServicer:
    """Serve ``inference.GRPCInferenceService`` on ``server`` (before it starts)."""
    servicer = KServeServicer(detector, model_name, max_bytes, min_score, max_pixels)
    server.add_generic_rpc_handlers((servicer.handlers(),))
    return servicer


def add_health(server: grpc.Server, services: tuple[str, ...] = HEALTH_SERVICES):
    """Standard ``grpc.health.v1.Health`` on ``server``: SERVING for the server as a whole ("")
    and for each of ``services``, so load balancers and Kubernetes' ``grpc`` probes work.
    Returns the health servicer (``.set(service, status)`` to change a status, e.g. to
    NOT_SERVING while shutting down)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for service in ("", *services):
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return servicer
