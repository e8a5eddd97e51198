"""`maskwatch evaluate` writes its raw predictions and ground truth beside metrics.json, so that
anyone can re-score them with pycocotools alone (issue 13), on a real annotated subset."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from maskwatch.cli import app

pytest.importorskip("pycocotools")

COCO_FILES = {
    3: ("three_class", "predictions.coco.json", "ground_truth.coco.json"),
    2: ("two_class", "predictions.2class.coco.json", "ground_truth.2class.coco.json"),
}
ARGS = ["--profile", "balanced"]


@pytest.fixture(scope="module")
def subset(andrewmvd, tmp_path_factory):
    """4 val images in VOC's images/ + annotations/ layout (so names have a folder part)."""
    folder = tmp_path_factory.mktemp("voc")
    (folder / "images").mkdir()
    (folder / "annotations").mkdir()
    for stem in (andrewmvd / "splits" / "val.txt").read_text().split()[:4]:
        shutil.copy(andrewmvd / "images" / f"{stem}.jpg", folder / "images")
        shutil.copy(andrewmvd / "annotations" / f"{stem}.xml", folder / "annotations")
    return folder


@pytest.fixture(scope="module")
def evaluated(subset, tmp_path_factory):
    """The out folder of one plain `evaluate` run (both class modes)."""
    out = tmp_path_factory.mktemp("eval")
    res = CliRunner().invoke(app, ["evaluate", str(subset), "--out", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    assert "predictions.jsonl" in res.output  # the 'wrote ...' line names the new files
    return out


def _rescore(gt_path, dets_path) -> list[float]:
    """What anyone can run: plain pycocotools on the two files, nothing from maskwatch."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(gt_path))
    ev = COCOeval(gt, gt.loadRes(str(dets_path)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(v) for v in ev.stats]


@pytest.mark.parametrize("classes", [3, 2])
def test_pycocotools_alone_rescores_the_metrics(evaluated, classes):
    key, dets_name, gt_name = COCO_FILES[classes]
    metrics = json.loads((evaluated / "metrics.json").read_text())
    dets = json.loads((evaluated / dets_name).read_text())
    assert dets and set(dets[0]) == {"image_id", "category_id", "bbox", "score"}
    assert {d["category_id"] for d in dets} <= set(range(1, classes + 1))
    gt = json.loads((evaluated / gt_name).read_text())
    assert [c["name"] for c in gt["categories"]] == list(metrics[key]["per_class"])
    stats = _rescore(evaluated / gt_name, evaluated / dets_name)
    assert stats == list(metrics[key]["stats"].values())  # exactly, all 12 numbers
    assert stats[1] > 0.3  # mAP@.5: real detections, not an empty run scored twice


def test_predictions_jsonl_holds_each_face_once_as_detect_writes_it(evaluated, subset, tmp_path):
    from maskwatch.pipelines.writers import FaceWriter
    from maskwatch.settings import EvaluateSettings

    metrics = json.loads((evaluated / "metrics.json").read_text())
    lines = [json.loads(line) for line in (evaluated / "predictions.jsonl").read_text().splitlines()]
    gt = json.loads((evaluated / "ground_truth.coco.json").read_text())
    assert [line["image_id"] for line in lines] == [im["id"] for im in gt["images"]] == [0, 1, 2, 3]
    for line, im in zip(lines, gt["images"]):
        assert line["image"].startswith("images/") and (subset / line["image"]).samefile(im["file_name"])

    # the same detector as the evaluation, its faces through detect --json's writer
    settings = EvaluateSettings.resolve(profile="balanced")
    detector = settings.detector()
    detect_jsonl = tmp_path / "detect.jsonl"
    writer = FaceWriter(str(detect_jsonl))
    for line in lines:
        writer.write(detector.detect(subset / line["image"]).above(metrics["min_score"]), line["image"])
    writer.close()
    detect_rows = [json.loads(r) for r in detect_jsonl.read_text().splitlines()]
    faces = [face for line in lines for face in line["faces"]]
    assert faces == detect_rows and len(faces) > 10
    assert all(face["image"] == line["image"] for line in lines for face in line["faces"])

    # each face is once in the JSON Lines, and once per class in the COCO results
    dets = json.loads((evaluated / "predictions.coco.json").read_text())
    assert len(faces) <= len(dets) <= 3 * len(faces)
    labels = [c["name"] for c in gt["categories"]]
    for image_id, line in enumerate(lines):
        mine = [d for d in dets if d["image_id"] == image_id]
        for face in line["faces"]:
            cid = labels.index(face["label"]) + 1
            same = [
                d
                for d in mine
                if d["category_id"] == cid
                and abs(d["bbox"][0] - face["x1"]) <= 0.05
                and abs(d["bbox"][1] - face["y1"]) <= 0.05
                and abs(d["score"] - face["score"]) <= 5e-5
            ]
            assert len(same) == 1, face


def test_one_class_mode_writes_only_its_files(subset, tmp_path):
    res = CliRunner().invoke(app, ["evaluate", str(subset), "--out", str(tmp_path), "--classes", "2", *ARGS])
    assert res.exit_code == 0, res.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"predictions.2class.coco.json", "ground_truth.2class.coco.json", "predictions.jsonl"} <= names
    assert "predictions.coco.json" not in names and "ground_truth.coco.json" not in names


@pytest.mark.parametrize("where", ["under_a_file", "is_a_file", "jsonl_is_a_folder"])
def test_an_output_that_cannot_be_written_is_one_line(subset, tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = {"under_a_file": blocker / "out", "is_a_file": blocker, "jsonl_is_a_folder": tmp_path / "out"}[where]
    if where == "jsonl_is_a_folder":  # the folder is fine; one file in it cannot be written
        (out / "predictions.jsonl").mkdir(parents=True)
    res = CliRunner().invoke(app, ["evaluate", str(subset), "--out", str(out), "--profile", "fast"])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    expected = {
        "under_a_file": f"{blocker / 'out'}: cannot write (Not a directory)",
        "is_a_file": f"{blocker}: is a file; give a folder for the evaluation's files",
        "jsonl_is_a_folder": f"{out / 'predictions.jsonl'}: cannot write (Is a directory)",
    }[where]
    assert errors[0] == f"error: {expected}", res.output


def test_evaluate_on_ray_writes_the_same_files(subset, evaluated, tmp_path):
    """`evaluate --ray` funnels into the same writers: every file is the plain run's, byte for
    byte."""
    pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'maskwatch[ray]'")
    args = ["evaluate", str(subset), "--out", str(tmp_path), *ARGS, "--ray", "--ray-workers", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in (
        "predictions.coco.json",
        "ground_truth.coco.json",
        "predictions.2class.coco.json",
        "ground_truth.2class.coco.json",
        "predictions.jsonl",
    ):
        assert (tmp_path / name).read_bytes() == (evaluated / name).read_bytes(), name
