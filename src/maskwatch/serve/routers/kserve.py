"""Open Inference Protocol (KServe v2) REST routes: the protocol Triton, KServe and Seldon speak,
so their clients (``tritonclient``, KServe's and Seldon's SDKs) call maskwatch unchanged.

One model, ``settings.model_name`` (``maskwatch``), version ``1``. Its inputs (send exactly one):

- ``image_bytes``: ``BYTES [1]``, the encoded image (JPEG, PNG, ...). In JSON ``data`` the
  element is a base64 string (or the raw bytes as a Latin-1 string); with the binary tensor
  data extension (``Inference-Header-Content-Length``, what ``tritonclient`` sends by default)
  it is the length-prefixed raw bytes.
- ``image``: ``UINT8 [H, W, 3]`` (or ``[1, H, W, 3]``), a decoded image, RGB unless the tensor's
  ``parameters`` say ``{"color_format": "BGR"}``.

Its outputs, for the N faces above ``min_score`` (a request parameter, else the server's):
``boxes`` FP32 [N, 4] (x1, y1, x2, y2 in pixels), ``scores`` FP32 [N], ``classes`` INT32 [N]
(index into ``labels``: with_mask, without_mask, mask_incorrect), ``labels`` BYTES [N],
``landmarks`` FP32 [N, 5, 2] and ``count`` INT32 [1].

Errors are ``{"error": "<message>"}`` as the protocol says, with the status maskwatch gives
elsewhere (400, 401, 404, 413, 415, 503). Health routes need no API key; the others do.
The tensor helpers here are shared with the gRPC service (``serve/kserve_grpc.py``)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
import zlib

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ... import __version__
from ...detections import N_LANDMARKS, Detections
from ...errors import BadInputError, HttpError, ImageTooLargeError, MaskwatchError
from ...images import decode_image
from ...labels import LABELS
from ..deps import AUTH, infer

MODEL_VERSION = "1"
PLATFORM = "maskwatch"
#: the binary tensor data extension (Triton's name for it)
EXTENSIONS = ["binary_tensor_data"]

#: name -> (datatype, shape); -1 is a variable dimension
INPUTS: dict[str, tuple[str, list[int]]] = {
    "image_bytes": ("BYTES", [1]),
    "image": ("UINT8", [-1, -1, 3]),
}
OUTPUTS: dict[str, tuple[str, list[int]]] = {
    "boxes": ("FP32", [-1, 4]),
    "scores": ("FP32", [-1]),
    "classes": ("INT32", [-1]),
    "labels": ("BYTES", [-1]),
    "landmarks": ("FP32", [-1, N_LANDMARKS, 2]),
    "count": ("INT32", [1]),
}
NUMPY = {"FP32": np.float32, "INT32": np.int32, "UINT8": np.uint8}
ONE_INPUT = "send one input: image_bytes (BYTES [1], an encoded image) or image (UINT8 [H, W, 3])"


# --- the protocol, shared with gRPC ----------------------------------------------------------
def tensor_metadata(tensors: dict[str, tuple[str, list[int]]]) -> list[dict]:
    return [{"name": name, "datatype": dtype, "shape": shape} for name, (dtype, shape) in tensors.items()]


def model_metadata(name: str) -> dict:
    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "inputs": tensor_metadata(INPUTS),
        "outputs": tensor_metadata(OUTPUTS),
    }


def check_model(name: str, version: str | None, model_name: str) -> None:
    """404 unless ``name`` (and ``version``, when given) is the served model."""
    if name != model_name:
        raise HttpError(404, f"unknown model {name!r}: this server serves {model_name!r}")
    if version not in (None, "", MODEL_VERSION):
        raise HttpError(404, f"unknown version {version!r} of model {name!r}: the only version is {MODEL_VERSION!r}")


def split_bytes(raw: bytes, what: str) -> list[bytes]:
    """The elements of a BYTES tensor in the binary form: each a 4-byte little-endian length,
    then that many bytes."""
    out, i = [], 0
    while i < len(raw):
        if i + 4 > len(raw):
            raise BadInputError(what, "BYTES tensor data ends inside an element's 4-byte length")
        (n,) = struct.unpack_from("<I", raw, i)
        i += 4
        if i + n > len(raw):
            raise BadInputError(what, f"BYTES element of {n:,} bytes runs past the end of the data")
        out.append(raw[i : i + n])
        i += n
    return out


def join_bytes(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def _flatten(data) -> list:
    """JSON ``data``, flat or nested (row-major), as one flat list."""
    if not isinstance(data, list):
        return [data]
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _bytes_element(item, what: str) -> bytes:
    """One BYTES element sent as a JSON string: base64 (the usual way to send an image in
    JSON), else the raw bytes as a Latin-1 string."""
    if not isinstance(item, str):
        raise BadInputError(what, "a BYTES element in JSON must be a string (base64 of the encoded image)")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return item.encode("latin-1")
    except UnicodeEncodeError:
        return item.encode("utf-8")


def _shape(shape, what: str) -> list[int]:
    if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadInputError(what, f"shape must be a list of non-negative integers, not {shape!r}")
    return [int(d) for d in shape]


def image_from_tensor(
    name: str,
    datatype: str,
    shape,
    *,
    elements: list[bytes] | None = None,
    values: np.ndarray | None = None,
    color_format: str = "RGB",
    max_pixels: int | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """The BGR image one input tensor carries: ``elements`` for BYTES (the encoded image),
    ``values`` (flat uint8) for UINT8. Raises :class:`BadInputError` (400), or its 413/415
    kinds, saying what is wrong."""
    what = f"input {name!r}"
    if name not in INPUTS:
        raise BadInputError(what, f"unknown input; {ONE_INPUT}")
    expected = INPUTS[name][0]
    if datatype != expected:
        raise BadInputError(what, f"datatype must be {expected}, not {datatype!r}")
    dims = _shape(shape, what)
    if datatype == "BYTES":
        if math.prod(dims) != 1 or elements is None or len(elements) != 1:
            raise BadInputError(what, f"one image per request: shape [1] and one element (got shape {dims})")
        data = elements[0]
        if max_bytes is not None and len(data) > max_bytes:
            raise ImageTooLargeError(what, f"image exceeds {max_bytes:,} bytes")
        return decode_image(data, what, max_pixels)
    if len(dims) == 4 and dims[0] == 1:
        dims = dims[1:]
    if len(dims) != 3 or dims[2] != 3 or dims[0] == 0 or dims[1] == 0:
        raise BadInputError(what, f"shape must be [H, W, 3] (or [1, H, W, 3]), not {list(shape)}")
    height, width = dims[0], dims[1]
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            what, f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}"
        )
    if values is None or values.size != height * width * 3:
        got = 0 if values is None else values.size
        raise BadInputError(what, f"shape {dims} needs {height * width * 3:,} values, got {got:,}")
    image = values.reshape(height, width, 3)
    fmt = str(color_format).upper()
    if fmt not in ("RGB", "BGR"):
        raise BadInputError(what, f'color_format must be "RGB" or "BGR", not {color_format!r}')
    return np.ascontiguousarray(image[:, :, ::-1]) if fmt == "RGB" else image.copy()


def uint8_values(data, what: str) -> np.ndarray:
    """UINT8 JSON ``data`` (flat or nested numbers 0-255) as a flat uint8 array."""
    flat = _flatten(data)
    try:
        arr = np.asarray(flat, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(what, "UINT8 data must be integers 0-255") from None
    if arr.ndim != 1 or (arr.size and (arr.min() < 0 or arr.max() > 255)):
        raise BadInputError(what, "UINT8 data must be integers 0-255")
    return arr.astype(np.uint8)


def output_arrays(dets: Detections) -> dict[str, np.ndarray]:
    """The model's outputs for one image's faces, in :data:`OUTPUTS` order and types."""
    n = len(dets)
    return {
        "boxes": np.asarray(dets.xyxy, np.float32).reshape(n, 4),
        "scores": np.asarray(dets.confidence, np.float32).reshape(n),
        "classes": np.asarray(dets.class_id, np.int32).reshape(n),
        "labels": np.array([label.encode() for label in dets.labels], dtype=object).reshape(n),
        "landmarks": np.asarray(dets.landmarks, np.float32).reshape(n, N_LANDMARKS, 2),
        "count": np.array([n], np.int32),
    }


def raw_bytes(name: str, array: np.ndarray) -> bytes:
    """An output's binary form: little-endian values, or length-prefixed elements for BYTES."""
    if OUTPUTS[name][0] == "BYTES":
        return join_bytes(list(array.reshape(-1)))
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def requested_outputs(requested, what: str = "outputs") -> list[str]:
    """Names of the outputs asked for (all when none are named)."""
    if not requested:
        return list(OUTPUTS)
    names = []
    for item in requested:
        name = item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
        if name not in OUTPUTS:
            raise BadInputError(what, f"unknown output {name!r}; the outputs are {', '.join(OUTPUTS)}")
        names.append(name)
    return names


def min_score_param(value, what: str = "parameters.min_score") -> float | None:
    if value is None:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise BadInputError(what, f"must be a number in [0, 1], not {value!r}") from None
    if not 0 <= score <= 1:
        raise BadInputError(what, f"must be a number in [0, 1], not {value!r}")
    return score


# --- REST ------------------------------------------------------------------------------------
class OipRoute(APIRoute):
    """Errors as the protocol gives them, ``{"error": "<message>"}`` (tritonclient and KServe's
    clients read that field), with maskwatch's status codes and headers (401's
    WWW-Authenticate, 503's Retry-After); the API key dependency's error included."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def oip_handler(request: Request):
            try:
                return await handler(request)
            except MaskwatchError as exc:
                return JSONResponse({"error": str(exc)}, exc.http_status, headers=getattr(exc, "headers", None) or {})
            except StarletteHTTPException as exc:
                return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

        return oip_handler


#: health: no key, so that probes (KServe's, Kubernetes') work
health = APIRouter(tags=["Open Inference Protocol (KServe v2)"], route_class=OipRoute)
#: everything else: the API key
api = APIRouter(dependencies=AUTH, tags=["Open Inference Protocol (KServe v2)"], route_class=OipRoute)


def _version(request: Request) -> str | None:
    """The ``/versions/{version}`` of a versioned route (None on the unversioned one)."""
    return request.path_params.get("version")


def _ready(request: Request) -> bool:
    return getattr(request.app.state, "detector", None) is not None


def _health(ok: bool, key: str) -> JSONResponse:
    # the protocol: 200 means true, a 4xx false
    return JSONResponse({key: ok}, 200 if ok else 400)


@health.get("/v2/health/live")
async def server_live():
    """The server is live."""
    return {"live": True}


@health.get("/v2/health/ready")
async def server_ready(request: Request):
    """The server is ready: the model is loaded."""
    return _health(_ready(request), "ready")


@health.get("/v2/models/{name}/ready")
@health.get("/v2/models/{name}/versions/{version}/ready")
async def model_ready(request: Request, name: str):
    """The model is ready (404 for a model this server does not serve)."""
    check_model(name, _version(request), request.app.state.settings.model_name)
    return _health(_ready(request), "ready")


@api.get("/v2")
async def server_metadata():
    """Server name, version and the protocol extensions it speaks."""
    return {"name": "maskwatch", "version": __version__, "extensions": EXTENSIONS}


@api.get("/v2/models/{name}")
@api.get("/v2/models/{name}/versions/{version}")
async def get_model_metadata(request: Request, name: str):
    """Model metadata: inputs and outputs with their datatypes and shapes (-1: variable),
    plus ``labels`` (what ``classes`` index) and maskwatch's model version."""
    state = request.app.state
    check_model(name, _version(request), state.settings.model_name)
    return {
        **model_metadata(name),
        "labels": list(LABELS),
        "maskwatch_model_version": getattr(state.detector, "model_version", None),
    }


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """A gzip or deflate request body, inflated to at most ``limit`` bytes (no zip bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise HttpError(400, f"request body is not valid {encoding} data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise HttpError(413, f"request body exceeds the limit of {limit:,} bytes once inflated")
    return out


async def _read_infer_request(request: Request) -> tuple[dict, bytes]:
    """The JSON inference header and the binary data after it (the binary tensor extension)."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "deflate"):
        body = _inflate(body, encoding, request.app.state.settings.max_image_bytes)
    elif encoding not in ("", "identity"):
        raise HttpError(415, f"unsupported Content-Encoding {encoding!r}: send identity, gzip or deflate")
    header = request.headers.get("inference-header-content-length")
    if header is None:
        head, binary = body, b""
    else:
        if not header.strip().isdigit() or int(header) > len(body):
            raise HttpError(400, f"Inference-Header-Content-Length {header!r} is not a length within the body")
        head, binary = body[: int(header)], body[int(header) :]
    try:
        req = json.loads(head)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "the inference request is not JSON") from None
    if not isinstance(req, dict):
        raise HttpError(400, "the inference request must be a JSON object with an 'inputs' list")
    return req, binary


def _input_image(req: dict, binary: bytes, settings) -> np.ndarray:
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise HttpError(400, ONE_INPUT)
    tensor = inputs[0]
    name, datatype = tensor.get("name"), tensor.get("datatype")
    what = f"input {name!r}"
    params = tensor.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadInputError(what, "parameters must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or size > len(binary):
            raise BadInputError(what, f"binary_data_size {size!r} does not fit the {len(binary):,} binary bytes sent")
        raw = binary[:size]
        elements = split_bytes(raw, what) if datatype == "BYTES" else None
        values = np.frombuffer(raw, np.uint8) if datatype == "UINT8" else None
    elif "data" in tensor:
        data = tensor["data"]
        elements = [_bytes_element(x, what) for x in _flatten(data)] if datatype == "BYTES" else None
        values = uint8_values(data, what) if datatype == "UINT8" else None
    else:
        raise BadInputError(what, "no data: send 'data' or binary data with parameters.binary_data_size")
    return image_from_tensor(
        str(name),
        str(datatype),
        tensor.get("shape"),
        elements=elements,
        values=values,
        color_format=params.get("color_format", "RGB"),
        max_pixels=settings.max_pixels,
        max_bytes=settings.max_image_bytes,
    )


def _infer_response(req: dict, name: str, dets: Detections) -> Response:
    arrays = output_arrays(dets)
    params = req.get("parameters") or {}
    all_binary = bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False
    requested = req.get("outputs")
    if requested is not None and not isinstance(requested, list):
        raise HttpError(400, "outputs must be a list of {'name': ...}")
    binary_for = {}
    for item in requested or []:
        if isinstance(item, dict):
            p = item.get("parameters") or {}
            binary_for[item.get("name")] = bool(p.get("binary_data", all_binary)) if isinstance(p, dict) else all_binary
    outputs, chunks = [], []
    for out in requested_outputs(requested):
        array = arrays[out]
        tensor = {"name": out, "datatype": OUTPUTS[out][0], "shape": list(array.shape)}
        if binary_for.get(out, all_binary):
            raw = raw_bytes(out, array)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif OUTPUTS[out][0] == "BYTES":
            tensor["data"] = [b.decode() for b in array.reshape(-1)]
        else:
            tensor["data"] = array.reshape(-1).tolist()
        outputs.append(tensor)
    answer = {"model_name": name, "model_version": MODEL_VERSION, "outputs": outputs}
    if req.get("id") is not None:
        answer["id"] = req["id"]
    head = json.dumps(answer).encode()
    if not chunks:
        return Response(head, media_type="application/json")
    return Response(
        head + b"".join(chunks),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )


_INFER_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "example": {
                    "id": "1",
                    "parameters": {"min_score": 0.5},
                    "inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [1], "data": ["<base64 JPEG>"]}],
                    "outputs": [{"name": "boxes"}, {"name": "labels"}, {"name": "scores"}],
                }
            }
        }
    }
}


@api.post("/v2/models/{name}/infer", openapi_extra=_INFER_BODY)
@api.post("/v2/models/{name}/versions/{version}/infer", openapi_extra=_INFER_BODY)
async def model_infer(request: Request, name: str):
    """Inference on one image: the JSON request of the protocol, or JSON followed by binary
    tensor data (``Inference-Header-Content-Length``), as ``tritonclient`` sends it.
    Request parameter ``min_score`` (0-1) overrides the server's."""
    state = request.app.state
    check_model(name, _version(request), state.settings.model_name)
    req, binary = await _read_infer_request(request)
    params = req.get("parameters") or {}
    min_score = min_score_param(params.get("min_score") if isinstance(params, dict) else None)
    image = _input_image(req, binary, state.settings)
    dets = await infer(state, image, min_score)
    return _infer_response(req, name, dets)


router = APIRouter()
router.include_router(health)
router.include_router(api)
