"""The lazily loaded command line: help lines agree with the commands, and `--help` and
`--version` import none of the heavy stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from digest.cli import cli
from digest.cli.admin import db
from digest.cli.bounces import bounces
from digest.cli.issue import issue
from digest.cli.lazy import LazyGroup

GROUPS = [cli, issue, bounces, db]


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
from pathlib import Path
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


STATUS_PROBE = """
import sys
from pathlib import Path
from digest.cli import main
for _ in range(2):  # the first run makes the database; the second finds it current
    for name in [m for m in sys.modules if m.startswith(("alembic", "digest.send"))]:
        del sys.modules[name]
    try:
        main(["status"])
    except SystemExit:
        pass
print("loaded:" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & {"alembic", "mjml",
    "premailer", "feedparser", "starlette", "lxml"})))
"""


def test_status_on_a_current_schema_loads_no_migration_tool_and_no_stage(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STATUS_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.stdout.strip().splitlines()[-1] == "loaded:"
