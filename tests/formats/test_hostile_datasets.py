"""Hostile and broken data sets (issue 10, items 9, 13 and 14): files outside the data set's
folder are never read, NaN/inf coordinates and malformed COCO JSON are reported one line per
entry, and `data convert` names every file it leaves out."""

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.data.check import check_dataset
from maskwatch.formats import Box, Dataset, ImageRecord, load_dataset, save_dataset

runner = CliRunner()
SECRET = "TOP-SECRET-LINE 0 0.5 0.5 0.1 0.1"


def _jpg(path: Path, w: int = 64, h: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    path.write_bytes(cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3), np.uint8))[1].tobytes())
    return path


def _voc_xml(name: str, box=("4", "4", "20", "20"), label: str = "with_mask") -> str:
    x1, y1, x2, y2 = box
    return (
        f"<annotation><filename>{name}</filename><size><width>64</width><height>48</height></size>"
        f"<object><name>{label}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox></object></annotation>"
    )


def _coco(folder: Path, images: list, annotations: list | None = None, categories=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "images": images,
        "annotations": annotations or [],
        "categories": categories or [{"id": 1, "name": "with_mask"}],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def _no_traceback(res):
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output


# --- item 9: paths outside the data set ---------------------------------------------------


def test_coco_file_names_outside_the_folder_are_not_copied(tmp_path):
    ds_dir = tmp_path / "ds"
    _jpg(ds_dir / "images" / "ok.jpg")
    _jpg(tmp_path / "elsewhere.jpg")
    bbox = [4, 4, 10, 10]
    _coco(
        ds_dir,
        [
            {"id": 1, "file_name": "images/ok.jpg"},
            {"id": 2, "file_name": "../../../../etc/passwd"},
            {"id": 3, "file_name": "/etc/hostname"},
            {"id": 4, "file_name": "../elsewhere.jpg"},
        ],
        [{"id": i, "image_id": i, "category_id": 1, "bbox": bbox} for i in (1, 2, 3, 4)],
    )
    out = tmp_path / "out"
    res = runner.invoke(app, ["data", "convert", str(ds_dir), str(out), "--to", "yolo"])
    _no_traceback(res)
    assert res.exit_code == 1, res.output
    assert sorted(p.name for p in (out / "images").iterdir()) == ["ok.jpg"]
    for entry in ("images[1] (id 2)", "images[2] (id 3)", "images[3] (id 4)"):
        assert entry in res.output and "outside_dataset" in res.output, res.output
    assert "wrote 1 images" in res.output
    # never copied, never read: no file under out holds a line of /etc/passwd
    assert not any("root:" in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())

    # the user may allow it explicitly (an image kept beside the data set's folder)
    allowed = tmp_path / "allowed"
    res = runner.invoke(app, ["data", "convert", str(ds_dir), str(allowed), "--to", "yolo", "--allow-outside"])
    _no_traceback(res)
    assert "elsewhere.jpg" in {p.name for p in (allowed / "images").iterdir()}


def test_yolo_label_symlinked_out_is_refused_not_printed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\nroot:x:0:0:root:/root:/bin/bash\n")
    ds = tmp_path / "yolo"
    (ds / "classes.txt").parent.mkdir(parents=True)
    (ds / "classes.txt").write_text("with_mask\nwithout_mask\n")
    _jpg(ds / "images" / "a.jpg")
    _jpg(ds / "images" / "b.jpg")
    (ds / "labels").mkdir()
    (ds / "labels" / "a.txt").symlink_to(secret)
    (ds / "labels" / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    os.symlink(_jpg(tmp_path / "outside.jpg"), ds / "images" / "c.jpg")  # an image symlinked out

    res = runner.invoke(app, ["data", "check", str(ds)])
    _no_traceback(res)
    assert res.exit_code == 1
    assert "TOP-SECRET" not in res.output and "root:" not in res.output, res.output
    assert f"{ds / 'labels' / 'a.txt'}: [outside_dataset]" in res.output, res.output
    assert f"{ds / 'images' / 'c.jpg'}: [outside_dataset]" in res.output, res.output
    loaded = load_dataset(ds)
    assert [r.path.name for r in loaded.images] == ["b.jpg"]
    # a class list symlinked out is refused before any line of it is shown
    (ds / "classes.txt").unlink()
    (ds / "classes.txt").symlink_to(secret)
    res = runner.invoke(app, ["data", "check", str(ds)])
    _no_traceback(res)
    assert res.exit_code == 1 and "TOP-SECRET" not in res.output and "outside the data set" in res.output


def test_voc_files_symlinked_out_are_refused(tmp_path):
    ds = tmp_path / "voc"
    _jpg(ds / "a.jpg")
    (ds / "a.xml").write_text(_voc_xml("a.jpg"))
    outside = tmp_path / "b.xml"
    outside.write_text(_voc_xml("b.jpg"))
    _jpg(ds / "b.jpg")
    (ds / "b.xml").symlink_to(outside)
    loaded = load_dataset(ds)
    assert [p.kind for p in loaded.problems] == ["outside_dataset"]
    assert loaded.problems[0].path == str(ds / "b.xml")
    assert len(load_dataset(ds, allow_outside=True).images) == 2


# --- item 13: NaN and inf ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e999"])
def test_nan_and_inf_are_reported_and_never_written(tmp_path, bad):
    voc = tmp_path / "voc"
    _jpg(voc / "good.jpg")
    (voc / "good.xml").write_text(_voc_xml("good.jpg"))
    _jpg(voc / "bad.jpg")
    (voc / "bad.xml").write_text(_voc_xml("bad.jpg", ("4", bad, "20", "20")))
    yolo = tmp_path / "yolo"
    (yolo / "labels").mkdir(parents=True)
    (yolo / "classes.txt").write_text("with_mask\n")
    _jpg(yolo / "images" / "y.jpg")
    (yolo / "labels" / "y.txt").write_text(f"0 0.5 0.5 0.2 0.2\n0 {bad} 0.5 0.2 0.2\n")
    coco = tmp_path / "coco"
    _jpg(coco / "images" / "c.jpg")
    (coco / "annotations.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "images/c.jpg"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, float(bad), 5, 5]},
                ],
                "categories": [{"id": 1, "name": "with_mask"}],
            }
        )
    )
    expected = {
        voc: f"{voc / 'bad.xml'}: [bad_annotation] object 1 (with_mask): <ymin>",
        yolo: f"{yolo / 'labels' / 'y.txt'}:2: [bad_annotation] non-finite",
        coco: "annotations[1] (id 2): bbox",
    }
    for folder, line in expected.items():
        res = runner.invoke(app, ["data", "check", str(folder)])
        _no_traceback(res)
        assert res.exit_code == 1 and line in res.output, res.output
        for to in ("coco", "yolo", "voc"):
            out = tmp_path / f"{folder.name}-{to}"
            res = runner.invoke(app, ["data", "convert", str(folder), str(out), "--to", to])
            _no_traceback(res)
            assert res.exit_code == 1 and line in res.output, res.output
            written = "".join(p.read_text() for p in out.rglob("*") if p.suffix in (".json", ".txt", ".xml"))
            assert not re.search(r"(?<![a-z_/])(nan|-?inf(inity)?)(?![a-z_])", written.lower()), written


def test_non_finite_boxes_in_memory_are_problems_not_overflow_errors(tmp_path):
    image = _jpg(tmp_path / "a.jpg")
    ds = Dataset("mem", tmp_path, "voc", [ImageRecord(image, [Box(1, 1, float("inf"), 9, "with_mask")])])
    result = check_dataset(ds, progress=False)
    assert [p.kind for p in result.problems] == ["bad_annotation"]
    target = save_dataset(ds, tmp_path / "out", "voc")
    assert not list((target / "annotations").glob("*.xml")) if (target / "annotations").exists() else True
    assert ds.images == [] and "non-finite" in str(ds.problems[-1])


def test_convert_names_every_image_it_leaves_out(tmp_path):
    """11 images in, 5 with a broken XML: the 5 are named, not silently dropped."""
    d = tmp_path / "voc"
    for i in range(11):
        _jpg(d / f"im{i:02d}.jpg")
        (d / f"im{i:02d}.xml").write_text(_voc_xml(f"im{i:02d}.jpg") if i % 2 == 0 or i > 9 else "<annotation><obj")
    res = runner.invoke(app, ["data", "convert", str(d), str(tmp_path / "out"), "--to", "coco"])
    _no_traceback(res)
    assert res.exit_code == 1
    bad = [f"im{i:02d}.xml" for i in (1, 3, 5, 7, 9)]
    for name in bad:
        assert f"{d / name}: [bad_annotation]" in res.output, res.output
    assert "wrote 6 images" in res.output and "5 problem(s)" in res.output, res.output


# --- item 14: malformed COCO JSON ------------------------------------------------------------

OK_IMAGE = {"id": 1, "file_name": "images/ok.jpg"}
OK_ANN = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([OK_IMAGE], "the top level is a list"),
        ({"images": None, "annotations": [], "categories": []}, '"images" is null'),
        ({"images": [OK_IMAGE], "annotations": {}, "categories": []}, '"annotations" is an object'),
        ({"images": [{"id": "1", "file_name": "images/ok.jpg"}]}, "images[0]: id '1' is not an integer"),
        ({"images": [{"id": 1}]}, "images[0] (id 1): has no file_name"),
        ({"images": [OK_IMAGE], "categories": [{"id": 1}]}, "categories[0] (id 1): has no name"),
        ({"images": [OK_IMAGE], "categories": [{"id": "a", "name": "x"}]}, "categories[0]: id 'a'"),
        (
            {"images": [OK_IMAGE], "annotations": [{**OK_ANN, "bbox": [1, 2]}]},
            "annotations[0] (id 1): bbox [1, 2] is not four finite numbers",
        ),
        (
            {"images": [OK_IMAGE], "annotations": [{**OK_ANN, "bbox": None}]},
            "annotations[0] (id 1): bbox None",
        ),
        ({"images": [OK_IMAGE], "annotations": ["x"]}, "annotations[0]: is a string"),
        ({"images": [OK_IMAGE], "annotations": [{**OK_ANN, "image_id": "1"}]}, "annotations[0] (id 1): unknown"),
    ],
)
def test_malformed_coco_gives_one_line_naming_file_and_entry(tmp_path, doc, expected):
    _jpg(tmp_path / "images" / "ok.jpg")
    if isinstance(doc, dict):
        doc.setdefault("categories", [{"id": 1, "name": "with_mask"}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    res = runner.invoke(app, ["data", "check", str(path)])
    _no_traceback(res)
    assert res.exit_code == 1, res.output
    line = next((x for x in res.output.splitlines() if expected in x), None)
    assert line is not None, res.output
    assert str(path) in line
