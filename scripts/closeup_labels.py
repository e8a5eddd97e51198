"""Close-ups through the whole detector: for every crop of a class-folder set (one face that
fills the picture), is a face found, and is the most confident face's label the folder's?

The one-pass detector never trains on chandrikadeb7's crops, so this measures the close-ups
it missed (issue 13) and the unmasked faces it called ``mask_incorrect`` in the walk-by
video, on thousands of faces instead of six. The two-stage classifier did train on them: its
row is a reference, not a held-out figure.

    python scripts/closeup_labels.py ../shared/datasets/crops/chandrikadeb7 --model one-pass [--profile balanced]
"""

import argparse
import json

import numpy as np

from maskwatch import Detector
from maskwatch.errors import BadInputError
from maskwatch.formats import load_dataset
from maskwatch.labels import LABELS
from maskwatch.progress import track


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("crops", help="a class-folder crop set")
    ap.add_argument("--model", default="one-pass")
    ap.add_argument("--profile", default="balanced")
    ap.add_argument("--out", help="write the figures here as JSON")
    args = ap.parse_args()
    detector = Detector(args.model, profile=args.profile)
    ds = load_dataset(args.crops)
    # rows: true label; columns: predicted label, then "no face"
    table = np.zeros((len(LABELS), len(LABELS) + 1), int)
    for record in track(ds.images, f"close-ups {ds.name}", len(ds.images)):
        if not record.crop_label:
            continue
        try:
            faces = detector.detect(record.path)  # reads it: a broken file is a BadInputError
        except BadInputError as exc:
            print(f"{exc}; skipped")
            continue
        truth = LABELS.index(record.crop_label)
        table[truth, int(faces.class_id[0]) if len(faces) else len(LABELS)] += 1
    result = {"model": detector.model_version, "crops": args.crops, "columns": [*LABELS, "no face"], "rows": {}}
    for i, label in enumerate(LABELS):
        n = int(table[i].sum())
        if n:
            result["rows"][label] = {
                "crops": n,
                "found": round(1 - table[i, -1] / n, 4),
                "right_label": round(table[i, i] / n, 4),
                "counts": table[i].tolist(),
            }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
