"""ONNX export with everything inference needs carried in the model's metadata, checked
against PyTorch, plus a model card (JSON + Markdown)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import torch

from ..labels import LABELS
from ..models.preprocess import MEAN, STD
from .nets import build_model


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = build_model(cfg["model"]["backbone"], len(LABELS), pretrained=False, dropout=cfg["model"]["dropout"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def export_onnx(checkpoint: Path, out: Path, version: str = "0.1.0", extra_meta: dict | None = None) -> dict:
    """Write ``out`` (ONNX) with everything inference needs in its metadata.

    Args:
        checkpoint: a ``best.pt`` from ``maskwatch train``.
        out: the ONNX file to write.
        version: the model version written into the metadata.
        extra_meta: more metadata entries (stringified).

    Returns:
        The metadata, plus ``max_abs_diff_probs`` (the max |ONNX - PyTorch| probability
        difference on a random batch) and ``size_bytes``.
    """
    import onnx
    import onnxruntime as ort

    model, state = load_checkpoint(Path(checkpoint))
    cfg = state["config"]
    size, margin = cfg["data"]["size"], cfg["data"]["margin"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.randn(2, 3, size, size)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    meta = {
        # what the file is: the Detector dispatches on it, so a single-stage face-mask
        # detector can ship later behind the same interface ("kind": "detector")
        "kind": "crop-classifier",
        "name": cfg["name"],
        "version": version,
        "labels": json.dumps(list(LABELS)),
        "input_size": str(size),
        "margin": str(margin),
        "mean": json.dumps(MEAN),
        "std": json.dumps(STD),
        "color": "RGB",
        "box_correction": json.dumps(state.get("box_correction") or [0, 0, 0, 0]),
        "backbone": cfg["model"]["backbone"],
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "epoch": str(state.get("epoch")),
    }
    meta.update({k: str(v) for k, v in (extra_meta or {}).items()})
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))
    # check: the same random batch through both runtimes
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.softmax(model(x), 1).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x.numpy()})[0]
    got = np.exp(logits - logits.max(1, keepdims=True))
    got /= got.sum(1, keepdims=True)
    meta["max_abs_diff_probs"] = float(np.abs(got - expected).max())
    meta["size_bytes"] = out.stat().st_size
    return meta


def export_model(checkpoint: str | Path, out: str | Path, version: str = "0.1.0") -> dict:
    """Export a checkpoint to ONNX and merge the export into the model card beside it.

    The card (``out`` with ``.json``, and its ``.md``) keeps whatever was written there
    before (summary, data, metrics from ``scripts/model_card.py``); ``name``, ``version``
    and ``export`` are replaced.

    Args:
        checkpoint: a ``best.pt`` from ``maskwatch train``.
        out: the ONNX file to write.
        version: the model version written into the metadata and the card.

    Returns:
        The export metadata (:func:`export_onnx`): ``size_bytes``, ``max_abs_diff_probs``...
    """
    out = Path(out)
    meta = export_onnx(Path(checkpoint), out, version)
    card_path = out.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card.update({"name": meta["name"], "version": version, "export": meta})
    write_model_card(card_path, card)
    return meta


#: export metadata shown in the model card, in this order, with what each means
_EXPORT_FIELDS = {
    "kind": "what the file is",
    "name": "model name",
    "version": "model version",
    "labels": "output classes, in order",
    "backbone": "network",
    "input_size": "crop side (pixels)",
    "margin": "margin added around the face box",
    "color": "channel order",
    "mean": "normalisation mean",
    "std": "normalisation std",
    "box_correction": "learned face-box correction (dx1, dy1, dx2, dy2)",
    "epoch": "training epoch exported",
    "exported": "exported at (UTC)",
    "max_abs_diff_probs": "max |ONNX - PyTorch| probability difference",
    "size_bytes": "file size (bytes)",
}


def _export_markdown(export: dict, path_json: Path) -> list[str]:
    """The card's Export section: what the ONNX metadata says, and how to use the model."""

    def cell(value) -> str:
        text = f"{value:.2e}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    keys = [k for k in _EXPORT_FIELDS if k in export] + sorted(k for k in export if k not in _EXPORT_FIELDS)
    onnx_name = path_json.with_suffix(".onnx").name
    return [
        "## Export",
        "",
        "| field | value | meaning |",
        "|---|---|---|",
        *(f"| {k} | {cell(export[k])} | {_EXPORT_FIELDS.get(k, '')} |" for k in keys),
        "",
        "## Use",
        "",
        "```bash",
        f"maskwatch detect --model {onnx_name} IMAGES_OR_VIDEOS",
        f"maskwatch evaluate DATA --model {onnx_name}",
        "```",
        "",
        "The preprocessing and labels above travel in the ONNX file's metadata: no code change is needed to run it.",
        "",
    ]


def write_model_card(path_json: Path, card: dict) -> Path:
    """JSON for machines and Markdown beside it for people."""
    path_json.write_text(json.dumps(card, indent=1))
    lines = [f"# {card.get('name', 'model')} {card.get('version', '')}", "", card.get("summary", ""), ""]
    export = card.get("export")
    if isinstance(export, dict) and export:
        lines += _export_markdown(export, path_json)
    for section in ("model", "data", "training", "reproduce", "metrics", "experiments", "limitations"):
        if section not in card:
            continue
        lines += [f"## {section.capitalize()}", ""]
        value = card[section]
        if isinstance(value, str):
            lines += ["```" if section == "reproduce" else "", value, "```" if section == "reproduce" else "", ""]
        else:
            lines += ["```json", json.dumps(value, indent=1), "```", ""]
    md = path_json.with_suffix(".md")
    md.write_text("\n".join(lines))
    return md
