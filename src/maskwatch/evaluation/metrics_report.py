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


def markdown_html(md: str) -> str:
    """The HTML of the Markdown :func:`metrics_markdown` writes: headings, bullet lists and
    tables (the first row is the header, the ``|---|`` row is dropped); text is escaped."""
    out: list[str] = []
    table: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            head, *body = table
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
                + "</tbody></table>"
            )
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in md.splitlines():
        text = line.strip()
        if text.startswith("|"):
            cells = [c.strip() for c in text.strip("|").split("|")]
            if not all(set(c) <= set("-:") and c for c in cells):  # not the |---| row
                table.append(cells)
            continue
        if text.startswith("- "):
            items.append(text[2:])
            continue
        flush()
        if text.startswith("## "):
            out.append(f"<h2>{html.escape(text[3:])}</h2>")
        elif text.startswith("# "):
            out.append(f"<h1>{html.escape(text[2:])}</h1>")
        elif text:
            out.append(f"<p>{html.escape(text)}</p>")
    flush()
    return "\n".join(out)


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:auto}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
    "th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
)


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
        f"<!doctype html><meta charset='utf-8'><title>maskwatch evaluation</title><style>{_STYLE}</style>"
        f"<body>{markdown_html(md)}{body}</body>"
    )
    return paths
