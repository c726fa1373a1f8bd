"""`digest bounces classify`: the bounce classifier on raw messages, one JSON line each; it
reads no database and stores nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from digest.cli.app import App, pass_app
from digest.errors import ConfigError


@click.command("classify")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@pass_app
def bounces_classify(app: App, files: tuple[str, ...]) -> None:
    """Classify raw messages (files, or - for standard input) and print one JSON line per
    message; nothing is stored.

    Each line is {"file", "is_bounce", "recipients", "kind", "reason", "status"}. VERP
    tokens are checked with the settings' secret keys when a settings file has them. A file
    that cannot be read is reported on standard error and the exit status is 1.
    """
    from digest.bounces.classify import as_label, classify

    keys = _verp_keys(app)
    failed = False
    for name in files:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as e:
            click.echo(f"digest: error: {name}: {e.strerror or e}", err=True)
            failed = True
            continue
        report = classify(raw, verp_keys=keys)
        line = {"file": name, **as_label(report)}
        if report.delivery_id is not None:
            line["delivery_id"] = report.delivery_id
        click.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        sys.exit(1)


def _verp_keys(app: App) -> tuple[str, ...]:
    """The keys VERP tokens were signed with; none when no secret key is configured."""
    try:
        return tuple(app.settings.signing_keys)
    except ConfigError:
        return ()
