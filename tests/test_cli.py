"""The root command: help, version, exit codes, one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from codecalamity import __version__
from codecalamity.cli import cli

GROUPS = ("images", "drop", "awake", "paint")


def _calamity() -> str:
    exe = shutil.which("calamity") or str(__import__("pathlib").Path(sys.executable).parent / "calamity")
    return exe


def test_installed_command_lists_every_group() -> None:
    result = subprocess.run([_calamity(), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for group in GROUPS:
        assert f"\n  {group} " in result.stdout


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codecalamity", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert __version__ in result.stdout


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_has_help(group: str) -> None:
    result = CliRunner().invoke(cli, [group, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2


def test_bad_option_value_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["drop", "--chunk-size", "0"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --chunk-size must be a positive integer, got 0"
    assert "Traceback" not in result.output
