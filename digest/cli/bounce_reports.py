"""`digest bounces list`, `show` and `stats`: what came back, what was done with it, and each
issue's bounce and complaint rates with a warning when they put the sender at risk."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import Message
from typing import TYPE_CHECKING, Any

import click

from digest.cli.app import App, echo_json, pass_app, when
from digest.errors import DigestError
from digest.model import BounceKind

if TYPE_CHECKING:
    from digest.db.bounces import IssueBounces, StoredBounce

KINDS = click.Choice([k.value for k in BounceKind] + ["unsubscribe"])
# Parts of a report that are its evidence: what the remote server said, the complaint's
# fields, the headers of the message that came back.
EVIDENCE = ("message/delivery-status", "message/feedback-report", "text/rfc822-headers")


@click.command("list")
@click.option("--kind", type=KINDS, help="Only messages of this kind.")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="Only messages received since DATE (UTC)."
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@pass_app
def bounces_list(app: App, kind: str | None, since: datetime | None, limit: int) -> None:
    """List received bounces and complaints, newest first.

    One line each: id, when, channel, kind, outcome, subscriber and what was done or why not.
    """
    from digest.db.bounces import list_messages

    start = since.replace(tzinfo=UTC) if since else None
    rows = list_messages(app.db, kind=kind, since=start, limit=limit)
    if not rows:
        click.echo("no bounces received")
    for row in rows:
        click.echo(list_line(row))


def list_line(row: StoredBounce) -> str:
    note = " ".join(row.note.split())
    if len(note) > 100:
        note = note[:99] + "…"
    return (
        f"#{row.id:<5} {when(row.received_at)}  {row.channel:<8} {row.kind:<11} "
        f"{row.outcome:<9} {row.email or '-'}  {note}"
    ).rstrip()


@click.command("show")
@click.argument("message_id", type=int)
@pass_app
def bounces_show(app: App, message_id: int) -> None:
    """Show one received message: its classification, what was done and the evidence.

    The evidence is the message's headers and its delivery-status or feedback-report part
    (a webhook event is shown as received).
    """
    from digest.db.bounces import get_message

    row = get_message(app.db, message_id)
    if row is None:
        raise DigestError(f"no received message #{message_id} (pruned after bounces.keep_days?)")
    click.echo(f"message      #{row.id} ({row.size} bytes, key {row.key})")
    click.echo(f"received     {when(row.received_at)} via {row.channel}")
    click.echo(f"kind         {row.kind}" + (f" ({row.reason})" if row.reason else ""))
    click.echo(f"outcome      {row.outcome}")
    who = row.email or (f"subscriber {row.subscriber_id}" if row.subscriber_id else "-")
    click.echo(
        f"subscriber   {who}" + (f" (delivery {row.delivery_id})" if row.delivery_id else "")
    )
    click.echo(f"note         {row.note or '-'}")
    headers, evidence = _evidence(row.raw)
    click.echo("\n--- headers ---\n" + headers.rstrip())
    if evidence:
        click.echo("\n--- evidence ---\n" + evidence.rstrip())


def _evidence(raw: bytes) -> tuple[str, str]:
    """The message's header block, and the text of its evidence parts; for anything that is
    not a mail message (a webhook's JSON), the whole of it as text and no evidence."""
    text = raw.decode("utf-8", "replace")
    head, sep, _ = text.replace("\r\n", "\n").partition("\n\n")
    if not sep or ":" not in head.split("\n", 1)[0]:
        return text[:20000], ""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        parts = [_part_text(p) for p in message.walk() if p.get_content_type() in EVIDENCE]
    except Exception as e:  # an unreadable structure: its headers are still worth showing
        return head, f"(the body could not be read: {e})"
    return head, "\n\n".join(p for p in parts if p)


def _part_text(part: Message) -> str:
    payload: Any = part.get_payload()
    if isinstance(payload, list):
        return "\n".join(str(block).strip() for block in payload)
    return str(payload).strip()


@click.command("stats")
@click.option("--issue", "number", type=int, help="Only issue N (default: the latest 10).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def bounces_stats(app: App, number: int | None, as_json: bool) -> None:
    """Delivered, hard, soft and complaint counts and rates per issue, with a warning when a
    rate puts the sender's reputation at risk.

    Rates are over the deliveries made (sent, or refused at once by the server).
    """
    from digest.bounces.policy import rate_warnings
    from digest.db.bounces import issue_stats

    rules = app.settings.bounces
    stats = issue_stats(app.db, number=number)
    if number is not None and not stats:
        raise DigestError(f"issue #{number} has not been sent")
    warnings = {
        s.number: rate_warnings(
            s.number, hard_rate=s.hard_rate, complaint_rate=s.complaint_rate, rules=rules
        )
        for s in stats
    }
    if as_json:
        echo_json([_as_data(s, warnings[s.number]) for s in stats])
        return
    if not stats:
        click.echo("no issue has been sent")
        return
    click.echo(f"{'issue':<7} {'mailed':>7} {'delivered':>9} {'hard':>13} {'soft':>13} "
               f"{'complaints':>15}")  # fmt: skip
    for s in stats:
        click.echo(
            f"#{s.number:<6} {s.mailed:>7} {s.delivered:>9} "
            f"{_count(s.hard, s.hard_rate):>13} {_count(s.soft, s.soft_rate):>13} "
            f"{_count(s.complaints, s.complaint_rate, 3):>15}"
        )
    for lines in warnings.values():
        for line in lines:
            click.echo(f"warning: {line}", err=True)


def _count(n: int, rate: float, digits: int = 2) -> str:
    return f"{n} ({rate:.{digits}%})"


def _as_data(s: IssueBounces, warnings: list[str]) -> dict[str, object]:
    return {
        "issue": s.number,
        "sent_at": s.sent_at,
        "mailed": s.mailed,
        "delivered": s.delivered,
        "hard": s.hard,
        "soft": s.soft,
        "complaints": s.complaints,
        "hard_rate": round(s.hard_rate, 6),
        "soft_rate": round(s.soft_rate, 6),
        "complaint_rate": round(s.complaint_rate, 6),
        "warnings": warnings,
    }


def rates_line(s: IssueBounces) -> str:
    """One issue's rates in one line, for `digest status`."""
    return (
        f"#{s.number}: {_count(s.hard, s.hard_rate)} hard, {_count(s.soft, s.soft_rate)} soft, "
        f"{_count(s.complaints, s.complaint_rate, 3)} complaints of {s.mailed} mailed"
    )
