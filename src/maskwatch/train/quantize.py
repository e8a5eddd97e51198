"""Static INT8 quantization of an exported one-pass detector (ONNX Runtime's QDQ format,
per-channel weights), calibrated on training photos sized as at run time.

The INT8 file carries the same metadata (plus ``quantized``), so ``Detector`` runs it like
the fp32 file. It ships as the default only when its mAP@.5 is within 0.01 of fp32 on every
evaluation (issue 13); the model card says which file shipped and why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class _Photos:
    """ONNX Runtime's calibration reader: one photo at a time, as ``OnePassFaces`` feeds it."""

    def __init__(self, paths, profile: str, input_name: str):
        from ..images import read_image
        from ..models.face_detector import PROFILES, fit_blob

        self.blobs = iter([{input_name: fit_blob(read_image(p), PROFILES[profile])[0]} for p in paths])

    def get_next(self):
        return next(self.blobs, None)


def quantize_onepass(model: str | Path, out: str | Path, photos: list, profile: str = "balanced") -> Path:
    """Write ``out``: ``model`` (a one-pass detector ONNX) with INT8 weights and activations.

    Args:
        model: the fp32 ONNX from ``maskwatch export``.
        out: the INT8 ONNX to write.
        photos: calibration photo paths (training images, never evaluation ones).
        profile: the profile whose input size the calibration photos get.

    Returns:
        ``out``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model, out = Path(model), Path(out)
    if not photos:
        raise ValueError("INT8 calibration needs at least one photo")
    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(str(prepared)).graph
    quantize_static(
        str(prepared),
        str(out),
        _Photos(photos, profile, graph.input[0].name),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # the heads' outputs (sigmoid heatmap, softmax probabilities, log sizes) stay float:
        # a score quantized to 1/255 steps would reorder faces near the threshold
        nodes_to_exclude=[n.name for n in graph.node if n.op_type in ("Sigmoid", "Softmax")],
    )
    prepared.unlink(missing_ok=True)
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]  # the fp32 file's maskwatch metadata, nothing of the prepared copy's
    for p in onnx.load(str(model), load_external_data=False).metadata_props:
        quantized.metadata_props.add().CopyFrom(p)
    entry = quantized.metadata_props.add()
    entry.key, entry.value = "quantized", f"int8 static QDQ, per-channel, {len(photos)} calibration photos at {profile}"
    onnx.save(quantized, str(out))
    return out


def max_difference(fp32: str | Path, int8: str | Path, images: list[np.ndarray], profile: str = "balanced") -> dict:
    """How far the INT8 file's outputs are from fp32's on real BGR images: the largest
    heatmap and class-probability differences."""
    from ..models.face_detector import PROFILES, fit_blob
    from ..models.onepass import OUTPUTS
    from ..models.runtime import make_session

    a, b = make_session(str(fp32), 1), make_session(str(int8), 1)
    heat = probs = 0.0
    for image in images:
        blob = fit_blob(image, PROFILES[profile])[0]
        x, y = a.run(list(OUTPUTS), {"input": blob}), b.run(list(OUTPUTS), {"input": blob})
        heat = max(heat, float(np.abs(x[0] - y[0]).max()))
        probs = max(probs, float(np.abs(x[4] - y[4]).max()))
    return {"heatmap": heat, "probs": probs}
