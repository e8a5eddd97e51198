"""The training report: curves as PNG and one HTML page that embeds them."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path


def _cell(value) -> str:
    """A table cell: floats to 4 significant digits, so a learning rate of 3e-06 is not 0.0."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_training_report(run: Path) -> Path:
    run = Path(run)
    history = json.loads((run / "history.json").read_text())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    if "val_loss" in history[0]:
        axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set_title("loss")
    # the classifier's accuracies, or the detector's validation mAP (3- and 2-class)
    scores = [k for k in history[0] if k in ("train_acc", "val_acc", "val_balanced_acc") or "val_map" in k]
    for key in scores:
        axes[1].plot(epochs, [h[key] for h in history], label=key)
    axes[1].set_title("validation mAP" if any("val_map" in k for k in scores) else "accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = run / "curves.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in h.values()) + "</tr>" for h in history)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in history[0])
    config = html.escape((run / "config.json").read_text()) if (run / "config.json").exists() else ""
    page = run / "report.html"
    page.write_text(
        f"<!doctype html><meta charset='utf-8'><title>maskwatch training</title>"
        f"<body style='font-family:sans-serif;max-width:70em;margin:auto'><h1>Training run {run}</h1>"
        f"<img style='max-width:100%' src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>"
        f"<table border=1 cellpadding=4><tr>{head}</tr>{rows}</table><h2>Config</h2><pre>{config}</pre>"
    )
    return page
