"""The `digest` command line for tests: a settings file, one command in-process through
click's CliRunner, `main()` as the console script runs it, and the installed script's path."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli, main
from tests.support.clock import fixed
from tests.support.keys import TEST_SECRET_KEY

DIGEST = Path(sys.executable).parent / "digest"


def write_config(tmp_path: Path, db_url: str, smtp_port: int = 8025, extra: str = "") -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n'
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n'
        f"[smtp]\nport = {smtp_port}\nretry_delay_seconds = 0.01\nwait_seconds = 0.5\n"
        '[collect]\ntimeout_seconds = 0.5\nallow_hosts = ["127.0.0.1"]\n' + extra,
        encoding="utf-8",
    )
    return path


def invoke(config: Path | None, *args: str) -> Result:
    """Run one command in-process; fails the test with its output when it does not exit 0."""
    argv = ["--config", str(config), *args] if config else list(args)
    result = CliRunner().invoke(cli, argv, obj=fixed)
    assert result.exit_code == 0, (argv, result.output, result.exception)
    return result


def run_main(
    argv: list[str], capsys: pytest.CaptureFixture[str], clock: Callable[[], datetime] = fixed
) -> tuple[int, str, str]:
    """`digest.cli.main` as the console script runs it: (exit status, stdout, stderr)."""
    previous = signal.getsignal(signal.SIGTERM)
    code: int | str | None = 0
    try:
        main(argv, clock=clock)
    except SystemExit as e:
        code = e.code
    finally:
        signal.signal(signal.SIGTERM, previous)
    out, err = capsys.readouterr()
    assert isinstance(code, int)
    return code, out, err


def assert_one_error_line(code: int, err: str, *expected: str) -> None:
    lines = err.splitlines()
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("digest: error: "), err
    for text in expected:
        assert text in lines[0], err


def add_item(config: Path, title: str, day: int = 20) -> None:
    """Queue a news item `title` dated `day` November 2026, through the CLI."""
    invoke(
        config,
        "items",
        "add",
        "--kind",
        "news",
        "--title",
        title,
        "--url",
        f"https://example.org/{title.lower().replace(' ', '-')}",
        "--summary",
        f"About {title}.",
        "--date",
        f"{day:02d}/11/2026",
    )
