"""Build the crop cache a training config names. Each source is cropped once and marked done
(``sources/<n>-<name>.json``), so adding a source to a config crops only the new one."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ..data.make_crops import extract_crops, fit_box_correction
from ..data.split import split_dataset
from ..errors import ConfigError
from ..formats import load_dataset
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
    ds.images = sorted(keep, key=lambda r: str(r.path))
    return ds


def source_mapping(src: SourceConfig, mapping: dict[str, str] | None = None) -> dict[str, str] | None:
    """The class-name aliases of one source: ``mapping`` (the run's), then its own ``label_map``."""
    if not src.label_map:
        return mapping
    from ..labels import label_mapping
    from ..yaml_files import read_yaml_mapping

    try:
        own = read_yaml_mapping(src.label_map, "a label map is a YAML mapping of alias: label")
        return label_mapping({str(k): str(v) for k, v in own.items()}, base=mapping)
    except ConfigError as exc:
        raise ConfigError(f"{src.path}: label_map {src.label_map}: {exc}") from None


def _key(role: str, n: int, src: SourceConfig, cfg: DataConfig, seed: int) -> str:
    fields = {k: v for k, v in src.__dict__.items() if k != "weight"}  # sampling weight: not a crop setting
    spec = json.dumps([role, n, fields, cfg.size, cfg.margin, cfg.holdout, cfg.detector_crops, seed], sort_keys=True)
    name = Path(src.path).name.replace(":", "_")
    return f"{role}{n}-{name}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def source_prefix(role: str, n: int, src: SourceConfig, cfg: DataConfig, seed: int) -> str:
    """The file-name prefix of a source's crops in the cache."""
    return _key(role, n, src, cfg, seed).rsplit("-", 1)[-1]


def prepare_crops(cfg: DataConfig, seed: int = 0, progress: bool | None = None) -> dict:
    """Fill ``cfg.cache`` with ``train/`` and ``val/`` crops; return the summary (also written
    to ``summary.json``), including the box correction learned from ``box_style`` sources."""
    cache = Path(cfg.cache)
    (cache / "sources").mkdir(parents=True, exist_ok=True)
    mapping = load_label_map(cfg.label_map)
    detectors: dict[str, CenterFace] = {}

    def detector_for(src: SourceConfig, crops: bool):
        if not cfg.detector_crops and not src.synth:
            return None
        profile = "fast" if crops else src.detector  # crop images are small, one face each
        if profile not in detectors:
            detectors[profile] = CenterFace(profile)
        return detectors[profile]

    val_sources = list(cfg.val)
    flat: list[dict] = []  # one entry per (source, train/val part)
    for role, sources in (("train", cfg.train), ("val", val_sources)):
        for n, src in enumerate(sources):
            key = _key(role, n, src, cfg, seed)
            marker = cache / "sources" / f"{key}.json"
            prefix = key.rsplit("-", 1)[-1]  # crop files start with it: a cache serves many configs
            if marker.exists():
                flat += json.loads(marker.read_text())["parts"]
                continue
            ds = _cap(
                load_dataset(src.path, split=src.split, mapping=source_mapping(src, mapping)), src.max_per_class, seed
            )
            det = detector_for(src, ds.is_crops())
            entries = []
            if src.synth:
                from ..data.synth import synthesize

                out = synthesize(
                    ds,
                    det,
                    cache / role,
                    seed=seed + n,
                    size=cfg.size,
                    margin=cfg.margin,
                    max_faces=src.max_faces,
                    progress=progress,
                    prefix=prefix,
                )
                entries.append(
                    {
                        "role": role,
                        "source": f"{src.path} (synthetic masks)",
                        "written": out["written"],
                        "pairs": [],
                        "problems": [],
                    }
                )
            else:
                parts = {role: ds}
                if role == "train" and n == 0 and not val_sources and cfg.holdout > 0:
                    splits = split_dataset(ds, {"train": 1 - cfg.holdout, "val": cfg.holdout}, seed)
                    parts = {name: ds.subset(set(stems), f"{ds.name}-{name}") for name, stems in splits.items()}
                for part, subset in parts.items():
                    result = extract_crops(
                        subset, cache / part, det, cfg.size, cfg.margin, prefix=prefix, progress=progress
                    )
                    entries.append(
                        {
                            "role": part,
                            "source": src.path,
                            "written": result.written,
                            "pairs": result.pairs if part == "train" and src.box_style else [],
                            "problems": [str(p) for p in result.problems + ds.problems],
                        }
                    )
            for e in entries:
                e["prefix"] = prefix
            marker.write_text(json.dumps({"parts": entries}))
            flat += entries
    pairs = [tuple(p) for e in flat for p in e["pairs"]]
    summary = {
        "train": {e["source"]: e["written"] for e in flat if e["role"] == "train"},
        "val": {e["source"]: e["written"] for e in flat if e["role"] == "val"},
        "problems": [p for e in flat for p in e["problems"]],
        "box_correction": fit_box_correction(pairs),
        "box_pairs": len(pairs),
        #: the crop-file prefixes of this config's sources: training reads only these
        "prefixes": sorted({e["prefix"] for e in flat}),
    }
    (cache / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
