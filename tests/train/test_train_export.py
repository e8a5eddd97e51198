"""A few training steps on 64 real crops produce an ONNX model that loads and agrees with PyTorch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need the [train] extra")


@pytest.fixture(scope="module")
def crops64(andrewmvd, tmp_path_factory):
    from maskwatch.data.make_crops import extract_crops
    from maskwatch.formats import load_dataset

    ds = load_dataset(andrewmvd, split="val")
    out = tmp_path_factory.mktemp("crops")
    result = extract_crops(ds, out / "train", None, size=64, progress=False)
    # keep exactly 64 crops with all three classes present
    quota = {"mask_incorrect": 8, "without_mask": 20}
    files = {
        label: sorted((out / "train" / label).glob("*.jpg"))
        for label in ("mask_incorrect", "without_mask", "with_mask")
    }
    quota["with_mask"] = 64 - sum(min(quota[k], len(files[k])) for k in quota)
    for label, paths in files.items():
        for f in paths[quota[label] :]:
            f.unlink()
    assert sum(result.written.values()) > 64
    return out


def test_few_steps_train_export_and_agree(crops64, tmp_path):
    from maskwatch.models.classifier import MaskClassifier
    from maskwatch.train.config import load_config
    from maskwatch.train.export import export_onnx
    from maskwatch.train.loop import train

    assert sum(1 for _ in crops64.rglob("*.jpg")) == 64
    cfg = load_config(
        overrides={
            "out": str(tmp_path / "run"),
            "epochs": 3,
            "batch_size": 8,
            "max_steps": 3,
            "samples_per_epoch": 32,
            "workers": 0,
            "data.cache": str(crops64),
            "data.size": 64,
            "model.freeze_blocks": 8,
        }
    )
    # interrupted after epoch 2 ...
    result = train(cfg, progress=False, on_epoch_end=lambda row: row["epoch"] < 2)
    assert len(result.history) == 2 and result.best_checkpoint.exists()
    assert np.isfinite(result.history[-1]["train_loss"])
    # ... and resumed: epoch 3 runs, epochs 1-2 are not redone
    resumed = train(cfg, resume=True, progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[:2] == result.history

    onnx_path = tmp_path / "m.onnx"
    meta = export_onnx(result.best_checkpoint, onnx_path)
    assert meta["max_abs_diff_probs"] < 1e-4
    clf = MaskClassifier(onnx_path)
    assert clf.info.size == 64 and clf.info.labels == ("with_mask", "without_mask", "mask_incorrect")
    assert clf.info.box_correction == (0, 0, 0, 0)  # no box_style source in this config
    crops = [np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)]
    probs = clf.predict_crops(crops)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_cli_train_export_merges_the_model_card(crops64, tmp_path):
    """``train --export`` goes through the package's export (it once called the typer command,
    whose placeholder ``version`` crashed); the card written beside the model keeps its text."""
    import json

    import yaml
    from typer.testing import CliRunner

    from maskwatch.cli import app
    from maskwatch.train.config import parse_overrides

    assert parse_overrides(["epochs=3", "data.size=64", "name=x=y", "model.pretrained=false"]) == {
        "epochs": 3,
        "data.size": 64,
        "name": "x=y",
        "model.pretrained": False,
    }
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "workers": 0, "batch_size": 8}))
    onnx_path = tmp_path / "m.onnx"
    onnx_path.with_suffix(".json").write_text(json.dumps({"summary": "written by hand"}))
    sets = ["epochs=1", "max_steps=1", "samples_per_epoch=16", f"data.cache={crops64}", "data.size=64"]
    args = ["train", str(config), *[a for s in sets for a in ("--set", s)], "--export", str(onnx_path)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["summary"] == "written by hand" and card["version"] == "0.1.0"
    assert card["export"]["max_abs_diff_probs"] < 1e-4 and onnx_path.with_suffix(".md").exists()


def test_imagenet_weights_load_into_our_mobilenet():
    from maskwatch.train.nets import build_model

    model = build_model(pretrained=True, freeze_blocks=4).eval()
    frozen = [p.requires_grad for p in model.features[:4].parameters()]
    assert frozen and not any(frozen)
    # ImageNet features separate a real face crop from flat grey (random weights would not be this stable)
    with torch.no_grad():
        f = model.features(torch.zeros(1, 3, 64, 64)).mean()
    assert torch.isfinite(f)


def test_prepare_crops_is_incremental_and_learns_box_style(andrewmvd, datasets, tmp_path):
    import shutil

    from maskwatch.train.config import DataConfig, SourceConfig
    from maskwatch.train.prepare import prepare_crops

    voc = tmp_path / "voc"
    voc.mkdir()
    for stem in (andrewmvd / "splits" / "val.txt").read_text().split()[:8]:
        shutil.copy(andrewmvd / "images" / f"{stem}.jpg", voc)
        shutil.copy(andrewmvd / "annotations" / f"{stem}.xml", voc)
    cfg = DataConfig(
        train=[SourceConfig(str(voc), detector="accurate", box_style=True)],
        holdout=0.25,
        cache=str(tmp_path / "cache"),
        size=64,
    )
    summary = prepare_crops(cfg, progress=False)
    assert summary["box_pairs"] > 10
    dx1, dy1, dx2, dy2 = summary["box_correction"]
    assert dy1 > 0.05  # andrewmvd annotators start the box below CenterFace's (at the brows)
    crops = sorted((tmp_path / "cache").rglob("*.jpg"))
    assert crops and {p.parent.parent.name for p in crops} == {"train", "val"}
    stamps = [p.stat().st_mtime_ns for p in crops]
    unmasked = tmp_path / "unmasked" / "without_mask"
    unmasked.mkdir(parents=True)
    for p in sorted((datasets / "crops" / "chandrikadeb7" / "without_mask").glob("*.jpg"))[:4]:
        shutil.copy(p, unmasked)
    cfg.train.append(SourceConfig(str(unmasked.parent), synth=True, max_faces=2))
    again = prepare_crops(cfg, progress=False)
    assert [p.stat().st_mtime_ns for p in crops] == stamps  # the first source was not cropped again
    assert again["box_correction"] == summary["box_correction"]
    # a crop another config left in the shared cache is not read by this one
    from maskwatch.train.data import CropFolder

    stray = tmp_path / "cache" / "train" / "with_mask" / "deadbeef_other-config.jpg"
    shutil.copy(crops[0], stray)
    names = {p.name for p, _ in CropFolder(tmp_path / "cache" / "train", 64, prefixes=again["prefixes"]).items}
    assert stray.name not in names and len(again["prefixes"]) == 2
    assert {p.name for p in crops if p.parent.parent.name == "train"} <= names
    of_this_config = set((tmp_path / "cache" / "train").rglob(f"{again['prefixes'][0]}_*")) | set(
        (tmp_path / "cache" / "train").rglob(f"{again['prefixes'][1]}_*")
    )
    assert len(of_this_config) == len(names)  # every crop read belongs to one of the two sources
    assert sum(again["train"][f"{unmasked.parent} (synthetic masks)"].values()) == 2
    assert sum(sum(w.values()) for w in again["train"].values()) >= sum(
        sum(w.values()) for w in summary["train"].values()
    )


def test_balanced_sampler_keeps_classes_equal_and_weights_sources():
    from maskwatch.train.data import balanced_sampler

    # 900 with_mask (300 from a weight-3 source), 90 without_mask, 10 mask_incorrect
    targets = np.array([0] * 900 + [1] * 90 + [2] * 10)
    source_w = np.ones(1000)
    source_w[:300] = 3.0
    drawn = np.array(list(balanced_sampler(targets, 30000, seed=1, source_weights=source_w)))
    share = np.bincount(targets[drawn], minlength=3) / len(drawn)
    assert np.allclose(share, 1 / 3, atol=0.02)  # the rare class is drawn as often as the common one
    with_mask = drawn[targets[drawn] == 0]
    assert np.mean(with_mask < 300) == pytest.approx(900 / 1500, abs=0.03)  # 300*3 of 300*3 + 600*1
    plain = np.array(list(balanced_sampler(targets, 30000, seed=1)))
    assert np.mean(plain[targets[plain] == 0] < 300) == pytest.approx(1 / 3, abs=0.03)


def _cli_train(config, sets, *extra):
    from typer.testing import CliRunner

    from maskwatch.cli import app

    return CliRunner().invoke(app, ["train", str(config), *[a for s in sets for a in ("--set", s)], *extra])


def test_cli_resume_with_more_epochs_rebuilds_the_schedule(crops64, tmp_path):
    """``train --resume --set epochs=3`` after a 2-epoch run (it once stopped with
    ``ValueError: Tried to step ... times``): epoch 3 runs on a schedule laid out for 3 epochs."""
    import json

    import yaml

    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "workers": 0, "batch_size": 8}))
    sets = ["max_steps=2", "samples_per_epoch=16", f"data.cache={crops64}", "data.size=64", "model.freeze_blocks=8"]
    res = _cli_train(config, [*sets, "epochs=2"])
    assert res.exit_code == 0, res.output
    first = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in first] == [1, 2]
    res = _cli_train(config, [*sets, "epochs=3"], "--resume")
    assert res.exit_code == 0, res.output
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[:2] == first
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    assert state["scheduler"]["total_steps"] == 6 and state["scheduler"]["last_epoch"] == 6
    # epoch 3 ends where a one-cycle schedule over all 6 steps is after 6 steps
    lr = json.loads((tmp_path / "run" / "config.json").read_text())["lr"]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    expected = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=6, pct_start=0.15)
    for _ in range(6):
        optimizer.step()
        expected.step()
    assert history[2]["lr"] == pytest.approx(expected.get_last_lr()[0], rel=1e-6)


def test_cli_train_export_gives_a_model_detect_accepts(crops64, tmp_path):
    """``train --export`` end to end through the CLI: the ONNX carries maskwatch metadata, the
    card's Markdown says what is in it, and ``detect --model`` runs with it."""
    import cv2
    import yaml
    from typer.testing import CliRunner

    from maskwatch.cli import app
    from maskwatch.models.classifier import MaskClassifier

    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "workers": 0, "batch_size": 8}))
    onnx_path = tmp_path / "m.onnx"
    sets = ["epochs=1", "max_steps=1", "samples_per_epoch=16", f"data.cache={crops64}", "data.size=64"]
    res = _cli_train(config, sets, "--export", str(onnx_path), "--version", "2.0.1")
    assert res.exit_code == 0, res.output
    clf = MaskClassifier(onnx_path)
    assert clf.info.version == "2.0.1" and clf.info.size == 64
    card = onnx_path.with_suffix(".md").read_text()
    assert "## Export" in card and "| input_size | 64 |" in card and "maskwatch detect --model m.onnx" in card
    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), np.full((96, 96, 3), 128, np.uint8))
    res = CliRunner().invoke(app, ["detect", str(image), "--model", str(onnx_path), "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
