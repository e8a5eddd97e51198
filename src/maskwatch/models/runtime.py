"""One place that creates ONNX Runtime sessions, so threading and logging are set alike."""

from __future__ import annotations

import os

import onnxruntime as ort

ort.set_default_logger_severity(3)  # CenterFace's export makes ORT warn about every BN buffer


def make_session(model: str | bytes, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    threads = threads or int(os.environ.get("MASKWATCH_THREADS", 0)) or None
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
