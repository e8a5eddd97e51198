"""Shared fixtures. Real data comes from ../shared/datasets (skipped with a reason where
absent); small broken files are generated per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("MASKWATCH_DATASETS", ROOT.parent / "shared" / "datasets"))
ANDREWMVD = DATASETS / "andrewmvd-facemask"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs the shared data set {path} (set MASKWATCH_DATASETS to its folder)")
    return path


@pytest.fixture(scope="session")
def datasets() -> Path:
    return need(DATASETS)


@pytest.fixture(scope="session")
def andrewmvd() -> Path:
    return need(ANDREWMVD)


@pytest.fixture(scope="session")
def detector():
    from maskwatch import Detector

    return Detector()


@pytest.fixture(scope="session")
def val_images(andrewmvd) -> list[Path]:
    stems = (andrewmvd / "splits" / "val.txt").read_text().split()
    return [andrewmvd / "images" / f"{s}.jpg" for s in stems]
