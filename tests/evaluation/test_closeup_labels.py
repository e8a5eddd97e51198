"""scripts/closeup_labels.py: close-up crops through a whole detector, each crop's most
confident face counted against the crop's folder, and a broken crop named and skipped."""

import json
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]


def test_closeup_labels_counts_each_crop_once_and_skips_a_broken_one(datasets, tmp_path):
    crops = tmp_path / "crops"
    for label in ("with_mask", "without_mask"):
        (crops / label).mkdir(parents=True)
        for f in sorted((datasets / "crops" / "chandrikadeb7" / label).glob("*.jpg"))[:4]:
            (crops / label / f.name).write_bytes(f.read_bytes())
    (crops / "without_mask" / "cut short.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    # a training photo that is one more crop again, smaller and re-encoded: --not-in drops it
    seen = tmp_path / "training photos"
    seen.mkdir()
    again = sorted((datasets / "crops" / "chandrikadeb7" / "with_mask").glob("*.jpg"))[4]
    image = cv2.imread(str(again))
    cv2.imwrite(str(seen / "copy.jpg"), cv2.resize(image, None, fx=0.7, fy=0.7), [cv2.IMWRITE_JPEG_QUALITY, 60])
    (crops / "with_mask" / again.name).write_bytes(again.read_bytes())
    # as they are, and (--paste) shown the way the walk-by video shows people: 110 px faces in
    # the middle of an empty 640 x 480 scene
    for paste in ((), ("--paste", "110")):
        out = tmp_path / f"closeups{len(paste)}.json"
        run = subprocess.run(
            [
                *(sys.executable, "scripts/closeup_labels.py", str(crops), "--model", "two-stage", "--out", str(out)),
                *("--not-in", str(seen), *paste),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert "cut short.jpg" in run.stdout and "Traceback" not in run.stderr
        result = json.loads(out.read_text())
        assert result["paste"] == (110 if paste else None)
        assert result["not_in"]["dropped"] == {"with_mask": 1}
        assert result["columns"] == ["with_mask", "without_mask", "mask_incorrect", "no face"]
        for label in ("with_mask", "without_mask"):
            row = result["rows"][label]
            assert row["crops"] == sum(row["counts"]) == 4
            # CenterFace as shipped finds 91-96% of these close-ups (README), and 90-99% of
            # them pasted; its classifier trained on them
            assert row["found"] >= 0.75 and row["right_label"] >= 0.5, (paste, label, row)
