"""Training the one-pass detector (``maskwatch train`` with ``task: detector``): the same
seeded, resumable, early-stopping loop as the classifier's, logged to TensorBoard, JSON and
the HTML report, validated by pycocotools mAP on real photos after every ``steps_per_epoch``
steps. Picks CUDA when there is one."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..defaults import EVALUATION_MIN_SCORE
from ..detections import Detections
from ..errors import ConfigError, ModelError
from ..progress import track
from .config import TrainConfig
from .loop import Run, TrainResult, seed_everything
from .onepass_data import PatchDataset, SceneSet, load_scenes, sampling_weights
from .onepass_net import OnePassNet, onepass_loss

#: a validation data set, its decoded photos and its COCO ground truths by number of classes
ValidationSet = tuple  # (Dataset, list[np.ndarray], dict[int, dict])


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict(model: OnePassNet, images, profile: str, threshold: float = EVALUATION_MIN_SCORE) -> list[Detections]:
    """The network's faces on BGR images, sized and decoded exactly as at run time
    (:class:`~maskwatch.models.onepass.OnePassFaces`), before ONNX export."""
    from ..models.face_detector import PROFILES, fit_blob
    from ..models.onepass import decode_onepass

    model.eval()
    dev = next(model.parameters()).device
    out = []
    for image in images:
        blob, scale = fit_blob(image, PROFILES[profile])
        outputs = [t.cpu().numpy() for t in model(torch.from_numpy(blob).to(dev))]
        faces, probs = decode_onepass(outputs, scale, image.shape[1::-1], threshold, PROFILES[profile].nms_iou)
        out.append(Detections.from_scores(faces.boxes, faces.scores, probs, faces.landmarks))
    return out


def validate(model: OnePassNet, val: list[ValidationSet], profile: str) -> dict:
    """3-class and 2-class COCO metrics (pycocotools) on the validation data sets."""
    from ..evaluation.coco_eval import class_rows, coco_metrics

    row: dict = {}
    for ds, images, truths in val:
        preds = [class_rows(d, EVALUATION_MIN_SCORE) for d in predict(model, images, profile)]
        for classes in (3, 2):
            m = coco_metrics(truths[classes], preds, classes)
            prefix = "" if len(val) == 1 else f"{ds.name}/"
            row[f"{prefix}val_map50_{classes}c"] = round(m["stats"]["mAP50"], 4)
            row[f"{prefix}val_map_{classes}c"] = round(m["stats"]["mAP"], 4)
    return row


def _scenes(cfg: TrainConfig, progress: bool | None) -> SceneSet:
    """The training photos with the teacher's landmarks, cached per source under
    ``data.cache`` (the teacher pass is most of the set-up time): a run that leaves a source
    out, or adds one, reads the others from the cache."""
    out = SceneSet()
    for n, src in enumerate(cfg.data.train):
        key = json.dumps([src.path, src.split, src.max_faces, cfg.detector.cache_side, src.label_map])
        folder = Path(cfg.data.cache) / f"scenes-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        part = read_scene_cache(folder)
        if part is None:
            part = load_scenes([src], cfg.detector.cache_side, progress)
            write_scene_cache(part, folder)
        for scene in part.scenes:
            scene.source = n
        out.scenes += part.scenes
        out.sources += part.sources
        out.skipped += part.skipped
        out.box_style.update(part.box_style)
    return out


def write_scene_cache(scenes: SceneSet, folder: Path) -> None:
    """The resized photos as PNG (lossless) and their faces as JSON in ``folder``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, s in enumerate(scenes.scenes):
        cv2.imwrite(str(folder / f"{i:05d}.png"), s.image)
        rows.append(
            {
                "file": f"{i:05d}.png",
                "name": s.name,
                "boxes": s.boxes.tolist(),
                "labels": s.labels.tolist(),
                "landmarks": np.nan_to_num(s.landmarks, nan=-1e9).tolist(),
            }
        )
    info = {"sources": scenes.sources, "skipped": scenes.skipped, "box_style": scenes.box_style, "scenes": rows}
    (folder / "scenes.json").write_text(json.dumps(info))


def read_scene_cache(folder: Path) -> SceneSet | None:
    """What :func:`write_scene_cache` wrote, or None when there is none or it is unusable."""
    from ..errors import BadInputError
    from ..images import read_image
    from .onepass_data import Scene

    index = folder / "scenes.json"
    if not index.exists():
        return None
    try:
        info = json.loads(index.read_text())
        scenes = SceneSet(sources=info["sources"], skipped=info["skipped"], box_style=info["box_style"])
        for row in info["scenes"]:
            marks = np.array(row["landmarks"], np.float32).reshape(-1, 5, 2)
            marks[marks < -1e8] = np.nan
            scenes.scenes.append(
                Scene(
                    read_image(folder / Path(row["file"]).name),
                    np.array(row["boxes"], np.float32).reshape(-1, 4),
                    np.array(row["labels"], np.int64),
                    marks,
                    0,
                    row["name"],
                )
            )
        return scenes
    except (OSError, ValueError, KeyError, TypeError, BadInputError) as exc:
        print(f"{index}: unusable cache ({exc.__class__.__name__}: {exc}); reading the photos again", flush=True)
        return None


def _val_sets(cfg: TrainConfig) -> list[ValidationSet]:
    """The validation sets, their photos decoded and their ground truths built once for the
    whole run (every epoch validates on them)."""
    from ..evaluation.coco_eval import ground_truth
    from ..formats import load_dataset
    from ..images import read_image
    from .prepare import source_mapping

    out = []
    for s in cfg.data.val:
        ds = load_dataset(s.path, split=s.split, mapping=source_mapping(s))
        out.append((ds, [read_image(r.path) for r in ds.images], {c: ground_truth(ds, c) for c in (3, 2)}))
    return out


def _collate(items):
    xs = torch.stack([x for x, _ in items])
    targets = {k: torch.stack([t[k] for _, t in items]) for k in items[0][1]}
    return xs, targets


def _init_weights(path: str, model: torch.nn.Module) -> dict:
    """The weights for ``model`` that ``detector.init`` names: a ``best.pt``/``last.pt`` of a
    detector run, an exported one-pass ONNX, or ``one-pass`` (the shipped model); else one
    clear line."""
    from ..models.shipped import model_path
    from .export import read_checkpoint, read_onepass_onnx

    path = model_path(path)
    try:
        if path.suffix.lower() == ".onnx":
            return read_onepass_onnx(path, model)
        state = read_checkpoint(path)
    except ModelError as exc:
        raise ConfigError(f"detector.init: {exc}") from None
    if state["config"].get("task") != "detector":
        raise ConfigError(f"detector.init: {path}: not a detector checkpoint (train one with task: detector)")
    return state["model"]


def train_detector(
    cfg: TrainConfig, resume: bool = False, progress: bool | None = None, on_epoch_end=None
) -> TrainResult:
    """Train the one-pass detector per ``cfg``; ``on_epoch_end(row)`` may return False to stop."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    d = cfg.detector
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    dev = device()
    scenes = _scenes(cfg, progress)
    (out / "box_style.json").write_text(json.dumps(scenes.box_style, indent=1))
    val = _val_sets(cfg)
    weights = sampling_weights(scenes, [s.weight for s in cfg.data.train], d.incorrect_boost)
    data = PatchDataset(scenes, d, cfg.seed)
    model = OnePassNet(freeze=d.freeze)
    if d.init and not resume:
        model.load_state_dict(_init_weights(d.init, model))
    model = model.to(dev)
    head = list(model.class_head.parameters())
    base = [p for p in model.base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": base, "lr": cfg.lr * d.base_lr_scale}, {"params": head, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )
    steps = d.steps_per_epoch if cfg.max_steps is None else min(d.steps_per_epoch, cfg.max_steps)
    total = max(cfg.epochs * steps, 1)
    lrs = [cfg.lr * d.base_lr_scale, cfg.lr]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lrs, total_steps=total, pct_start=0.1)
    loss_weights = {
        "heat": d.heat_weight,
        "size": d.size_weight,
        "offset": d.offset_weight,
        "landmarks": d.landmark_weight,
        "cls": d.cls_weight,
        "class_weights": torch.tensor(d.class_weights, dtype=torch.float32, device=dev),
        "label_smoothing": cfg.label_smoothing,
    }
    rng = np.random.default_rng(cfg.seed)
    run = Run(cfg, out)
    if resume:
        scheduler = run.resume(model, optimizer, scheduler, lrs, total, dev)
        rng = np.random.default_rng(cfg.seed + run.start_epoch)
        data.reseed(cfg.seed + 1000 + run.start_epoch)
    for epoch in run.epochs():
        model.train()
        t0, parts_sum = time.time(), {}
        for _ in track(range(steps), f"epoch {epoch + 1}/{cfg.epochs}", steps, progress):
            idx = rng.choice(len(weights), cfg.batch_size, p=weights)
            x, targets = _collate([data[int(i)] for i in idx])
            x, targets = x.to(dev), {k: v.to(dev) for k, v in targets.items()}
            loss, parts = onepass_loss(model(x, logits=True), targets, loss_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v
        row = {"epoch": epoch + 1, **{f"train_{k}": round(v / steps, 5) for k, v in parts_sum.items()}}
        row["lr"] = scheduler.get_last_lr()[-1]
        row["seconds"] = round(time.time() - t0, 1)
        if val:
            row.update(validate(model, val, d.val_profile))
        keys = [k for k in row if k.endswith("val_map50_3c")]
        metric = float(np.mean([row[k] for k in keys])) if keys else -row["train_loss"]
        if run.end_epoch(epoch, row, metric, model, optimizer, scheduler, {"box_style": scenes.box_style}):
            break
        if on_epoch_end is not None and on_epoch_end(row) is False:
            break
    return run.result()


__all__ = ["train_detector", "predict", "validate"]
