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


def read_checkpoint(checkpoint: str | Path | dict) -> dict:
    """A ``maskwatch train`` checkpoint's contents (a dict already read passes through, so
    :func:`export_model` reads the file once). A missing file, or one that is not a
    checkpoint with its training config, is a ModelError naming it."""
    if isinstance(checkpoint, dict):
        return checkpoint
    from ..errors import ModelError
    from ..images import shown_path

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise ModelError(f"{shown_path(checkpoint)}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a file that is not a checkpoint
        raise ModelError(f"{shown_path(checkpoint)}: not a maskwatch checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "model" not in state:
        raise ModelError(f"{shown_path(checkpoint)}: not a maskwatch checkpoint (no model and training config)")
    return state


def load_checkpoint(checkpoint: str | Path | dict) -> tuple[torch.nn.Module, dict]:
    state = read_checkpoint(checkpoint)
    cfg = state["config"]
    model = build_model(cfg["model"]["backbone"], len(LABELS), pretrained=False, dropout=cfg["model"]["dropout"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def write_metadata(path: Path, meta: dict[str, str]) -> None:
    """Rewrite the ONNX file at ``path`` with ``meta`` as its only metadata (what the runtime
    reads: kind, labels, preprocessing) and its weights as initializers only."""
    import onnx

    from ..models.runtime import weights_as_initializers

    proto = onnx.load(str(path))
    weights_as_initializers(proto)
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))


def export_onnx(checkpoint: Path | dict, out: Path, version: str = "0.1.0", extra_meta: dict | None = None) -> dict:
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
    import onnxruntime as ort

    model, state = load_checkpoint(checkpoint)
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
    write_metadata(out, meta)
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


def export_onepass(checkpoint: Path | dict, out: Path, version: str = "0.1.0", image=None) -> dict:
    """Write the one-pass detector of ``checkpoint`` (``task: detector``) as ONNX: input
    ``input`` (RGB float 0..255 NCHW, any size that is a multiple of 32), outputs
    :data:`~maskwatch.models.onepass.OUTPUTS`, weights as initializers only (so ONNX Runtime
    may fold them), and metadata the runtime reads (kind, labels, stride, preprocessing).

    Args:
        checkpoint: a ``best.pt`` from ``maskwatch train`` with ``task: detector``.
        out: the ONNX file to write.
        version: the model version in the metadata.
        image: a BGR photo to compare ONNX Runtime with PyTorch on (default: random).

    Returns:
        The metadata, plus ``max_abs_diff_probs`` (largest |ONNX - PyTorch| difference over
        every output: heatmap, class probabilities, box size and offset, landmarks) and
        ``size_bytes``.
    """
    import onnxruntime as ort

    from ..models.onepass import KIND, OUTPUTS
    from .onepass_net import OnePassNet

    state = read_checkpoint(checkpoint)
    cfg = state["config"]
    model = OnePassNet()
    model.load_state_dict(state["model"])
    model.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 320, 320),),
        str(out),
        input_names=["input"],
        output_names=list(OUTPUTS),
        dynamic_axes={
            "input": {0: "batch", 2: "height", 3: "width"},
            **{o: {0: "batch", 2: "h", 3: "w"} for o in OUTPUTS},
        },
        opset_version=17,
        dynamo=False,
        # batch norm stays a node, so every weight keeps its PyTorch name and the file can be
        # fine-tuned (detector.init, read_onepass_onnx); ONNX Runtime folds it into the convs
        # when it loads the file, so inference costs the same
        do_constant_folding=False,
    )
    meta = {
        "kind": KIND,
        "name": cfg["name"],
        "version": version,
        "labels": json.dumps(list(LABELS)),
        "input": "RGB float 0..255, NCHW, sides a multiple of 32",
        "stride": "4",
        "outputs": json.dumps(list(OUTPUTS)),
        "box_correction": json.dumps([0, 0, 0, 0]),
        "backbone": "centerface (mobilenet_v2, WIDER FACE) + class head",
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "epoch": str(state.get("epoch")),
        "train_patch": str(cfg["detector"]["patch"]),
    }
    write_metadata(out, meta)
    if image is None:
        x = torch.rand(1, 3, 256, 320, generator=torch.Generator().manual_seed(0)) * 255
    else:
        from ..models.face_detector import PROFILES, fit_blob

        x = torch.from_numpy(fit_blob(image, PROFILES["balanced"])[0])
    with torch.no_grad():
        expected = [t.numpy() for t in model(x)]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUTS), {"input": x.numpy()})
    meta["max_abs_diff_probs"] = float(max(np.abs(a - b).max() for a, b in zip(got, expected)))
    meta["size_bytes"] = out.stat().st_size
    return meta


def read_onepass_onnx(path: str | Path, model: torch.nn.Module) -> dict:
    """The weights of a one-pass detector ONNX that ``maskwatch export`` wrote, as a state
    dict for ``model`` (an ``OnePassNet``), so the shipped model, or anyone's exported one, can
    be fine-tuned on new photos without its ``best.pt`` (``detector.init: one-pass``). Export
    keeps each weight under its PyTorch name; a file whose weights were folded or renamed
    (an older export, or another tool's) is a ModelError naming it."""
    import onnx
    from onnx import numpy_helper

    from ..errors import ModelError
    from ..images import shown_path
    from ..models.onepass import KIND

    try:
        proto = onnx.load(str(path))
    except FileNotFoundError:
        raise ModelError(f"{shown_path(path)}: no such model file") from None
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds for a file that is not ONNX
        raise ModelError(f"{shown_path(path)}: not an ONNX model ({type(exc).__name__})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if meta.get("kind") != KIND:
        raise ModelError(f"{shown_path(path)}: not a one-pass detector (kind {meta.get('kind')!r}, want {KIND!r})")
    weights = {init.name: init for init in proto.graph.initializer}
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelError(
            f"{shown_path(path)}: its weights lost their names at export ({len(missing)} of {len(state)}, "
            f"e.g. {missing[0]}; an older export, or another tool's): fine-tune from its best.pt, or export that again"
        )
    for name in state:
        if name in weights:
            state[name] = torch.from_numpy(numpy_helper.to_array(weights[name]).copy())
    return state


def calibration_photos(config: dict, count: int = 32) -> list[Path]:
    """``count`` training photos spread evenly over a run's training sources (INT8
    calibration never sees evaluation photos)."""
    from ..formats import load_dataset

    per_source = [
        [im.path for im in load_dataset(s["path"], split=s.get("split")).images if im.boxes]
        for s in config["data"]["train"]
    ]
    share = max(1, count // max(len(per_source), 1))
    return [
        paths[i] for paths in per_source for i in np.linspace(0, len(paths) - 1, min(share, len(paths))).astype(int)
    ]


def export_model(checkpoint: str | Path, out: str | Path, version: str = "0.1.0", int8: bool = False) -> dict:
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
    state = read_checkpoint(checkpoint)
    config = state["config"]
    task = config.get("task", "classifier")
    if int8 and task != "detector":
        from ..errors import ConfigError

        raise ConfigError("--int8: only the one-pass detector (task: detector) has an INT8 export")
    meta = (export_onepass if task == "detector" else export_onnx)(state, out, version)
    if int8:
        from ..images import read_image
        from .quantize import max_difference, quantize_onepass

        photos = calibration_photos(config)
        int8_path = quantize_onepass(out, out.with_suffix(".int8.onnx"), photos)
        diff = max_difference(out, int8_path, [read_image(p) for p in photos[:8]])
        meta["int8"] = {"path": str(int8_path), "size_bytes": int8_path.stat().st_size, "max_difference": diff}
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
    "input": "network input",
    "stride": "output stride (pixels per heatmap cell)",
    "outputs": "network outputs, in order",
    "train_patch": "training patch side (pixels)",
    "margin": "margin added around the face box",
    "color": "channel order",
    "mean": "normalisation mean",
    "std": "normalisation std",
    "box_correction": "learned face-box correction (dx1, dy1, dx2, dy2)",
    "epoch": "training epoch exported",
    "exported": "exported at (UTC)",
    "max_abs_diff_probs": "max |ONNX - PyTorch| difference (probabilities; every output for a detector)",
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
