"""`data --help` and every data/train/export/evaluate option explain themselves; `walkby
--help` says what --verify does to the result (issue 10, items 22 and 24)."""

import typer
from typer.testing import CliRunner

from maskwatch.cli import app

runner = CliRunner()


def test_data_help_lists_every_subcommand():
    group = typer.main.get_command(app).commands["data"]
    res = runner.invoke(app, ["data", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert len(group.commands) == 9
    for name in group.commands:
        assert f" {name} " in res.output, res.output


def test_every_data_train_export_evaluate_option_has_help():
    root = typer.main.get_command(app)
    commands = {f"data {n}": c for n, c in root.commands["data"].commands.items()}
    commands.update({n: root.commands[n] for n in ("train", "export", "evaluate")})
    missing = [
        f"{name} {param.name}"
        for name, command in commands.items()
        for param in command.params
        if param.name != "help" and not (getattr(param, "help", None) or "").strip()
    ]
    assert not missing, missing


def test_walkby_help_says_verify_makes_the_result_partly_by_construction():
    res = runner.invoke(app, ["data", "walkby", "--help"], terminal_width=400)
    text = " ".join(res.output.split())
    assert "already labels right" in text and "by construction" in text
    assert "--no-verify" in text and "unverified" in text
