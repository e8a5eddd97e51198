"""``data stats``: what is in a data set, with the face-size histogram (small faces matter)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ..formats import fill_sizes
from ..formats.dataset import Dataset
from ..labels import LABELS

SIZE_BINS = [0, 8, 16, 24, 32, 48, 64, 96, 128, 256, 100000]


def dataset_stats(ds: Dataset) -> dict:
    if not ds.is_crops():
        fill_sizes(ds)
    faces = [b for r in ds.images for b in r.boxes]
    sides = np.array([max(b.width, b.height) for b in faces]) if faces else np.zeros(0)
    hist = np.histogram(sides, SIZE_BINS)[0].tolist() if len(sides) else [0] * (len(SIZE_BINS) - 1)
    sizes = Counter(f"{r.width}x{r.height}" for r in ds.images if r.width)
    return {
        "name": ds.name,
        "format": ds.format,
        "images": len(ds.images),
        "images_without_faces": sum(1 for r in ds.images if not r.labels()),
        "faces_per_class": ds.class_counts(),
        "face_side_px": {
            "median": float(np.median(sides)) if len(sides) else None,
            "p10": float(np.percentile(sides, 10)) if len(sides) else None,
            "bins": [f"{a}-{b}" for a, b in zip(SIZE_BINS[:-1], SIZE_BINS[1:])],
            "counts": hist,
        },
        "face_sides": sides.round(1).tolist(),
        "image_sizes_top": sizes.most_common(10),
        "problems": len(ds.problems),
    }


def format_stats(stats: dict) -> str:
    lines = [
        f"{stats['name']} ({stats['format']}): {stats['images']} images, {stats['images_without_faces']} without faces"
    ]
    lines += [f"  {label:15s} {stats['faces_per_class'][label]}" for label in LABELS]
    fs = stats["face_side_px"]
    if fs["median"] is not None:
        lines.append(f"  face side (px): median {fs['median']:.0f}, 10th percentile {fs['p10']:.0f}")
        lines += [f"    {b:>10s}: {c}" for b, c in zip(fs["bins"], fs["counts"])]
    lines.append("  image sizes: " + ", ".join(f"{s} ({n})" for s, n in stats["image_sizes_top"][:5]))
    return "\n".join(lines)


def write_stats(stats: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "stats.json"]
    written[0].write_text(json.dumps({k: v for k, v in stats.items() if k != "face_sides"}, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return written
    if stats["face_sides"]:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(stats["face_sides"], bins=np.arange(0, min(400, max(stats["face_sides"]) + 8), 8))
        ax.set_xlabel("face side (px, longer of width/height)")
        ax.set_ylabel("faces")
        ax.set_title(f"{stats['name']}: face sizes")
        fig.tight_layout()
        fig.savefig(out / "face_sizes.png", dpi=110)
        plt.close(fig)
        written.append(out / "face_sizes.png")
    return written
