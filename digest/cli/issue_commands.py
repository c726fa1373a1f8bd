"""The commands of `digest issue` that compose, preview and edit the draft."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.app import App, bind, echo_json, pass_app
from digest.model import SPOTLIGHT_KINDS, Spotlight

if TYPE_CHECKING:
    from digest.compose import ComposedIssue

# The library (SQLAlchemy, the renderer) is imported inside each command: `digest --help`
# and every other command do not pay for it.


@click.command("compose")
@pass_app
def issue_compose(app: App) -> None:
    """Make the draft of the next issue from the queue, or refresh the current draft."""
    from digest.compose import compose_issue
    from digest.compose.draft import counts_line, flagged_lines

    composed = compose_issue(app.db, app.settings, app.clock)
    verb = "refreshed" if composed.refreshed else "composed"
    click.echo(
        f"{verb} issue #{composed.number}: {counts_line(composed.plan)}; "
        f"{len(composed.rendered.html.encode()):,} bytes of HTML; "
        f"subject: {composed.rendered.subject}"
    )
    if composed.flagged:
        count = len(composed.flagged)
        click.echo(
            f"left out, flagged for review ({count} item{'' if count == 1 else 's'}; add "
            "them again with the date or deadline, or `digest items reject ID`):"
        )
        for line in flagged_lines(composed.flagged):
            click.echo(line)


@click.command("preview")
@click.option("--number", "-n", type=int, help="Issue number (default: the newest).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write issue.html, issue.txt and issue.eml to this folder instead of serving.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve on; any but a loopback address shows the draft to the network.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="TCP port."
)
@pass_app
def issue_preview(app: App, number: int | None, out: Path | None, host: str, port: int) -> None:
    """Show the issue exactly as a subscriber receives it, on a local page that follows
    template and queue changes; with --out, write the HTML, text and a complete .eml."""
    from digest.db.issues import latest_issue

    row = latest_issue(app.db, number)
    if out is not None:
        from digest.send.sample import write_preview

        files = write_preview(row, app.settings, out, app.clock())
        click.echo(
            f"issue #{row.number} ({row.status}): {files.html}\n"
            f"text: {files.text}\nmessage: {files.eml}"
        )
        return
    # Imported here: the web stack (Starlette, uvicorn) would slow every other command.
    from digest.web import LOOPBACK_NAMES, is_loopback, serve, url_of
    from digest.web.preview import preview_app

    loopback = is_loopback(host)
    sock = bind(host, port, "anyone who can reach this machine can read the draft")
    web = preview_app(
        app.db,
        app.settings,
        app.clock,
        number=number,
        allowed_hosts=(*LOOPBACK_NAMES, host) if loopback else None,
    )
    click.echo(f"previewing issue #{row.number} ({row.status}) on {url_of(sock)} (Ctrl-C stops)")
    serve(web, sock)
    click.echo("preview stopped")


def _refreshed(composed: ComposedIssue) -> None:
    from digest.compose.draft import counts_line

    click.echo(f"draft #{composed.number} refreshed: {counts_line(composed.plan)}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Toggle:
    """A one-argument command that sets the draft's pin or exclusion flags for ITEM."""

    name: str
    help: str
    pinned: bool | None = None
    excluded: bool | None = None

    def command(self) -> click.Command:
        @click.command(self.name, help=self.help)
        @click.argument("item_id", type=int)
        @pass_app
        def toggle(app: App, item_id: int) -> None:
            from digest.compose.editing import edit_item

            composed = edit_item(
                app.db,
                app.settings,
                app.clock,
                item_id,
                pinned=self.pinned,
                excluded=self.excluded,
            )
            _refreshed(composed)

        return toggle


issue_pin = Toggle(
    name="pin",
    help="Keep ITEM in the draft even past its section's limit.",
    pinned=True,
    excluded=False,
).command()
issue_unpin = Toggle(
    name="unpin", help="Let ITEM compete for its place again.", pinned=False
).command()
issue_exclude = Toggle(
    name="exclude",
    help="Leave ITEM out of this issue (it stays queued for the next one).",
    excluded=True,
    pinned=False,
).command()
issue_include = Toggle(name="include", help="Undo `exclude`.", excluded=False).command()


@click.command("move")
@click.argument("item_id", type=int)
@click.option("--to", "position", type=int, help="1-based place in its section.")
@click.option("--auto", is_flag=True, help="Back to the natural order.")
@pass_app
def issue_move(app: App, item_id: int, position: int | None, auto: bool) -> None:
    """Put ITEM at a place in its section."""
    from digest.compose.editing import edit_item

    if (position is None) == (not auto):
        raise click.UsageError("give either --to N or --auto")
    _refreshed(
        edit_item(app.db, app.settings, app.clock, item_id, position=None if auto else position)
    )


@click.command("edit")
@click.argument("item_id", type=int)
@click.option("--title", help="Title for this issue only.")
@click.option("--summary", help="Summary for this issue only (simple HTML allowed).")
@click.option("--reset", is_flag=True, help="Back to the item's own title and summary.")
@pass_app
def issue_edit(app: App, item_id: int, title: str | None, summary: str | None, reset: bool) -> None:
    """Override ITEM's title or summary in this issue only."""
    from digest.compose.editing import UNSET, edit_item

    if reset:
        composed = edit_item(app.db, app.settings, app.clock, item_id, title=None, summary=None)
    elif title is None and summary is None:
        raise click.UsageError("give --title, --summary or --reset")
    else:
        composed = edit_item(
            app.db,
            app.settings,
            app.clock,
            item_id,
            title=UNSET if title is None else title,
            summary=UNSET if summary is None else summary,
        )
    _refreshed(composed)


@click.command("intro")
@click.argument("text", required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the introduction from a file.",
)
@click.option("--clear", is_flag=True, help="Remove the introduction.")
@pass_app
def issue_intro(app: App, text: str | None, path: Path | None, clear: bool) -> None:
    """Set the editorial introduction at the top of the draft."""
    from digest.compose.editing import set_intro

    if clear:
        text = ""
    elif path is not None:
        text = path.read_text(encoding="utf-8")
    elif text is None:
        raise click.UsageError("give TEXT, --file or --clear")
    _refreshed(set_intro(app.db, app.settings, app.clock, text))


@click.command("spotlight")
@click.option("--kind", type=click.Choice(SPOTLIGHT_KINDS), default="quote", show_default=True)
@click.option("--title", default="", help="Heading (default: by kind).")
@click.option("--text", default="", help="The quote, or a sentence about the link.")
@click.option("--by", default="", help="Who said it / who is interviewed.")
@click.option("--url", default="", help="Link to the page or the interview.")
@click.option("--clear", is_flag=True, help="Remove the spotlight.")
@pass_app
def issue_spotlight(
    app: App, kind: str, title: str, text: str, by: str, url: str, clear: bool
) -> None:
    """Add a quote, an interview or an "at a glance" link block to the draft."""
    from digest.compose.editing import set_spotlight

    spotlight = None if clear else Spotlight(kind=kind, title=title, text=text, by=by, url=url)
    _refreshed(set_spotlight(app.db, app.settings, app.clock, spotlight))


@click.command("show")
@click.argument("number", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def issue_show(app: App, number: int | None, as_json: bool) -> None:
    """Print what is in issue NUMBER (default: the newest)."""
    from digest.compose.view import show_issue

    view = show_issue(app.db, number)
    if as_json:
        echo_json(dataclasses.asdict(view))
        return
    click.echo(f"issue #{view.number} ({view.status}): {view.subject}")
    if view.intro:
        click.echo(f"intro: {view.intro}")
    section = ""
    for line in view.lines:
        if line.section != section:
            section = line.section
            click.echo(f"\n{section.upper()}")
        notes = f"  [{', '.join(line.notes)}]" if line.notes else ""
        click.echo(f"  {line.position:>2}. item {line.item_id}: {line.title}{notes}")
    if view.spotlight:
        s = view.spotlight
        click.echo(f"\nSPOTLIGHT ({s.kind}): {s.title or s.text}" + (f" — {s.by}" if s.by else ""))
    if view.excluded:
        click.echo(f"\nexcluded: {', '.join(f'item {i}' for i in view.excluded)}")
