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


# --- events databases: SQLite always, PostgreSQL where a server is reachable ---------------
PG_URL = os.environ.get(
    "MASKWATCH_TEST_PG_URL", "postgresql+psycopg://maskwatch:maskwatch@127.0.0.1:5432/maskwatch_test"
)


def _fresh_postgres() -> str:
    """An empty PostgreSQL database, or a skip (a failure when CI asks for PostgreSQL)."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS outbox, events, people, cameras, sinks, alembic_version CASCADE"))
        engine.dispose()
    except Exception as exc:
        message = f"PostgreSQL not reachable at {PG_URL} (start one: scripts/start_postgres.sh): {exc}"
        if os.environ.get("MASKWATCH_REQUIRE_PG"):
            pytest.fail(message)
        pytest.skip(message)
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each test runs once per back end, on an empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'maskwatch.db'}"
    return _fresh_postgres()


@pytest.fixture(scope="session")
def walkby(tmp_path_factory, datasets, detector) -> dict:
    """A walk-by video of 2 people per label from real crops (faces the models get right on a
    still frame), with its truth."""
    from maskwatch.data.walkby import make_walkby
    from maskwatch.formats import load_dataset

    sources = [need(datasets / "crops" / "maskedfacenet"), need(datasets / "crops" / "chandrikadeb7")]
    out = tmp_path_factory.mktemp("walkby") / "walk.mp4"
    people = {"with_mask": 2, "without_mask": 2, "mask_incorrect": 2}
    return make_walkby([load_dataset(p) for p in sources], out, people, detector=detector)
