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

# Sources are "events" feeds and items are "event"s: both spellings are accepted everywhere.
KINDS = ("news", "event", "events", "call", "calls")
# `collect`'s exit status when some sources failed (the others were collected).
SOME_SOURCES_FAILED = 3


def source_kind(value: str) -> SourceKind:
    value = value.lower()
    return SourceKind(value if value == "news" or value.endswith("s") else value + "s")


def item_kind(value: str) -> ItemKind:
    return source_kind(value).item_kind


def feed_options(command: Callable[..., None]) -> Callable[..., None]:
    """--kind, --date-order and --timezone: how a feed is read, for `add` and `check`."""
    for option in reversed(
        (
            click.option(
                "--kind",
                type=click.Choice(KINDS, case_sensitive=False),
                required=True,
                help="What the feed carries: news, events (or event), calls (or call).",
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
@click.option("--force", is_flag=True, help="Add it even if the URL does not serve a feed now.")
@pass_app
def sources_add(
    app: App, url: str, kind: str, name: str, date_order: str, timezone: str, force: bool
) -> None:
    """Register the feed (RSS, Atom, JSON Feed or iCalendar) at URL.

    The URL is fetched once first: an HTTP error or a body that is not a feed is refused
    (exit status 1) unless --force; an HTML page that names its feed in
    <link rel="alternate"> is followed to that feed. A server that cannot be reached now
    is added with a warning."""
    from digest.collect.sources import check_feed, check_timezone, http_url

    notes: tuple[str, ...] = ()
    if not force:
        check_timezone(timezone)
        with collector_log():
            checked = check_feed(http_url(url), source_kind(kind), app.settings, app.clock())
        url, notes = checked.url, checked.notes
    from digest.collect.sources import add_source

    source = add_source(
        app.db,
        url,
        source_kind(kind),
        name,
        app.clock(),
        dayfirst=date_order == "dmy",
        timezone=timezone,
        allow_hosts=app.settings.collect.allow_hosts,
    )
    click.echo(f"added source {source.id}: {source.url} ({source.kind})")
    for note in notes:
        click.echo(f"note: {note}")


@sources.command("check")
@click.argument("url")
@feed_options
@pass_app
def sources_check(app: App, url: str, kind: str, date_order: str, timezone: str) -> None:
    """Fetch URL once and show what would be queued; nothing is stored."""
    from digest.collect.sources import check_timezone, http_url

    source = SourceRef(
        id=0,
        url=http_url(url),
        name=url,
        kind=source_kind(kind),
        dayfirst=date_order == "dmy",
        timezone=check_timezone(timezone),
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
    from digest.db.sources import disabled_ids, list_sources

    rows = list_sources(app.db)
    disabled = disabled_ids(app.db)
    if as_json:
        echo_json(
            [
                {
                    "id": s.source.id,
                    "url": s.source.url,
                    "name": s.source.name,
                    "kind": s.source.kind,
                    "enabled": s.source.id not in disabled,
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
        state = "disabled" if s.source.id in disabled else health(s)
        line = (
            f"{s.source.id:>4}  {s.source.kind:<6}  {state:<8}  {s.items_found:>4} items  "
            f"last ok {when(s.last_success_at)}  {s.source.name}  {s.source.url}"
        )
        click.echo(line + (f"\n      last error: {s.last_error}" if s.last_error else ""))


@sources.command("remove")
@click.argument("source")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def sources_remove(app: App, source: str, yes: bool) -> None:
    """Delete SOURCE (its id or URL). Its items still waiting in the queue are rejected
    (`digest items restore ID` brings one back); items in a draft or already published
    are kept."""
    from digest.db.sources import find_source, remove_source

    found = find_source(app.db, source).source
    if not yes:
        click.confirm(f"remove source {found.id} ({found.name}, {found.url})?", abort=True)
    removed, rejected = remove_source(app.db, source, app.clock())
    click.echo(f"removed source {removed.id}: {removed.url} ({rejected} queued item(s) rejected)")


@sources.command("disable")
@click.argument("source")
@pass_app
def sources_disable(app: App, source: str) -> None:
    """Stop collecting SOURCE (its id or URL); it is kept, with its items and history."""
    from digest.db.sources import set_enabled

    ref = set_enabled(app.db, source, False)
    click.echo(f"disabled source {ref.id}: {ref.url} (not collected until enabled)")


@sources.command("enable")
@click.argument("source")
@pass_app
def sources_enable(app: App, source: str) -> None:
    """Collect SOURCE (its id or URL) again."""
    from digest.db.sources import set_enabled

    ref = set_enabled(app.db, source, True)
    click.echo(f"enabled source {ref.id}: {ref.url}")


@sources.command("edit")
@click.argument("source")
@click.option("--name", help="A new name for listings.")
@click.option("--kind", type=click.Choice(KINDS, case_sensitive=False), help="What it carries.")
@click.option("--date-order", type=click.Choice(["dmy", "mdy"]), help="Day order of its dates.")
@click.option("--timezone", help="Zone of times the feed gives without one.")
@pass_app
def sources_edit(
    app: App,
    source: str,
    name: str | None,
    kind: str | None,
    date_order: str | None,
    timezone: str | None,
) -> None:
    """Change SOURCE's (its id or URL) name, kind, date order or time zone. Items already
    queued keep how they were read; the next collect reads the whole feed again."""
    from digest.collect.sources import check_timezone
    from digest.db.sources import update_source
    from digest.errors import CollectError

    if name is kind is date_order is timezone is None:
        raise CollectError("nothing to change: give --name, --kind, --date-order or --timezone")
    ref = update_source(
        app.db,
        source,
        name=name,
        kind=source_kind(kind) if kind else None,
        dayfirst=None if date_order is None else date_order == "dmy",
        timezone=check_timezone(timezone) if timezone is not None else None,
    )
    order = "dmy" if ref.dayfirst else "mdy"
    click.echo(f"source {ref.id}: {ref.name} ({ref.kind}, {order}, {ref.timezone}) {ref.url}")


@click.command("collect")
@pass_app
def collect_command(app: App) -> None:
    """Fetch every source and queue new items.

    Disabled sources (`digest sources disable`) are skipped.

    \b
    Exit status:
      0  every source was collected (or had nothing new)
      3  some sources failed (one line each on standard error); the others were collected
      1  nothing could be done (settings, database)"""
    from digest.collect import collect

    with collector_log():
        reports = collect(app.db, app.settings, app.clock)
    for report in reports:
        click.echo(report.line, err=bool(report.error))
    failed = sum(1 for r in reports if r.error)
    new = sum(r.new for r in reports)
    click.echo(f"collected {len(reports)} source(s): {new} new item(s), {failed} failed")
    if failed:
        raise SystemExit(SOME_SOURCES_FAILED)


@click.group()
def items() -> None:
    """Inspect the queue of news, events and calls."""


@items.command("list")
@click.option("--kind", type=click.Choice(KINDS, case_sensitive=False), help="Only this kind.")
@click.option("--state", type=click.Choice([s.value for s in ItemState]), help="Only this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def items_list(app: App, kind: str | None, state: str | None, as_json: bool) -> None:
    """List queued items, newest first."""
    import dataclasses

    from digest.db.items import list_items

    rows = list_items(
        app.db, item_kind(kind) if kind else None, ItemState(state) if state else None
    )
    if as_json:
        echo_json([dataclasses.asdict(i) for i in rows])
        return
    # Newest first by publication; "when" is an event's start or a call's deadline.
    if rows:
        click.echo(f"{'id':>5}  {'kind':<5}  {'state':<9}  {'published':<16}  {'when':<16}  title")
    for i in rows:
        flag = f"  [review: {i.needs_review}]" if i.needs_review else ""
        due = when(i.date) if i.kind is not ItemKind.NEWS else ""
        click.echo(
            f"{i.id:>5}  {i.kind:<5}  {i.state:<9}  {when(i.published_at):<16}  {due:<16}  "
            f"{i.title}{flag}"
        )
    if not rows:
        click.echo("no items")


@items.command("add")
@click.option("--kind", type=click.Choice(KINDS, case_sensitive=False), required=True)
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

    fields["kind"] = item_kind(fields["kind"]).value
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
