"""What every command shares: settings read once, the database opened once, the clock."""

from __future__ import annotations

import dataclasses
import functools
import json
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported on first use: `digest --help` loads neither
    from digest.db.engine import Database
    from digest.send.wiring import Relay
    from digest.settings import Settings

Progress = Callable[[int], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


class App:
    """Built by the root command; settings and database are opened on first use."""

    def __init__(self, config: Path | None, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock

    @functools.cached_property
    def settings(self) -> Settings:
        from digest.settings import load_settings

        return load_settings(self.config)

    @functools.cached_property
    def db(self) -> Database:
        from digest.db.engine import Database

        # Each SMTP connection's thread holds a database connection while it sends; the
        # main thread needs one more for the ledger.
        return Database(
            self.settings.database_url,
            auto_upgrade=self.settings.database.auto_upgrade,
            pool_size=self.settings.smtp.connections + 2,
        )

    @functools.cached_property
    def relay(self) -> Relay:
        """The SMTP relay every sending command uses."""
        from digest.send.wiring import smtp_relay

        return smtp_relay(self.settings)


pass_app = click.make_pass_decorator(App)


def echo_json(value: Any) -> None:
    """`value` (a frozen value, or plain data) as indented JSON on standard output."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def bind(host: str, port: int, exposed: str) -> socket.socket:
    """A listening socket for a local server; one warning line (`exposed` says what is at
    stake) when `host` is not a loopback address, one error line when it cannot listen."""
    from digest.web import is_loopback, listen

    if not is_loopback(host):
        click.echo(f"digest: warning: {host} is not a loopback address: {exposed}", err=True)
    try:
        return listen(host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


@contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr (shown only on a terminal); yields the `advance` callback."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update
