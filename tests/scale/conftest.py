"""Ray for tests/scale: skipped with a reason where the [ray] extra is not installed; one small
in-process cluster (2 CPUs, no dashboard) shared by the module's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def pg_url():
    """An empty PostgreSQL schema of its own on the test server (tests/conftest.py's
    ``PG_URL``), so other tests that empty the shared tables meanwhile cannot touch it."""
    import os
    import uuid

    from sqlalchemy import create_engine, text

    base = os.environ.get(
        "MASKWATCH_TEST_PG_URL", "postgresql+psycopg://maskwatch:maskwatch@127.0.0.1:5432/maskwatch_test"
    )
    schema = f"scale_{uuid.uuid4().hex[:8]}"
    try:
        engine = create_engine(base)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {base} (start one: scripts/start_postgres.sh): {exc}"
        if os.environ.get("MASKWATCH_REQUIRE_PG"):
            pytest.fail(message)
        pytest.skip(message)
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()
