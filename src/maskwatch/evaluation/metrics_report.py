"""Evaluation reports: JSON for machines, Markdown and HTML (with PR curves) for people."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from .coco_eval import STAT_NAMES


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table's lines; cells are written as given (format numbers first)."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def metrics_markdown(results: dict) -> str:
    lines = [f"# Evaluation: {results.get('dataset', '')}", ""]
    meta = {k: results[k] for k in ("model", "profile", "images", "min_score", "face_recall50") if k in results}
    lines += [f"- {k}: {_fmt(v)}" for k, v in meta.items()] + [""]
    for key in ("three_class", "two_class"):
        if key not in results:
            continue
        r = results[key]
        s = r["stats"]
        lines += [
            f"## {r['classes']}-class",
            "",
            *markdown_table(
                ["mAP@[.5:.95]", "mAP@.5", "mAP@.75", "small", "medium", "large", "AR@1", "AR@10", "AR@100"],
                [[_fmt(s[k]) for k in STAT_NAMES[:9]]],  # the AR by size are in the JSON
            ),
            "",
            *markdown_table(
                ["class", "faces", "AP@[.5:.95]", "AP@.5", "AP@.75"],
                [
                    [label, c["gt"], _fmt(c["AP"]), _fmt(c["AP50"]), _fmt(c["AP75"])]
                    for label, c in r["per_class"].items()
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def pr_curve_png(results: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5, 4))
    recall = [i / 100 for i in range(101)]
    for label, curve in results["three_class"]["pr_curves"].items():
        ax.plot(
            recall,
            [max(p, 0) for p in curve],
            label=f"{label} (AP50 {results['three_class']['per_class'][label]['AP50']:.2f})",
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("PR curves at IoU 0.5")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: dict, out: Path, images: list[Path] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "markdown": out / "report.md", "html": out / "report.html"}
    clean = {k: v for k, v in results.items()}
    paths["json"].write_text(json.dumps(clean, indent=1, default=str))
    md = metrics_markdown(results)
    paths["markdown"].write_text(md)
    pictures = list(images or [])
    if "three_class" in results:
        png = pr_curve_png(results, out / "pr_curves.png")
        if png:
            pictures.insert(0, png)
    body = "".join(
        f"<img src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}' style='max-width:100%'><br>"
        for p in pictures
        if p.exists()
    )
    paths["html"].write_text(
        f"<!doctype html><meta charset='utf-8'><title>maskwatch evaluation</title>"
        f"<body style='font-family:sans-serif;max-width:60em;margin:auto'>"
        f"<pre>{html.escape(md)}</pre>{body}</body>"
    )
    return paths
