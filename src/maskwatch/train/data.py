"""Torch data sets over the crop cache (``<root>/<label>/*.jpg``) and the balanced sampler."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from ..errors import BadInputError
from ..labels import LABELS
from ..models.preprocess import to_tensor


def crop_source(path: Path) -> str:
    """The source key a cached crop's file name starts with (``<key>_<stem>...jpg``)."""
    return path.name.split("_", 1)[0]


class CropFolder(Dataset):
    def __init__(self, root: Path, size: int, augment=None, prefixes: list[str] | None = None):
        """``prefixes``: read only crops whose file name starts with one of them + "_" (the
        sources of this config), so crops another config added to a shared cache stay out."""
        self.items: list[tuple[Path, int]] = []
        keep = set(prefixes) if prefixes else None
        for idx, label in enumerate(LABELS):
            folder = Path(root) / label
            if folder.is_dir():
                self.items += [(p, idx) for p in sorted(folder.glob("*.jpg")) if keep is None or crop_source(p) in keep]
        if not self.items:
            raise BadInputError(str(root), f"no crops in {'/'.join(LABELS)} sub-folders")
        self.size = size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.items)

    def targets(self) -> np.ndarray:
        return np.array([t for _, t in self.items])

    def weights(self, by_prefix: dict[str, float]) -> np.ndarray:
        return np.array([by_prefix.get(crop_source(p), 1.0) for p, _ in self.items], np.float64)

    def __getitem__(self, i: int):
        path, target = self.items[i]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError(f"{path}: unreadable crop in the cache (delete the cache to rebuild it)")
        if image.shape[:2] != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.augment is not None:
            image = self.augment(image=image)["image"]
        return torch.from_numpy(to_tensor([image])[0]), target


def class_weights(targets: np.ndarray) -> np.ndarray:
    counts = np.bincount(targets, minlength=len(LABELS)).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0)
    return weights


def balanced_sampler(
    targets: np.ndarray, num_samples: int, seed: int, source_weights: np.ndarray | None = None
) -> WeightedRandomSampler:
    """Each class drawn equally often (the rare ``mask_incorrect`` is not drowned out); within a
    class, samples are drawn in proportion to their source's weight."""
    if source_weights is None:
        per_sample = class_weights(targets)[targets]
    else:
        per_sample = np.zeros(len(targets))
        for c in np.unique(targets):
            members = targets == c
            per_sample[members] = source_weights[members] / source_weights[members].sum()
    gen = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(torch.as_tensor(per_sample), num_samples, replacement=True, generator=gen)
