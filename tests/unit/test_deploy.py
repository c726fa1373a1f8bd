"""The systemd units in deploy/ run commands that exist, with options the CLI accepts, and
the operations guide names only commands the CLI has."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import click
import pytest

from digest.cli import cli

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def _resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The command `argv` (after `digest`) names, and what is left for its options."""
    command: click.Command = cli
    ctx = click.Context(cli)
    while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
        found = command.get_command(ctx, argv[0])
        assert found is not None, f"no command {argv[0]!r}"
        command, argv = found, argv[1:]
        ctx = click.Context(command, parent=ctx)
    return command, argv


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_real_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(unit, encoding="utf-8")
    argv = shlex.split(parser["Service"]["ExecStart"])
    assert argv[0].endswith("/bin/digest")
    command, rest = _resolve(argv[1:])
    command.make_context(command.name, rest)  # raises on an unknown option


def test_the_operations_guide_names_only_real_commands() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    code = " ".join(re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.DOTALL))
    # `digest ...` as typed: at a line's start, after the venv's bin/, after `... ` (the
    # guide's shorthand for the service user's environment) or opening inline code.
    pattern = r"(?:^|bin/|\.\.\. |`)digest ((?:[a-z]+ ?){1,3})"
    for line in re.findall(pattern, code, flags=re.MULTILINE):
        words = [w for w in line.split() if w.isalpha()]
        command: click.Command = cli
        ctx = click.Context(cli)
        for word in words:
            if not isinstance(command, click.Group):
                break
            found = command.get_command(ctx, word)
            if found is None:
                break
            command, ctx = found, click.Context(found, parent=ctx)
        assert command is not cli, f"`digest {line}` in docs/operations.md is no command"
