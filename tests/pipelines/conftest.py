"""Fixtures of the pipeline tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from maskwatch.cli import app


@pytest.fixture
def watch_config(tmp_path):
    """Runs ``maskwatch watch CONFIG`` in-process on a config file holding the YAML text it
    is given; returns the CliRunner result."""
    cfg = tmp_path / "bad.yaml"

    def run(text: str):
        cfg.write_text(text)
        return CliRunner().invoke(app, ["watch", str(cfg)])

    return run
