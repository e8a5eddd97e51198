"""`maskwatch evaluate` end to end on a real annotated subset: COCO metrics, 2-class mode,
reports for people, and the classifier-only mode."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from maskwatch.cli import app

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def subset(andrewmvd, tmp_path_factory):
    folder = tmp_path_factory.mktemp("voc")
    for stem in (andrewmvd / "splits" / "val.txt").read_text().split()[:12]:
        shutil.copy(andrewmvd / "images" / f"{stem}.jpg", folder)
        shutil.copy(andrewmvd / "annotations" / f"{stem}.xml", folder)
    return folder


def test_detection_metrics_and_reports(subset, tmp_path):
    res = CliRunner().invoke(app, ["evaluate", str(subset), "--out", str(tmp_path), "--profile", "balanced"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["images"] == 12 and 0.5 < m["face_recall50"] <= 1
    for key, classes in (
        ("three_class", {"with_mask", "without_mask", "mask_incorrect"}),
        ("two_class", {"with_mask", "without_mask"}),
    ):
        stats = m[key]["stats"]
        assert 0 < stats["mAP"] < stats["mAP50"] <= 1
        assert set(m[key]["per_class"]) == classes
    assert m["three_class"]["per_class"]["with_mask"]["AP50"] > 0.6
    assert "| mAP@[.5:.95] |" in (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64" in html  # the PR curves are embedded
    assert (tmp_path / "pr_curves.png").stat().st_size > 1000


def test_classifier_only(subset, tmp_path):
    res = CliRunner().invoke(app, ["evaluate", str(subset), "--classifier-only", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "classifier_metrics.json").read_text())
    total = sum(sum(row) for row in m["confusion"])
    assert total == sum(v["support"] for v in m["per_class"].values()) > 20
    assert m["per_class"]["with_mask"]["recall"] > 0.7
    assert (tmp_path / "confusion.png").exists() and (tmp_path / "wrong.png").exists()
    assert "precision" in res.output
