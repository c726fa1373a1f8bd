"""The `digest` command line: thin click commands over the library; errors as one line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from digest.cli.app import App
from digest.cli.lazy import Lazy, LazyGroup
from digest.errors import DigestError

COMMANDS = {
    "init": Lazy(
        "digest.cli.admin:init", "Write a commented starter settings file with a fresh secret key."
    ),
    "demo": Lazy(
        "digest.cli.admin:demo",
        "Run the whole weekly job on embedded defaults: no configuration, loopback only.",
    ),
    "db": Lazy("digest.cli.admin:db", "Database schema."),
    "sources": Lazy("digest.cli.content:sources", "Register and inspect feeds."),
    "collect": Lazy(
        "digest.cli.content:collect_command", "Fetch every source and queue new items."
    ),
    "items": Lazy("digest.cli.content:items", "Inspect the queue of news, events and calls."),
    "issue": Lazy("digest.cli.issue:issue", "Compose, preview and send issues."),
    "subscribers": Lazy(
        "digest.cli.people:subscribers", "Add, import, list, export and forget subscribers."
    ),
    "bounces": Lazy(
        "digest.cli.bounces:bounces", "Bounces and complaints: classify, ingest, report."
    ),
    "status": Lazy(
        "digest.cli.admin:status", "Sources, queue, subscribers and the latest issue at a glance."
    ),
    "capture": Lazy(
        "digest.cli.admin:capture",
        "Run the embedded SMTP capture server on 127.0.0.1 until Ctrl-C.",
    ),
    "scheduler": Lazy(
        "digest.cli.admin:scheduler_command",
        "Run the scheduler daemon: collect, send the weekly issue, retry deferred deliveries, "
        "ingest bounces and keep house, each on its schedule setting.",
    ),
    "serve": Lazy(
        "digest.cli.serve:serve_command",
        "Serve the public pages: signup with double opt-in, confirm links, one-click "
        "unsubscribe, preferences and the archive of sent issues with its Atom feed.",
    ),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="DIGEST_CONFIG",
    help="Settings file (default: $DIGEST_CONFIG, else ./digest.toml, else built-in defaults).",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, debug: bool) -> None:
    """digest: turns feeds into a weekly email newsletter and delivers it."""
    # A caller may hand in the clock (`main(clock=...)`, CliRunner's `obj=`): time is a
    # parameter, so tests run every command on a fixed date.
    ctx.obj = App(config, clock=ctx.obj) if callable(ctx.obj) else App(config)
    ctx.meta["debug"] = debug


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def one_line(message: str) -> str:
    """The message on one line: drivers add hint lines (psycopg: "Is the server running...")."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def main(argv: list[str] | None = None, clock: Callable[[], datetime] | None = None) -> None:
    """Entry point: a DigestError becomes `digest: error: ...` on stderr and exit status 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    # SIGTERM (systemd stop, kill) stops a command the way Ctrl-C does: a send records what
    # the server already accepted before it exits.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cli.main(args=argv, prog_name="digest", standalone_mode=False, obj=clock)
    except click.exceptions.Abort:
        click.echo("digest: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        command = e.ctx.command_path if e.ctx else "digest"
        click.echo(
            f"digest: error: {one_line(e.format_message())} (see '{command} --help')", err=True
        )
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"digest: error: {one_line(e.format_message())}", err=True)
        sys.exit(e.exit_code)
    except DigestError as e:
        if debug:
            raise
        click.echo(f"digest: error: {one_line(str(e))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("digest: interrupted", err=True)
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        click.echo(
            f"digest: internal error: {e.__class__.__name__}: {one_line(str(e))} "
            "(run again with --debug for the traceback)",
            err=True,
        )
        sys.exit(70)
