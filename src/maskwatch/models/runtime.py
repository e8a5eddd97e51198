"""One place that creates ONNX Runtime sessions, so threading and logging are set alike."""

from __future__ import annotations

import os

import onnxruntime as ort

from ..errors import ModelError

ort.set_default_logger_severity(3)  # CenterFace's export makes ORT warn about every BN buffer


def make_session(model: str | bytes, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's default counts physical cores and used one thread on a 2-vCPU machine: set it
    # explicitly (measured here: CenterFace at 640x480 takes 97 ms on 1 thread, 60 ms on 2)
    threads = threads or int(os.environ.get("MASKWATCH_THREADS", 0)) or os.cpu_count() or 1
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # the face and mask models run back to back: threads of one that spin-wait after a run
    # would steal the 2 cores from the other
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def open_model(path, threads: int | None = None) -> tuple[ort.InferenceSession, dict[str, str]]:
    """A model file's one inference session and its maskwatch metadata (empty when it has
    none): the file is read once, whatever kind it turns out to be. A truncated or foreign
    file is a ModelError naming it."""
    try:
        session = make_session(str(path), threads)
    except Exception as exc:  # ORT raises its own types for a file that is not ONNX
        reason = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise ModelError(f"{path}: not a readable ONNX model ({reason})") from None
    return session, dict(session.get_modelmeta().custom_metadata_map)


def weights_as_initializers(proto) -> None:
    """Drop the weights from an ONNX graph's inputs (in place), leaving them initializers only.
    Listed as inputs too, they may be overridden at run time, so ONNX Runtime cannot fold or
    fuse them: CenterFace's export does this, and the same weights ran 2-2.5x faster without it
    (benchmarks/bench_detect.py)."""
    weights = {init.name for init in proto.graph.initializer}
    keep = [value for value in proto.graph.input if value.name not in weights]
    del proto.graph.input[:]
    proto.graph.input.extend(keep)
