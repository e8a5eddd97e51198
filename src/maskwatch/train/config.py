"""Every training knob in one YAML-loadable config with sane defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..yaml_files import read_yaml_mapping


@dataclass
class SourceConfig:
    path: str
    split: str | None = None
    #: cap per class, so one huge crop folder does not drown the others
    max_per_class: int | None = None
    #: face-detector profile used to match boxes (``accurate`` for crowds of small faces)
    detector: str = "balanced"
    #: learn the box-style correction from this source's annotations (annotators differ:
    #: andrewmvd starts boxes at the brows, webmask well above the hairline)
    box_style: bool = False
    #: draw synthetic masks on this source's unmasked faces (``data synth``) instead of cropping it
    synth: bool = False
    #: cap on faces for synth sources
    max_faces: int | None = None
    #: sampling weight of this source's crops within each class (classes stay balanced):
    #: raise it for the data that looks most like where the model will run
    weight: float = 1.0
    #: this source's own class-name aliases (YAML ``name: label``), on top of ``data.label_map``:
    #: configs/labels/webmask-yolo.yaml swaps webmask's two classes, published the wrong way round
    label_map: str | None = None


@dataclass
class DataConfig:
    train: list[SourceConfig] = field(default_factory=list)
    #: sources for validation (early stopping); if empty, ``holdout`` of the first source
    val: list[SourceConfig] = field(default_factory=list)
    holdout: float = 0.1
    cache: str = "runs/crops"
    size: int = 128
    margin: float = 0.15
    #: crop annotated faces around the matching face-detector box (same style as inference)
    detector_crops: bool = True
    label_map: str | None = None


@dataclass
class ModelConfig:
    backbone: str = "mobilenet_v2"
    pretrained: bool = True
    dropout: float = 0.2
    freeze_blocks: int = 4


@dataclass
class AugmentConfig:
    flip: float = 0.5
    rotate: int = 15
    shift: float = 0.08
    scale: float = 0.15
    shear: int = 5
    color: float = 0.5
    blur: float = 0.2
    noise: float = 0.2
    jpeg: float = 0.3
    #: probability of shrinking the face to ``small_face`` px and back (CCTV faces are small)
    downscale: float = 0.35
    small_face: tuple[int, int] = (10, 40)
    gray: float = 0.05


@dataclass
class DetectorConfig:
    """The one-pass detector's training (``task: detector``; see
    :mod:`maskwatch.train.onepass_data` for what each knob does to the data)."""

    #: a trained detector to start from instead of CenterFace's WIDER FACE weights: an earlier
    #: run's ``best.pt``, an exported one-pass ONNX, or ``one-pass`` (the shipped model). Fine-
    #: tune it on your photos or new face sizes without paying for its training again; None:
    #: CenterFace
    init: str | None = None
    #: side of the square training patches (a multiple of 32)
    patch: int = 256
    #: faces are scaled to this many pixels (log-uniform), so CCTV-sized faces are common
    face_px: tuple[int, int] = (8, 128)
    #: keep a drawn face whole inside its patch; False: its centre anywhere in the middle 70%,
    #: so a face over ~0.3 x ``patch`` may be cut at the edge and teach a cut box
    whole_faces: bool = False
    #: share of patches that are one face filling the frame, cut by its edges (a tight face
    #: crop): trained on whole faces only, the detector misses faces cut by the frame
    closeups: float = 0.0
    #: probability that an unmasked face (with landmarks) gets a synthetic mask drawn on it
    synth: float = 0.3
    #: share of the synthetic mask_incorrect masks drawn on the chin (the rest below the
    #: nose). ``data synth``'s chin mask is a strip at the box's lower edge that can leave the
    #: face bare-looking. 0 in the second stage (runs/detector-ft5, not shipped): bare
    #: close-ups labelled right 89% -> 97%, but andrewmvd val 3-class mAP@.5 0.731 -> 0.693
    #: (mask_incorrect AP 0.570 -> 0.493), and bare faces pasted in an empty scene stayed
    #: mostly mask_incorrect (17% -> 32% right)
    on_chin: float = 0.5
    #: share of patches on which a face cut out of another training photo (a rectangle around
    #: it, hard edges) is pasted: crop-and-paste, so a face crop shown on a new background
    #: keeps its label (:func:`maskwatch.train.onepass_data.paste_face`)
    paste: float = 0.0
    #: images with mask_incorrect faces are drawn this many times as often
    incorrect_boost: float = 3.0
    #: fraction of CenterFace's layers (from the input) kept frozen
    freeze: float = 0.3
    #: the pretrained layers learn at ``lr`` x this; the new class head at ``lr``
    base_lr_scale: float = 0.1
    #: photos are kept in memory at most this many pixels on their longest side
    cache_side: int = 800
    #: training steps between two validations (an "epoch" of the detector)
    steps_per_epoch: int = 200
    #: profile used to validate (andrewmvd val: mAP@.5 picks the best checkpoint)
    val_profile: str = "balanced"
    #: loss weights
    heat_weight: float = 1.0
    size_weight: float = 0.1
    offset_weight: float = 1.0
    landmark_weight: float = 0.1
    cls_weight: float = 1.0
    #: class-term weights in LABELS order (with_mask, without_mask, mask_incorrect)
    class_weights: tuple[float, float, float] = (1.0, 1.0, 2.0)


@dataclass
class TrainConfig:
    name: str = "maskwatch-classifier"
    #: "classifier" (the crop classifier of the two-stage pipeline) or "detector" (the
    #: one-pass face-mask detector)
    task: str = "classifier"
    seed: int = 0
    out: str = "runs/train"
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    #: "sampler" (class-balanced sampling), "loss" (class-weighted loss) or "none"
    balance: str = "sampler"
    #: samples drawn per epoch by the balanced sampler (None: the training set's size)
    samples_per_epoch: int | None = 6000
    patience: int = 4
    workers: int = 1
    threads: int | None = None
    max_steps: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "augment": AugmentConfig, "detector": DetectorConfig}


def _build(cls, values: dict[str, Any] | None):
    values = dict(values or {})
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        if name in SECTIONS and cls is TrainConfig:
            kwargs[name] = _build(SECTIONS[name], value)
        elif name in ("train", "val") and cls is DataConfig:
            kwargs[name] = [SourceConfig(**s) if isinstance(s, dict) else SourceConfig(str(s)) for s in value or []]
        elif name in ("small_face", "face_px", "class_weights"):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` items as :func:`load_config`'s ``overrides``.

    Args:
        items: ``dotted.key=value`` strings; each value is read as YAML (``3`` is an int,
            ``true`` a bool, ``[1, 2]`` a list, anything else a string).

    Returns:
        ``{dotted key: value}``, later items winning.

    Raises:
        ConfigError: an item with no ``=`` or no key, or a value that is not valid YAML.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set epochs=3")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
    return overrides


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The training config from a YAML file, with overrides, on top of the defaults.

    Args:
        path: a YAML file of :class:`TrainConfig` keys; None: the defaults.
        overrides: ``{dotted.key: value}`` (``data.size``, ``model.backbone``...), as
            :func:`parse_overrides` makes from ``--set``.

    Returns:
        The :class:`TrainConfig`.

    Raises:
        ConfigError: the file cannot be read or is not a YAML mapping, or a key no setting has.
    """
    values: dict[str, Any] = {}
    if path:
        values = read_yaml_mapping(path, "a training config is a YAML mapping of key: value")
    for dotted, value in (overrides or {}).items():
        node = values
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    cfg = _build(TrainConfig, values)
    if cfg.task not in ("classifier", "detector"):
        raise ConfigError(f"task: {cfg.task!r}; one of classifier, detector")
    return cfg


def leave_out(cfg: TrainConfig, names: list[str]) -> TrainConfig:
    """``cfg`` without the training and validation sources whose folder is named one of
    ``names``: the cross-source recipe trains without a source, then evaluates on all of it
    (``maskwatch evaluate``), measuring new annotators and cameras without any test split.

    Raises:
        ConfigError: a name that no training source has (a typo would silently measure
            nothing), or nothing left to train on.
    """
    import dataclasses

    if not names:
        return cfg
    folder = {src.path: Path(src.path).name for src in cfg.data.train + cfg.data.val}
    unknown = [n for n in names if n not in {folder[s.path] for s in cfg.data.train}]
    if unknown:
        have = sorted({folder[s.path] for s in cfg.data.train})
        raise ConfigError(f"--leave-out {', '.join(unknown)}: no training source is named so; they are {have}")
    train = [s for s in cfg.data.train if folder[s.path] not in names]
    if not train:
        raise ConfigError("--leave-out: nothing is left to train on")
    val = [s for s in cfg.data.val if folder[s.path] not in names]
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=train, val=val))
