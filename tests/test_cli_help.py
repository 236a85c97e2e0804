"""The command line as a new user meets it: --version, completion, help text with every default and extra."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from recast import DISTRIBUTION, __version__
from recast.cli.main import app


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="recast", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return "".join(result.output.split())  # without whitespace: immune to line wrapping


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"], prog_name="recast")
    assert result.exit_code == 0 and __version__ in result.output and DISTRIBUTION in result.output


def test_shell_completion_script() -> None:
    """bash's completion script, asked for by name (``--show-completion`` detects the parent shell, which is
    ``sh`` under make)."""
    result = CliRunner().invoke(app, [], prog_name="recast", env={"_RECAST_COMPLETE": "source_bash"})
    assert result.exit_code == 0 and "_RECAST_COMPLETE=complete_bash" in result.output


def test_help_shows_bracketed_defaults_and_extras() -> None:
    merge = _help("merge")
    assert "[overlay]" in merge and "[rct]" in merge and "[none]" in merge and "[<OUTPUT>_mask]" in merge
    train = _help("train")
    assert f"pipinstall'{DISTRIBUTION}[tensorboard]'" in train
    assert "Targetiteration" in train and "--more" in train and "auto(CUDAwhenusable" in train


def test_every_option_of_every_command_has_help() -> None:
    missing = []

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        for param in getattr(command, "params", []):
            if param.param_type_name == "option" and not param.help:
                missing.append(f"{' '.join(path)} {param.opts[0]}")

    walk(typer.main.get_command(app), ["recast"])
    assert not missing, missing
