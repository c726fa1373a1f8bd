"""The README stays true: its test command is what CI runs, its settings reference is current."""

from __future__ import annotations

import re
from pathlib import Path

from digest.config_reference import markdown_reference

ROOT = Path(__file__).resolve().parents[2]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = shell_blocks(quick)
    commands = [block.strip() for block in blocks[:2]]
    assert all("\n" not in command for command in commands)
    assert "digest demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
    script = ROOT / commands[1].removeprefix("bash ")
    steps = script.read_text(encoding="utf-8").splitlines()
    for step in ("pip install", "ruff check", "ruff format --check", "mypy", "pytest"):
        assert any(step in line and not line.lstrip().startswith("#") for line in steps), step


def test_settings_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_reference() in readme, "regenerate: python -m digest.config_reference"
