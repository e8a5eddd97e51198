"""Training and export around the loop (issue 10, items 19, 21 and 24): a model without
maskwatch metadata is refused, a missing extra gives the install command, the training
report keeps small learning rates, and the model card says what the export holds."""

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from maskwatch.cli import app

runner = CliRunner()


def test_onnx_without_maskwatch_metadata_is_refused(tmp_path):
    import cv2
    import onnx

    from maskwatch.models.classifier import default_model_path

    proto = onnx.load(str(default_model_path()))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 64, 3), 100, np.uint8))
    res = runner.invoke(app, ["detect", str(image), "--model", str(bare), "-q"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [x for x in res.output.splitlines() if "not a maskwatch model" in x]
    assert lines and str(bare) in lines[0] and "maskwatch export" in lines[0], res.output


@pytest.mark.parametrize("damage", ["truncated", "text", "missing"])
def test_a_broken_model_file_is_one_line_naming_it(tmp_path, damage):
    """Every model kind goes through one session per file: a truncated ONNX, a text file and a
    missing file each give one clear line with the path, exit 2, no traceback."""
    import cv2

    from maskwatch.models.shipped import model_path

    broken = tmp_path / "odd name.onnx"
    if damage == "truncated":
        data = model_path("one-pass").read_bytes()
        broken.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        broken.write_text("not a model\n")
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 64, 3), 100, np.uint8))
    res = runner.invoke(app, ["detect", str(image), "--model", str(broken), "-q"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    reason = "model not found" if damage == "missing" else "not a readable ONNX model"
    lines = [x for x in res.output.splitlines() if reason in x]
    assert len(lines) == 1 and str(broken) in lines[0], res.output


def _hide(monkeypatch, module: str) -> None:
    """Simulate an inference-only install: ``module`` (and its submodules) cannot be imported."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("module", ["torch", "albumentations", "matplotlib"])
def test_train_without_the_extra_names_the_install_command(tmp_path, monkeypatch, module):
    for name in [n for n in sys.modules if n.startswith("maskwatch.train.")]:
        monkeypatch.delitem(sys.modules, name)
    _hide(monkeypatch, module)
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({"out": str(tmp_path / "run"), "data": {"cache": str(tmp_path / "cache")}}))
    res = runner.invoke(app, ["train", str(config)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    assert f"({module} is missing)" in res.output and "pip install 'maskwatch[train]'" in res.output, res.output
    assert not (tmp_path / "run").exists()  # refused before anything ran


def test_export_without_torch_names_the_install_command(tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n.startswith("maskwatch.train.")]:
        monkeypatch.delitem(sys.modules, name)
    _hide(monkeypatch, "torch")
    res = runner.invoke(app, ["export", str(tmp_path / "best.pt"), str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "pip install 'maskwatch[train]'" in res.output, res.output


def test_training_report_keeps_small_learning_rates(tmp_path):
    pytest.importorskip("matplotlib")
    from maskwatch.train.training_report import write_training_report

    history = [
        {"epoch": 1, "train_loss": 0.9, "train_acc": 0.5, "lr": 0.00042, "seconds": 1.0},
        {"epoch": 2, "train_loss": 0.7, "train_acc": 0.6, "lr": 3.2e-06, "seconds": 1.0},
    ]
    (tmp_path / "history.json").write_text(json.dumps(history))
    page = write_training_report(tmp_path).read_text()
    assert "<td>0.00042</td>" in page and "<td>3.2e-06</td>" in page, page
    assert "<td>0.0</td>" not in page


def test_exported_model_card_markdown_says_what_the_export_holds(tmp_path):
    pytest.importorskip("torch")
    from maskwatch.train.export import write_model_card

    export = {
        "kind": "crop-classifier",
        "name": "maskwatch-classifier",
        "version": "1.2.0",
        "labels": '["with_mask", "without_mask", "mask_incorrect"]',
        "input_size": "128",
        "margin": "0.15",
        "backbone": "mobilenet_v2",
        "max_abs_diff_probs": 3.1e-07,
        "size_bytes": 8900000,
    }
    md = write_model_card(tmp_path / "m.json", {"name": "maskwatch-classifier", "version": "1.2.0", "export": export})
    text = md.read_text()
    assert text.startswith("# maskwatch-classifier 1.2.0")
    assert "## Export" in text and "| input_size | 128 | crop side (pixels) |" in text
    assert "| max_abs_diff_probs | 3.10e-07 |" in text and "mobilenet_v2" in text
    assert "maskwatch detect --model m.onnx" in text
    assert len([x for x in text.splitlines() if x.strip()]) > 10  # not just a title
