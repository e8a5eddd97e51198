"""Build the crop cache a training config names: each source cropped once, reused after."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ..data.crop import CropResult, extract_crops, fit_box_correction
from ..data.formats import load_dataset
from ..data.split import split_dataset
from ..labels import load_label_map
from ..models.face_detector import CenterFace
from .config import DataConfig, SourceConfig


def _cap(ds, cap: int | None, seed: int):
    if not cap:
        return ds
    rng = random.Random(seed)
    keep, per = [], {}
    shuffled = list(ds.images)
    rng.shuffle(shuffled)
    for record in shuffled:
        label = record.labels()[0] if record.labels() else None
        if label is None or per.get(label, 0) < cap:
            keep.append(record)
            per[label] = per.get(label, 0) + 1
    ds.images = keep
    return ds


def prepare_crops(cfg: DataConfig, seed: int = 0, progress: bool | None = None) -> dict:
    """Fill ``cfg.cache`` with ``train/`` and ``val/`` crops; return what was written."""
    cache = Path(cfg.cache)
    done = cache / "summary.json"
    if done.exists():
        return json.loads(done.read_text())
    mapping = load_label_map(cfg.label_map)
    detectors: dict[str, CenterFace] = {}

    def detector_for(src: SourceConfig, crops: bool):
        if not cfg.detector_crops:
            return None
        profile = "fast" if crops else src.detector  # crop images are small, one face each
        if profile not in detectors:
            detectors[profile] = CenterFace(profile)
        return detectors[profile]

    summary: dict = {"train": {}, "val": {}, "problems": []}
    pairs: list = []
    val_sources = list(cfg.val)
    for n, src in enumerate(cfg.train):
        ds = _cap(load_dataset(src.path, split=src.split, mapping=mapping), src.max_per_class, seed)
        parts = {"train": ds}
        if n == 0 and not val_sources and cfg.holdout > 0:
            splits = split_dataset(ds, {"train": 1 - cfg.holdout, "val": cfg.holdout}, seed)
            parts = {name: ds.subset(set(stems), f"{ds.name}-{name}") for name, stems in splits.items()}
        for part, subset in parts.items():
            result: CropResult = extract_crops(
                subset,
                cache / part,
                detector_for(src, ds.is_crops()),
                cfg.size,
                cfg.margin,
                prefix=f"s{n}",
                progress=progress,
            )
            summary[part][subset.name] = result.written
            summary["problems"] += [str(p) for p in result.problems + ds.problems]
            if part == "train":
                pairs += result.pairs
    for n, src in enumerate(val_sources):
        ds = _cap(load_dataset(src.path, split=src.split, mapping=mapping), src.max_per_class, seed)
        result = extract_crops(
            ds, cache / "val", detector_for(src, ds.is_crops()), cfg.size, cfg.margin, prefix=f"v{n}", progress=progress
        )
        summary["val"][ds.name] = result.written
    summary["box_correction"] = fit_box_correction(pairs)
    summary["box_pairs"] = len(pairs)
    cache.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(summary, indent=1))
    return summary


def source_from(path: str, split: str | None = None) -> SourceConfig:
    return SourceConfig(path, split)
