"""Readers on the real data sets, writers round-tripping, hostile and malformed XML."""

import json

import pytest

from maskwatch.formats import load_dataset, save_dataset
from maskwatch.formats.voc import parse_voc_xml
from maskwatch.labels import UnknownLabelError


def _boxes(ds):
    return {
        r.path.stem: sorted((b.label, round(b.x1), round(b.y1), round(b.x2), round(b.y2)) for b in r.boxes)
        for r in ds.images
    }


def test_voc_reads_andrewmvd_with_splits(andrewmvd):
    train = load_dataset(andrewmvd, split="train")
    val = load_dataset(andrewmvd, split="val")
    assert (len(train), len(val)) == (608, 82)
    counts = load_dataset(andrewmvd).class_counts()
    assert counts["with_mask"] > counts["without_mask"] > counts["mask_incorrect"] > 50  # mask_weared_incorrect mapped
    first = next(r for r in val.images if r.stem == "maksssksksss0")
    assert [b.label for b in first.boxes] == ["without_mask", "with_mask", "without_mask"]
    assert first.boxes[0].as_list() == [79, 105, 109, 142]


def test_yolo_reads_webmask(datasets):
    ds = load_dataset(datasets / "webmask-yolo")
    assert ds.format == "yolo" and len(ds) == 496
    counts = ds.class_counts()
    assert counts["with_mask"] > 500 and counts["without_mask"] > 500 and counts["mask_incorrect"] == 0
    for record in ds.images[:20]:
        for b in record.boxes:
            assert 0 <= b.x1 < b.x2 <= record.width + 1 and 0 <= b.y1 < b.y2 <= record.height + 1


def test_crop_folders(datasets):
    ds = load_dataset(datasets / "crops" / "maskedfacenet")
    assert ds.format == "crops" and ds.class_counts()["mask_incorrect"] == 765


@pytest.mark.parametrize("fmt", ["voc", "yolo", "coco"])
def test_round_trip_through_each_format(andrewmvd, tmp_path, fmt):
    src = load_dataset(andrewmvd, split="val")
    src.images = src.images[:15]
    target = save_dataset(src, tmp_path / fmt, fmt)
    back = load_dataset(target)
    assert back.format == fmt and len(back) == 15
    assert _boxes(back) == _boxes(src)


def test_coco_json_is_valid_for_pycocotools(andrewmvd, tmp_path):
    pycoco = pytest.importorskip("pycocotools.coco")
    src = load_dataset(andrewmvd, split="val")
    path = save_dataset(src, tmp_path, "coco", copy_images=False)
    coco = pycoco.COCO(str(path))
    assert len(coco.getImgIds()) == 82
    assert {c["name"] for c in json.loads(path.read_text())["categories"]} == {
        "with_mask",
        "without_mask",
        "mask_incorrect",
    }


def test_filename_tag_is_ignored_stems_pair_files(andrewmvd, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images" / "renamed.jpg").write_bytes((andrewmvd / "images" / "maksssksksss0.jpg").read_bytes())
    xml = (andrewmvd / "annotations" / "maksssksksss0.xml").read_text()
    (tmp_path / "annotations" / "renamed.xml").write_text(xml.replace("maksssksksss0.jpg", "old-name.png"))
    ds = load_dataset(tmp_path)
    assert len(ds) == 1 and ds.images[0].path.name == "renamed.jpg" and len(ds.images[0].boxes) == 3


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><object><name>&lol3;</name></object></annotation>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><object><name>&xxe;</name></object></annotation>"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_hostile_xml_is_refused(tmp_path, text):
    path = tmp_path / "evil.xml"
    path.write_text(text)
    with pytest.raises(ValueError, match="hostile"):
        parse_voc_xml(path)


def test_malformed_xml_and_unknown_class_are_reported_not_fatal(andrewmvd, tmp_path):
    for name in ("good", "broken", "helmet"):
        (tmp_path / f"{name}.jpg").write_bytes((andrewmvd / "images" / "maksssksksss0.jpg").read_bytes())
    xml = (andrewmvd / "annotations" / "maksssksksss0.xml").read_text()
    (tmp_path / "good.xml").write_text(xml)
    (tmp_path / "broken.xml").write_text(xml[:200])
    (tmp_path / "helmet.xml").write_text(xml.replace("<name>with_mask</name>", "<name>helmet</name>"))
    ds = load_dataset(tmp_path)
    assert [r.stem for r in ds.images] == ["good"]
    kinds = {p.kind: p for p in ds.problems}
    assert "broken.xml" in kinds["bad_annotation"].path
    assert "helmet" in kinds["unknown_class"].message and "helmet.xml" in kinds["unknown_class"].message
    with pytest.raises(UnknownLabelError, match="helmet"):
        parse_voc_xml(tmp_path / "helmet.xml")
