"""`data check` finds each defect it promises, and passes a clean data set."""

import shutil

from typer.testing import CliRunner

from maskwatch.cli import app
from maskwatch.data.check import check_dataset
from maskwatch.data.split import split_dataset
from maskwatch.formats import load_dataset


def _voc(andrewmvd, folder, stems):
    folder.mkdir(parents=True, exist_ok=True)
    for s in stems:
        shutil.copy(andrewmvd / "images" / f"{s}.jpg", folder / f"{s}.jpg")
        shutil.copy(andrewmvd / "annotations" / f"{s}.xml", folder / f"{s}.xml")


def test_each_defect_is_found(andrewmvd, tmp_path):
    stems = (andrewmvd / "splits" / "train.txt").read_text().split()[:5]
    _voc(andrewmvd, tmp_path / "d", stems)
    d = tmp_path / "d"
    s0, s1, s2, s3, s4 = stems
    (d / f"{s1}.jpg").unlink()  # missing image (XML left alone)
    data = (d / f"{s2}.jpg").read_bytes()
    (d / f"{s2}.jpg").write_bytes(data[: len(data) // 3])  # truncated
    xml = (d / f"{s3}.xml").read_text()
    xml = xml.replace("<xmax>", "<xmax>9", 1)  # first box now ends far outside the image
    (d / f"{s3}.xml").write_text(xml)
    xml = (d / f"{s4}.xml").read_text()
    start = xml.index("<xmin>") + len("<xmin>")
    end = xml.index("</xmin>")
    xml = xml[:start] + "5000" + xml[end:]  # xmin > xmax: empty box
    (d / f"{s4}.xml").write_text(xml)
    shutil.copy(d / f"{s0}.jpg", d / "copy_of_0.jpg")  # duplicate
    shutil.copy(d / f"{s0}.xml", d / "copy_of_0.xml")
    (d / "extra.jpg").write_bytes((andrewmvd / "images" / "maksssksksss0.jpg").read_bytes())
    (d / "extra.xml").write_text(
        (andrewmvd / "annotations" / "maksssksksss0.xml")
        .read_text()
        .replace("<name>with_mask</name>", "<name>helmet</name>")
    )
    other = tmp_path / "other"
    _voc(andrewmvd, other, [s0])

    result = check_dataset(load_dataset(d), [load_dataset(other)])
    kinds = result.by_kind()
    for kind in (
        "missing_image",
        "unreadable_image",
        "box_outside_image",
        "empty_box",
        "duplicate_image",
        "duplicate_across_splits",
        "unknown_class",
    ):
        assert kinds.get(kind), f"{kind} not reported: {result.lines()}"
    assert any(f"{s2}.jpg" in p.path and "truncated" in p.message for p in result.problems)

    runner = CliRunner()
    report = tmp_path / "report.json"
    res = runner.invoke(app, ["data", "check", str(d), "--report", str(report)])
    assert res.exit_code == 1 and report.exists() and "empty_box" in res.output


def test_real_split_reports_only_its_known_duplicate_pairs(andrewmvd):
    """The release has 5 identical pairs (README quirk); nothing else is wrong with val."""
    result = check_dataset(load_dataset(andrewmvd, split="val"))
    assert result.images == 82
    assert result.problems and {p.kind for p in result.problems} == {"duplicate_image"}


def test_split_is_deterministic_stratified_and_keeps_duplicates_together(andrewmvd):
    ds = load_dataset(andrewmvd)
    a = split_dataset(ds, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=1)
    b = split_dataset(ds, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=1)
    assert a == b
    assert sum(len(v) for v in a.values()) == len(ds)
    for name in ("val", "test"):
        part = ds.subset(set(a[name]))
        assert part.class_counts()["mask_incorrect"] > 0, name
        assert 0.05 < len(a[name]) / len(ds) < 0.15
    from maskwatch.data.split import content_hash

    where = {}
    for name, stems in a.items():
        for r in ds.subset(set(stems)).images:
            digest = content_hash(r.path)
            assert where.setdefault(digest, name) == name  # the 5 duplicate pairs share a split
