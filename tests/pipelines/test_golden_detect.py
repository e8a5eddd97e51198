"""``maskwatch detect`` writes exactly what it wrote before the one-type refactor: the JSON
Lines of the andrewmvd val images and of a video made from them, recorded with the old code
(``tests/golden/``), must match to the last digit. The one change since: landmarks are
clamped to the image (3 rows of ``detect_val.jsonl`` had points up to 4.5 px outside it).
Those files are the two-stage pipeline's (the default when they were recorded); the
``.one-pass`` ones were recorded with the default one-pass detector (re-recorded for 0.4.2), so
that its output cannot drift unnoticed either. All four were re-recorded when frames started
being shrunk by ``shrink`` instead of INTER_AREA in one step: 2 of the 82 val images (the only
ones larger than the network input) and every video frame (640x480) changed; the one-pass
video has 69 rows instead of 66 (3 more with_mask faces), the two-stage one 71 instead of 72."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videos import make_video

from maskwatch.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row["image"] = Path(row["image"]).name
    return rows


MODELS = pytest.mark.parametrize("model, suffix, faces", [("two-stage", "", 355), ("one-pass", ".one-pass", 310)])


@MODELS
def test_images_match_the_recorded_output(val_images, tmp_path, model, suffix, faces):
    out = tmp_path / "val.jsonl"
    res = CliRunner().invoke(app, ["detect", *map(str, val_images), "--model", model, "--json", str(out), "-q"])
    assert res.exit_code == 0, res.output
    golden = _rows(GOLDEN / f"detect_val{suffix}.jsonl")
    assert len(golden) == faces
    assert _rows(out) == golden


@MODELS
def test_video_matches_the_recorded_output(val_images, tmp_path, model, suffix, faces):
    clip = make_video(val_images[:8], tmp_path / "clip.mp4", frames_each=3)
    out = tmp_path / "video.jsonl"
    res = CliRunner().invoke(app, ["detect", str(clip), "--model", model, "--json", str(out), "-q"])
    assert res.exit_code == 0, res.output
    golden = _rows(GOLDEN / f"detect_video{suffix}.jsonl")
    assert any("track_id" in r for r in golden)
    assert _rows(out) == golden
