"""``--address``: ``detect --ray`` against a cluster started with ``ray start --head`` on
127.0.0.1 (2 CPUs, no dashboard), as a user's cluster would be."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_detect_ray_on_a_started_cluster(tmp_path, val_images, detector):
    """The user's side runs in a child process too (``maskwatch detect --ray --address``), as a
    user would: this pytest process, whose own Ray tests start local clusters, never connects
    to an outside cluster (Ray keeps a process's first auth settings for its whole life)."""
    from maskwatch.pipelines.detect import run_detect
    from maskwatch.settings import DetectSettings

    for p in val_images[30:33]:
        shutil.copy(p, tmp_path / p.name)
    port = _free_port()
    # loopback only: no token to hand around
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    start = [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2"]
    subprocess.run(
        start + ["--include-dashboard=false", "--disable-usage-stats"],
        check=True,
        env=env,
        capture_output=True,
        timeout=180,
    )
    try:
        maskwatch = str(Path(sys.executable).with_name("maskwatch"))
        done = subprocess.run(
            [
                maskwatch,
                "detect",
                str(tmp_path),
                "--ray",
                "--address",
                f"127.0.0.1:{port}",
                "--json",
                str(tmp_path / "ray.jsonl"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        run_detect([str(tmp_path)], DetectSettings.resolve(), detector, str(tmp_path / "plain.jsonl"))
        rows = [json.loads(x) for x in (tmp_path / "ray.jsonl").read_text().splitlines()]
        assert rows and {r["image"] for r in rows} <= {str(tmp_path / p.name) for p in val_images[30:33]}
        assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "plain.jsonl").read_text()
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
