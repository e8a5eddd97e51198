"""The training loop: seeded, resumable, early-stopping, logged to TensorBoard and JSON."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..labels import LABELS
from ..progress import track
from .augment import build_augment
from .config import TrainConfig
from .data import CropFolder, balanced_sampler, class_weights
from .nets import build_model


@dataclass
class TrainResult:
    out: Path
    best_checkpoint: Path
    history: list[dict]
    best_epoch: int
    best_metric: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


@torch.no_grad()
def evaluate_loader(model: nn.Module, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    probs, targets = [], []
    for x, y in loader:
        probs.append(torch.softmax(model(x), 1).numpy())
        targets.append(y.numpy())
    return np.concatenate(probs), np.concatenate(targets)


def balanced_accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean per-class recall over the classes present: plain accuracy would reward
    ignoring the 3% ``mask_incorrect`` class."""
    pred = probs.argmax(1)
    recalls = [float((pred[targets == c] == c).mean()) for c in range(len(LABELS)) if (targets == c).any()]
    return float(np.mean(recalls)) if recalls else 0.0


class Run:
    """What a training run keeps between epochs, and how it ends one: shared by the classifier's
    and the detector's loops. ``best.pt`` holds the best epoch's weights (what export reads),
    ``last.pt`` everything ``--resume`` needs, ``history.json`` and TensorBoard the rows."""

    def __init__(self, cfg: TrainConfig, out: Path):
        self.cfg, self.out, self.last = cfg, out, out / "last.pt"
        self.history: list[dict] = []
        self.start_epoch, self.best_metric, self.best_epoch, self.stale = 0, float("-inf"), -1, 0
        self.writer = None

    def resume(self, model, optimizer, scheduler, max_lr, total_steps: int, device="cpu"):
        """Load ``last.pt`` into the model, optimizer and scheduler (when there is one);
        returns the scheduler to go on with."""
        if not self.last.exists():
            return scheduler
        state = torch.load(self.last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scheduler.total_steps != total_steps and scheduler.last_epoch < total_steps:
            # resumed with another epochs/max_steps (`--resume --set epochs=3`): the saved
            # schedule would run out of steps, so lay it out again for the new total
            scheduler = _rescheduled(optimizer, max_lr, total_steps, scheduler.last_epoch)
        self.start_epoch, self.history = state["epoch"] + 1, state["history"]
        self.best_metric, self.best_epoch, self.stale = state["best_metric"], state["best_epoch"], state["stale"]
        torch.set_rng_state(state["rng"])
        return scheduler

    def epochs(self):
        self.writer = _tensorboard(self.out)
        return range(self.start_epoch, self.cfg.epochs)

    def end_epoch(self, epoch: int, row: dict, metric: float, model, optimizer, scheduler, best: dict) -> bool:
        """Log the row, save the checkpoints (``best`` adds entries to ``best.pt``); True
        when the run should stop early (no improvement for ``patience`` epochs)."""
        self.history.append(row)
        if self.writer:
            for k, v in row.items():
                if k != "epoch":
                    self.writer.add_scalar(k, v, epoch + 1)
        print(json.dumps(row), flush=True)
        if metric > self.best_metric:
            self.best_metric, self.best_epoch, self.stale = metric, epoch + 1, 0
            state = {"model": model.state_dict(), "config": self.cfg.to_dict(), "epoch": epoch + 1, "metric": metric}
            torch.save({**state, **best}, self.out / "best.pt")
        else:
            self.stale += 1
        torch.save(
            {
                "model": model.state_dict(),
                # what export needs too: the last epoch's weights can be exported like the best
                "config": self.cfg.to_dict(),
                **best,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "history": self.history,
                "best_metric": self.best_metric,
                "best_epoch": self.best_epoch,
                "stale": self.stale,
                "rng": torch.get_rng_state(),
            },
            self.last,
        )
        (self.out / "history.json").write_text(json.dumps(self.history, indent=1))
        if self.stale >= self.cfg.patience:
            print(f"early stop: no improvement for {self.cfg.patience} epochs", flush=True)
            return True
        return False

    def result(self) -> TrainResult:
        if self.writer:
            self.writer.close()
        return TrainResult(self.out, self.out / "best.pt", self.history, self.best_epoch, self.best_metric)


def train(cfg: TrainConfig, resume: bool = False, progress: bool | None = None, on_epoch_end=None) -> TrainResult:
    """Train per ``cfg``. ``on_epoch_end(row)`` may return False to stop after that epoch
    (a GUI's stop button; tests use it to simulate an interrupted run)."""
    from .prepare import prepare_crops

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    summary = prepare_crops(cfg.data, cfg.seed, progress)
    cache = Path(cfg.data.cache)
    prefixes = summary.get("prefixes") or None
    train_set = CropFolder(cache / "train", cfg.data.size, build_augment(cfg.augment, cfg.data.size), prefixes)
    val_set = CropFolder(cache / "val", cfg.data.size, prefixes=prefixes) if (cache / "val").is_dir() else None
    targets = train_set.targets()
    generator = torch.Generator().manual_seed(cfg.seed)
    common = {
        "num_workers": cfg.workers,
        "worker_init_fn": _worker_init,
        "drop_last": True,
        "persistent_workers": cfg.workers > 0,
    }
    if cfg.balance == "sampler":
        from .prepare import source_prefix

        by_prefix = {
            source_prefix("train", n, src, cfg.data, cfg.seed): src.weight for n, src in enumerate(cfg.data.train)
        }
        weights = train_set.weights(by_prefix) if any(w != 1.0 for w in by_prefix.values()) else None
        sampler = balanced_sampler(targets, cfg.samples_per_epoch or len(train_set), cfg.seed, weights)
        loader = DataLoader(train_set, cfg.batch_size, sampler=sampler, **common)
    else:
        loader = DataLoader(train_set, cfg.batch_size, shuffle=True, generator=generator, **common)
    val_loader = DataLoader(val_set, 128, num_workers=0) if val_set else None

    model = build_model(
        cfg.model.backbone, len(LABELS), cfg.model.pretrained, cfg.model.dropout, cfg.model.freeze_blocks
    )
    weight = torch.tensor(class_weights(targets), dtype=torch.float32) if cfg.balance == "loss" else None
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(loader) if cfg.max_steps is None else min(len(loader), cfg.max_steps)
    total_steps = max(cfg.epochs * steps_per_epoch, 1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=total_steps, pct_start=0.15)
    run = Run(cfg, out)
    if resume:
        scheduler = run.resume(model, optimizer, scheduler, cfg.lr, total_steps)
    for epoch in run.epochs():
        model.train()
        for m in model.features[: cfg.model.freeze_blocks].modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()  # frozen blocks keep their ImageNet statistics
        t0, losses, correct, seen = time.time(), [], 0, 0
        for step, (x, y) in enumerate(track(loader, f"epoch {epoch + 1}/{cfg.epochs}", steps_per_epoch, progress)):
            if step >= steps_per_epoch:
                break
            logits = model(x)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "train_acc": correct / max(seen, 1),
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(time.time() - t0, 1),
        }
        if val_loader is not None:
            probs, val_targets = evaluate_loader(model, val_loader)
            row["val_loss"] = float(
                nn.functional.nll_loss(torch.log(torch.tensor(probs) + 1e-9), torch.tensor(val_targets))
            )
            row["val_acc"] = float((probs.argmax(1) == val_targets).mean())
            row["val_balanced_acc"] = balanced_accuracy(probs, val_targets)
        metric = row.get("val_balanced_acc", -row["train_loss"])
        best = {"box_correction": summary.get("box_correction")}
        if run.end_epoch(epoch, row, metric, model, optimizer, scheduler, best):
            break
        if on_epoch_end is not None and on_epoch_end(row) is False:
            break
    return run.result()


def _rescheduled(optimizer, max_lr: float, total_steps: int, steps_done: int):
    """A one-cycle schedule over ``total_steps``, already ``steps_done`` steps in, with the
    optimizer's learning rate set to where that schedule is now.

    Args:
        optimizer: the optimizer, its state already loaded from the checkpoint.
        max_lr: the peak learning rate (``cfg.lr``).
        total_steps: every step of the run, the resumed epochs included.
        steps_done: the steps already taken (the saved scheduler's ``last_epoch``).

    Returns:
        The new scheduler.
    """
    for group in optimizer.param_groups:
        group.pop("initial_lr", None)  # OneCycleLR sets these itself on a fresh start
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps=total_steps, pct_start=0.15)
    scheduler.last_epoch = steps_done
    scheduler._get_lr_called_within_step = True  # get_lr() outside step() only warns
    lrs = scheduler.get_lr()
    scheduler._get_lr_called_within_step = False
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = list(lrs)
    return scheduler


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(out / "tensorboard"))
