"""Commands for sources, collecting and the item queue."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from digest.cli.app import App, echo_json, pass_app, when
from digest.errors import ItemError
from digest.model import ItemKind, ItemState, SourceKind, SourceRef


def feed_options(command: Callable[..., None]) -> Callable[..., None]:
    """--kind, --date-order and --timezone: how a feed is read, for `add` and `check`."""
    for option in reversed(
        (
            click.option(
                "--kind",
                type=click.Choice([k.value for k in SourceKind]),
                required=True,
                help="What the feed carries.",
            ),
            click.option(
                "--date-order",
                type=click.Choice(["dmy", "mdy"]),
                default="dmy",
                show_default=True,
                help="How to read dates like 08/11/2017 in this feed's text.",
            ),
            click.option(
                "--timezone",
                default="UTC",
                show_default=True,
                help="Zone of times the feed gives without one.",
            ),
        )
    ):
        command = option(command)
    return command


@contextmanager
def collector_log() -> Iterator[None]:
    """The collector logs the traceback of an internal error; the operator sees it with
    `digest --debug`, else only the report's one line."""
    logger = logging.getLogger("digest.collect")
    debug = bool(click.get_current_context().meta.get("debug"))
    handler = logging.StreamHandler(sys.stderr) if debug else logging.NullHandler()
    handler.setFormatter(logging.Formatter("digest: %(levelname)s: %(name)s: %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@click.group()
def sources() -> None:
    """Register and inspect feeds."""


@sources.command("add")
@click.argument("url")
@feed_options
@click.option("--name", default="", help="A name for listings (default: the host).")
@pass_app
def sources_add(app: App, url: str, kind: str, name: str, date_order: str, timezone: str) -> None:
    """Register the feed (RSS, Atom, JSON Feed or iCalendar) at URL."""
    from digest.collect.sources import add_source

    source = add_source(
        app.db,
        url,
        SourceKind(kind),
        name,
        app.clock(),
        dayfirst=date_order == "dmy",
        timezone=timezone,
        allow_hosts=app.settings.collect.allow_hosts,
    )
    click.echo(f"added source {source.id}: {source.url} ({source.kind})")


@sources.command("check")
@click.argument("url")
@feed_options
@pass_app
def sources_check(app: App, url: str, kind: str, date_order: str, timezone: str) -> None:
    """Fetch URL once and show what would be queued; nothing is stored."""
    source = SourceRef(
        id=0,
        url=url,
        name=url,
        kind=SourceKind(kind),
        dayfirst=date_order == "dmy",
        timezone=timezone,
    )
    from digest.collect import check_source

    with collector_log():
        entries = check_source(source, app.settings, app.clock())
    for entry in entries:
        date = entry.event_start or entry.deadline or entry.published_at
        flag = f"  [review: {entry.needs_review}]" if entry.needs_review else ""
        click.echo(f"{entry.kind:<5}  {when(date)}  {entry.title}{flag}")
    click.echo(f"{url}: {len(entries)} entries would be queued (nothing was stored)")


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def sources_list(app: App, as_json: bool) -> None:
    """Show every source and how its last fetch went."""
    from digest.collect.sources import health
    from digest.db.sources import list_sources

    rows = list_sources(app.db)
    if as_json:
        echo_json(
            [
                {
                    "id": s.source.id,
                    "url": s.source.url,
                    "name": s.source.name,
                    "kind": s.source.kind,
                    "health": health(s),
                    "last_fetch_at": s.last_fetch_at,
                    "last_success_at": s.last_success_at,
                    "last_status": s.last_status,
                    "items_found": s.items_found,
                    "failures": s.consecutive_failures,
                    "last_error": s.last_error,
                }
                for s in rows
            ]
        )
        return
    if not rows:
        click.echo("no sources yet: add one with `digest sources add URL --kind news`")
    for s in rows:
        line = (
            f"{s.source.id:>4}  {s.source.kind:<6}  {health(s):<7}  {s.items_found:>4} items  "
            f"last ok {when(s.last_success_at)}  {s.source.url}"
        )
        click.echo(line + (f"\n      last error: {s.last_error}" if s.last_error else ""))


@click.command("collect")
@pass_app
def collect_command(app: App) -> None:
    """Fetch every source and queue new items."""
    from digest.collect import collect

    with collector_log():
        reports = collect(app.db, app.settings, app.clock)
    for report in reports:
        click.echo(report.line, err=bool(report.error))
    failed = sum(1 for r in reports if r.error)
    new = sum(r.new for r in reports)
    click.echo(f"collected {len(reports)} source(s): {new} new item(s), {failed} failed")


@click.group()
def items() -> None:
    """Inspect the queue of news, events and calls."""


@items.command("list")
@click.option("--kind", type=click.Choice([k.value for k in ItemKind]), help="Only this kind.")
@click.option("--state", type=click.Choice([s.value for s in ItemState]), help="Only this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def items_list(app: App, kind: str | None, state: str | None, as_json: bool) -> None:
    """List queued items, newest first."""
    import dataclasses

    from digest.db.items import list_items

    rows = list_items(app.db, ItemKind(kind) if kind else None, ItemState(state) if state else None)
    if as_json:
        echo_json([dataclasses.asdict(i) for i in rows])
        return
    for i in rows:
        flag = f"  [review: {i.needs_review}]" if i.needs_review else ""
        click.echo(f"{i.id:>5}  {i.kind:<5}  {i.state:<9}  {when(i.date)}  {i.title}{flag}")
    if not rows:
        click.echo("no items")


@items.command("add")
@click.option("--kind", type=click.Choice([k.value for k in ItemKind]), required=True)
@click.option("--title", required=True, help="Headline as readers will see it.")
@click.option("--url", required=True, help="Where the item links to (http or https).")
@click.option("--summary", default="", help="A few sentences; simple HTML is allowed.")
@click.option("--date", default="", help="News: publication date. Event: start (day first).")
@click.option("--end", default="", help="Event: end date.")
@click.option("--deadline", default="", help="Call: deadline (day first, e.g. 22/10/2027).")
@click.option("--location", default="", help="Event: where it takes place.")
@pass_app
def items_add(app: App, /, **fields: str) -> None:
    """Queue an item written by an editor (times in newsletter.timezone)."""
    from digest.compose.items import add_items, editor_item, to_entry

    item = editor_item(fields)
    if item.kind is ItemKind.EVENT and not item.date:
        raise ItemError("an event needs --date (its start)")
    if item.kind is ItemKind.CALL and not item.deadline:
        raise ItemError("a call needs --deadline")
    entry = to_entry(item, app.settings)
    new, updated = add_items(app.db, [entry], app.clock())
    click.echo(f"{'queued' if new else 'updated' if updated else 'unchanged'}: {entry.title}")


@items.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_app
def items_import(app: App, file: Path) -> None:
    """Queue the items of a YAML or CSV file (fields: kind, title, url, summary, date, end,
    deadline, location). Bad items are reported and skipped; the rest are queued."""
    from digest.compose.items import import_items

    report = import_items(app.db, file, app.clock(), app.settings)
    for line in report.bad:
        click.echo(f"skipped: {line}", err=True)
    for line in report.flagged:
        click.echo(f"needs review: {line}", err=True)
    click.echo(
        f"{report.new} new, {report.updated} updated, {len(report.flagged)} flagged for "
        f"review, {len(report.bad)} skipped"
    )
    if report.bad:
        raise SystemExit(1)


@items.command("reject")
@click.argument("item_id", type=int)
@pass_app
def items_reject(app: App, item_id: int) -> None:
    """Keep an item out of issues (it stays in the database)."""
    from digest.compose.items import set_state

    click.echo(set_state(app.db, item_id, ItemState.REJECTED, app.clock()))


@items.command("restore")
@click.argument("item_id", type=int)
@pass_app
def items_restore(app: App, item_id: int) -> None:
    """Put a rejected item back in the queue."""
    from digest.compose.items import set_state

    click.echo(set_state(app.db, item_id, ItemState.QUEUED, app.clock()))
