"""`evaluate` without the [eval] extra names the install command; report.html has real
tables (issue 10, items 21 and 24)."""

import sys

import cv2
import numpy as np
from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.evaluation.coco_eval import STAT_NAMES
from maskwatch.evaluation.metrics_report import write_report
from maskwatch.labels import LABELS


def test_evaluate_without_pycocotools_names_the_install_command(tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n == "pycocotools" or n.startswith("pycocotools.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    data = tmp_path / "voc"
    data.mkdir()
    cv2.imwrite(str(data / "a.jpg"), np.full((64, 64, 3), 90, np.uint8))
    (data / "a.xml").write_text(
        "<annotation><object><name>with_mask</name><bndbox><xmin>4</xmin><ymin>4</ymin>"
        "<xmax>30</xmax><ymax>30</ymax></bndbox></object></annotation>"
    )
    res = CliRunner().invoke(app, ["evaluate", str(data), "--out", str(tmp_path / "out"), "--profile", "fast"])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "(pycocotools is missing)" in res.output and "pip install 'maskwatch[eval]'" in res.output, res.output


def test_report_html_has_tables_not_raw_markdown(tmp_path):
    per_class = {label: {"gt": 10 + i, "AP": 0.4, "AP50": 0.75, "AP75": 0.5} for i, label in enumerate(LABELS)}
    results = {
        "dataset": "val <set>",
        "model": "m 1.0",
        "profile": "accurate",
        "images": 82,
        "min_score": 0.05,
        "face_recall50": 0.9598,
        "three_class": {
            "classes": 3,
            "stats": dict.fromkeys(STAT_NAMES, 0.5),
            "per_class": per_class,
            "pr_curves": {label: [1.0 - i / 100 for i in range(101)] for label in LABELS},
        },
    }
    page = write_report(results, tmp_path)["html"].read_text()
    assert "<pre>" not in page and "|---|" not in page
    assert page.count("<table>") == 2 and "<th>mAP@[.5:.95]</th>" in page
    assert "<td>with_mask</td><td>10</td><td>0.400</td><td>0.750</td><td>0.500</td>" in page
    assert "<li>face_recall50: 0.960</li>" in page and "val &lt;set&gt;" in page
