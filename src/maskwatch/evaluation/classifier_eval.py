"""Classifier metrics on face crops: precision/recall/F1 per class, a confusion matrix PNG,
and the crops it got wrong as a contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from ..formats.dataset import Dataset
from ..images import read_image
from ..labels import LABELS
from ..models.preprocess import crop_face
from ..progress import track
from ..sheets import contact_sheet
from .metrics_report import markdown_table


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    k = len(LABELS)
    cm = np.zeros((k, k), int)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    per_class = {}
    for i, label in enumerate(LABELS):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else float("nan")
        recall = tp / cm[i].sum() if cm[i].sum() else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
        per_class[label] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(cm[i].sum()),
        }
    present = [i for i in range(k) if cm[i].sum()]
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "balanced_accuracy": float(np.mean([cm[i, i] / cm[i].sum() for i in present])) if present else 0.0,
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(LABELS),
    }


def confusion_png(cm: list[list[int]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = np.array(cm)
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(arr, cmap="Blues")
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            ax.text(
                j, i, str(arr[i, j]), ha="center", va="center", color="white" if arr[i, j] > arr.max() / 2 else "black"
            )
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=20)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate_classifier(
    classifier, ds: Dataset, out: Path | None = None, progress: bool | None = None, max_wrong: int = 64
) -> dict:
    """Ground-truth boxes (or whole crop images) through the classifier alone."""
    crops, truth = [], []
    for record in track(ds.images, f"crops {ds.name}", len(ds.images), progress):
        try:
            image = read_image(record.path)
        except BadInputError:
            continue
        if record.crop_label:
            crops.append(cv2.resize(image, (classifier.info.size,) * 2, interpolation=cv2.INTER_AREA))
            truth.append(LABELS.index(record.crop_label))
        for b in record.boxes:
            crops.append(crop_face(image, b.as_list(), classifier.info.size, classifier.info.margin))
            truth.append(LABELS.index(b.label))
    probs = (
        np.concatenate([classifier.predict_crops(crops[i : i + 64]) for i in range(0, len(crops), 64)])
        if crops
        else np.zeros((0, 3))
    )
    y_true, y_pred = np.array(truth, int), probs.argmax(1) if len(probs) else np.zeros(0, int)
    metrics = classification_metrics(y_true, y_pred)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        metrics["confusion_png"] = str(confusion_png(metrics["confusion"], out / "confusion.png"))
        wrong = np.nonzero(y_true != y_pred)[0][:max_wrong]
        sheet = contact_sheet(
            [crops[i] for i in wrong], [f"{LABELS[y_true[i]][:7]}>{LABELS[y_pred[i]][:9]}" for i in wrong]
        )
        cv2.imwrite(str(out / "wrong.png"), sheet)
        metrics["wrong_png"] = str(out / "wrong.png")
        (out / "classifier_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def format_classification(metrics: dict) -> str:
    lines = [
        f"accuracy {metrics['accuracy']:.3f}, balanced accuracy {metrics['balanced_accuracy']:.3f}",
        "",
        *markdown_table(
            ["class", "precision", "recall", "F1", "support"],
            [
                [k, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v["support"]]
                for k, v in metrics["per_class"].items()
            ],
        ),
    ]
    lines += ["", "confusion (rows: true, columns: predicted, order " + ", ".join(metrics["labels"]) + ")"]
    lines += ["  " + " ".join(f"{n:5d}" for n in row) for row in metrics["confusion"]]
    return "\n".join(lines)
