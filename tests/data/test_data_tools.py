"""convert (incl. TFRecord), stats, crop, synth, prelabel and capture on real data."""

import json
import shutil

import cv2
import numpy as np
from typer.testing import CliRunner
from videos import make_video

from maskwatch.cli import app
from maskwatch.formats import load_dataset
from maskwatch.formats.tfrecord import crc32c, example_to_record, read_tfrecord

runner = CliRunner()


def test_crc32c_known_vector():
    assert crc32c(b"123456789") == 0xE3069283


def test_tfrecord_and_label_map(andrewmvd, tmp_path):
    res = runner.invoke(
        app, ["data", "convert", str(andrewmvd), str(tmp_path / "tf"), "--to", "tfrecord", "--split", "val"]
    )
    assert res.exit_code == 0, res.output
    examples = list(read_tfrecord(tmp_path / "tf" / "data.tfrecord"))
    assert len(examples) == 82
    src = {r.path.name: r for r in load_dataset(andrewmvd, split="val").images}
    for ex in examples[:10]:
        back = example_to_record(ex, andrewmvd / "images")
        orig = src[back.path.name]
        assert ex["image/encoded"][0] == orig.path.read_bytes()
        assert [b.label for b in back.boxes] == [b.label for b in orig.boxes]
        assert np.allclose([b.as_list() for b in back.boxes], [b.as_list() for b in orig.boxes], atol=0.01)
        assert ex["image/object/class/label"] == [
            ("with_mask", "without_mask", "mask_incorrect").index(b.label) + 1 for b in orig.boxes
        ]
    pbtxt = (tmp_path / "tf" / "label_map.pbtxt").read_text()
    assert "id: 1\n  name: 'with_mask'" in pbtxt and "id: 3\n  name: 'mask_incorrect'" in pbtxt


def test_convert_cli_voc_to_yolo(andrewmvd, tmp_path):
    res = runner.invoke(app, ["data", "convert", str(andrewmvd), str(tmp_path / "y"), "--to", "yolo", "--split", "val"])
    assert res.exit_code == 0
    back = load_dataset(tmp_path / "y")
    assert back.class_counts() == load_dataset(andrewmvd, split="val").class_counts()


def test_stats_histogram(andrewmvd, tmp_path):
    res = runner.invoke(app, ["data", "stats", str(andrewmvd), "--split", "val", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "mask_incorrect" in res.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["images"] == 82 and sum(stats["face_side_px"]["counts"]) == sum(stats["faces_per_class"].values())
    assert stats["face_side_px"]["median"] < 40  # this set is mostly small faces
    assert cv2.imread(str(tmp_path / "face_sizes.png")) is not None


def test_crop_cli_into_class_folders(andrewmvd, tmp_path):
    res = runner.invoke(app, ["data", "crop", str(andrewmvd), str(tmp_path / "c"), "--split", "val", "--size", "96"])
    assert res.exit_code == 0, res.output
    written = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(written) == {"with_mask", "without_mask", "mask_incorrect"}
    crop = cv2.imread(str(next((tmp_path / "c" / "without_mask").glob("*.jpg"))))
    assert crop.shape == (96, 96, 3)
    summary = json.loads((tmp_path / "c" / "crops.json").read_text())
    assert summary["pairs"] > 100 and len(summary["box_correction"]) == 4


def test_synth_masks_change_only_the_lower_face(datasets, tmp_path):
    from maskwatch.data.synth import synthesize
    from maskwatch.models.face_detector import CenterFace

    ds = load_dataset(datasets / "prajnasb-voc", split="test")
    result = synthesize(ds, CenterFace("balanced"), tmp_path, max_faces=12, seed=3)
    assert result["faces"] == 12 and sum(result["written"].values()) == 12
    assert cv2.imread(result["contact_sheet"]).shape[0] > 100
    from maskwatch.data.synth import draw_mask

    det = CenterFace("balanced")
    image = cv2.imread(str(ds.images[0].path))
    f = det(image)
    box, lm = f.boxes[0], f.landmarks[0]
    out = draw_mask(image, lm, box, "black_cloth", "correct", np.random.default_rng(0))
    changed = np.abs(out.astype(int) - image.astype(int)).sum(2) > 30
    ys, xs = np.nonzero(changed)
    assert len(ys) > 0.1 * (box[2] - box[0]) * (box[3] - box[1])
    assert ys.min() > lm[0][1] and ys.min() < lm[2][1]  # the mask starts between the eyes and the nose tip
    chin = draw_mask(image, lm, box, "black_cloth", "on_chin", np.random.default_rng(0))
    ys_chin = np.nonzero(np.abs(chin.astype(int) - image.astype(int)).sum(2) > 30)[0]
    assert ys_chin.min() > (lm[3][1] + lm[4][1]) / 2  # on the chin: below the mouth


def test_prelabel_writes_voc_that_reads_back(val_images, tmp_path):
    for p in val_images[:3]:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "bad.jpg").write_text("nope")
    res = runner.invoke(app, ["data", "prelabel", str(tmp_path)])
    assert res.exit_code == 1 and "bad.jpg" in res.output  # reported, the rest written
    ds = load_dataset(tmp_path)
    # each photo gets exactly the faces the default model is sure of at `accurate` (none: no file)
    from maskwatch import Detector
    from maskwatch.defaults import PRELABEL_MIN_SCORE

    detector = Detector(profile="accurate")
    sure = {p.name: len(detector.detect(cv2.imread(str(p))).above(PRELABEL_MIN_SCORE)) for p in val_images[:3]}
    assert sum(n > 0 for n in sure.values()) >= 2  # (else this test checks little)
    assert {r.path.name: len(r.boxes) for r in ds.images if r.boxes} == {k: n for k, n in sure.items() if n}
    # a human's corrections are never overwritten
    xml = tmp_path / f"{val_images[0].stem}.xml"
    xml.write_text(xml.read_text().replace("<database>maskwatch</database>", "<database>edited</database>"))
    runner.invoke(app, ["data", "prelabel", str(tmp_path)])
    assert "edited" in xml.read_text()


def test_capture_every_n_seconds_from_a_video(val_images, tmp_path):
    video = make_video(val_images[:5], tmp_path / "v.mp4", frames_each=4, fps=10)  # 2 s
    res = runner.invoke(app, ["data", "capture", str(video), str(tmp_path / "cap"), "--every", "0.5"])
    assert res.exit_code == 0, res.output
    saved = sorted((tmp_path / "cap").glob("*.jpg"))
    assert len(saved) == 4 and cv2.imread(str(saved[0])).shape == (480, 640, 3)
