"""TensorFlow-Serving compatible routes: model status, metadata and ``:predict``."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ...detections import Detections
from ...errors import HttpError
from ...labels import LABELS
from ..deps import AUTH, decode, infer

router = APIRouter(dependencies=AUTH, tags=["TF Serving compatible"])


class PredictIn(BaseModel):
    instances: list[dict] = Field(
        description='TF-Serving request: [{"b64": "..."}] or [{"image_bytes": {"b64": "..."}}]',
        examples=[[{"b64": "<base64 JPEG>"}]],
    )


def tfserving_prediction(dets: Detections, width: int, height: int) -> dict:
    """One image's prediction as the TensorFlow Object Detection API gives it: boxes
    normalised [ymin, xmin, ymax, xmax], classes 1-based in ``LABELS`` order."""
    w, h = width, height
    return {
        "detection_boxes": [[y1 / h, x1 / w, y2 / h, x2 / w] for x1, y1, x2, y2 in dets.xyxy.tolist()],
        "detection_scores": dets.confidence.tolist(),
        "detection_classes": [k + 1 for k in dets.class_id.tolist()],
        "detection_labels": dets.labels,
        "num_detections": len(dets),
    }


def _model(request: Request, name: str) -> None:
    if name != request.app.state.settings.model_name:
        raise HttpError(404, f"Servable not found for request: Latest({name})")


@router.get("/v1/models/{name}")
async def model_status(request: Request, name: str):
    """TF-Serving model status."""
    _model(request, name)
    return {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


@router.get("/v1/models/{name}/metadata")
async def model_metadata(request: Request, name: str):
    """TF-Serving model metadata: one signature taking encoded images, giving boxes like the
    TensorFlow Object Detection API (normalised ymin, xmin, ymax, xmax)."""
    _model(request, name)
    tensor = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "-1"}]}}
    return {
        "model_spec": {"name": name, "signature_name": "", "version": "1"},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    "serving_default": {
                        "inputs": {
                            "image_bytes": {
                                "dtype": "DT_STRING",
                                "tensor_shape": {"dim": [{"size": "-1"}]},
                                "name": "encoded_image_string_tensor",
                            }
                        },
                        "outputs": {
                            k: {**tensor, "name": k}
                            for k in ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
                        },
                        "method_name": "tensorflow/serving/predict",
                    }
                }
            }
        },
        "labels": list(LABELS),
        "maskwatch_model_version": request.app.state.detector.model_version,
    }


@router.post("/v1/models/{name_verb}")
async def predict(request: Request, name_verb: str, body: PredictIn):
    """TF-Serving ``:predict``: ``{"instances": [{"b64": "..."}]}`` -> one prediction per image with
    ``detection_boxes`` (normalised [ymin, xmin, ymax, xmax]), ``detection_scores``,
    ``detection_classes`` (1 with_mask, 2 without_mask, 3 mask_incorrect), ``detection_labels``."""
    state = request.app.state
    name, _, verb = name_verb.partition(":")
    _model(request, name)
    if verb != "predict":
        raise HttpError(404, f"unknown verb {verb!r}; use {name}:predict")
    max_bytes = state.settings.max_image_bytes
    predictions = []
    for i, inst in enumerate(body.instances):
        nested = inst.get("image_bytes")
        b64 = inst.get("b64") or (nested.get("b64") if isinstance(nested, dict) else None)
        if not isinstance(b64, str):
            raise HttpError(400, f'instances[{i}]: expected {{"b64": ...}} or {{"image_bytes": {{"b64": ...}}}}')
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, f"instances[{i}]: not valid base64") from None
        if len(data) > max_bytes:
            raise HttpError(413, f"instances[{i}]: image exceeds {max_bytes:,} bytes")
        image = decode(state, data, f"instances[{i}]")
        dets = await infer(state, image, None)
        predictions.append(tfserving_prediction(dets, image.shape[1], image.shape[0]))
    return {"predictions": predictions}
