"""Deterministic, stratified splits that keep identical images together.

Stratified by each image's rarest label, so the 3% ``mask_incorrect`` faces reach every
split; grouped by content hash, so a duplicate cannot sit in training and evaluation."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

from ..errors import ConfigError
from ..formats.dataset import Dataset
from ..labels import LABELS


def content_hash(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _rarest(labels: list[str], counts: dict[str, int]) -> str:
    return min(labels, key=lambda lab: counts.get(lab, 0)) if labels else "empty"


def split_dataset(ds: Dataset, fractions: dict[str, float], seed: int = 0) -> dict[str, list[str]]:
    """Stems per split name. Same inputs and seed give the same split on any machine.

    Args:
        ds: the data set.
        fractions: share of images per split name, e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}``.
        seed: which of the many valid splits.

    Returns:
        The image stems of each split, in ``fractions``' order.

    Raises:
        ConfigError: the fractions do not sum to 1.
    """
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1, got {fractions}")
    counts = ds.class_counts()
    groups: dict[str, list] = defaultdict(list)
    for record in ds.images:
        groups[content_hash(record.path)].append(record)
    strata: dict[str, list[tuple[str, list]]] = defaultdict(list)
    for digest, records in groups.items():
        labels = [lab for r in records for lab in r.labels()]
        strata[_rarest(labels, counts)].append((digest, records))
    result: dict[str, list[str]] = {name: [] for name in fractions}
    names = list(fractions)
    for stratum in [*LABELS, "empty"]:
        items = sorted(strata.get(stratum, []), key=lambda it: hashlib.sha1(f"{seed}:{it[0]}".encode()).hexdigest())
        taken = dict.fromkeys(names, 0)
        for i, (_, records) in enumerate(items):
            # give the next group to the split furthest below its share so far
            name = min(
                names, key=lambda n: (taken[n] / max(fractions[n], 1e-9), names.index(n)) if fractions[n] else (1e9, 0)
            )
            if i == 0 and len(items) < len(names):
                name = names[0]
            taken[name] += 1
            result[name].extend(r.stem for r in records)
    return {name: sorted(stems) for name, stems in result.items()}


def write_splits(splits: dict[str, list[str]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, stems in splits.items():
        (folder / f"{name}.txt").write_text("\n".join(stems) + ("\n" if stems else ""))
