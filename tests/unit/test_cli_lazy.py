"""The lazily loaded command line: help lines agree with the commands, and `--help` and
`--version` import none of the heavy stages."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from digest.cli import cli
from digest.cli.issue import issue
from digest.cli.lazy import LazyGroup

GROUPS = [cli, issue]


@pytest.mark.parametrize(
    ("group", "name"),
    [(group, name) for group in GROUPS for name in group.lazy],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_stored_help_line_is_the_commands_own(group: LazyGroup, name: str) -> None:
    command = group.get_command(click.Context(group), name)
    assert command is not None
    assert group.lazy[name].help == command.get_short_help_str(10**6)


HEAVY = ("sqlalchemy", "alembic", "feedparser", "mjml", "premailer", "starlette", "lxml")
PROBE = """
import sys
from digest.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("heavy:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["issue", "--help"]])
def test_help_and_version_import_no_heavy_module(argv: list[str]) -> None:
    probe = PROBE.format(argv=argv, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "heavy:"
