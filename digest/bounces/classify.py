"""The bounce classifier: what a returned message says, from its bytes alone (pure, no I/O).

`classify(raw)` reads, in order of trust: an ARF feedback report (a complaint), an RFC 3464
delivery-status report, the notices of MTAs that send none (mta.py), and last the signs of
auto-replies and challenge-response mail, which are not bounces. It never raises: a message
it cannot read is a `not_bounce` report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message
from typing import Any

from digest.bounces import arf, autoreply, dsn, mta, sesjson
from digest.bounces.addresses import all_in, header_addresses, is_system
from digest.bounces.message import Parsed, header, headers, parse, parse_message
from digest.bounces.status import Verdict, verdict
from digest.bounces.verp import delivery_id
from digest.model import BounceKind, BounceReason, BounceReport

_NOT_FAILED = ("delivered", "relayed", "expanded")
MAX_RECIPIENTS = 50
MAX_DIAGNOSTIC = 500


def classify(raw: bytes, *, verp_keys: Sequence[str] = ()) -> BounceReport:
    """The report for one raw message; never raises."""
    try:
        parsed = parse(raw if isinstance(raw, bytes) else bytes(raw))
        report = _classify(parsed)
        found = delivery_id([parsed.headers, *parsed.original], verp_keys)
    except (Exception, RecursionError):  # a classifier must survive any message
        return BounceReport(is_bounce=False, kind=BounceKind.NOT_BOUNCE)
    if found is None:
        return report
    return _replace(report, delivery_id=found)


def as_label(report: BounceReport) -> dict[str, Any]:
    """The report as the corpus labels and the CLI spell it."""
    return {
        "is_bounce": report.is_bounce,
        "recipients": list(report.recipients),
        "kind": report.kind.value,
        "reason": report.reason.value,
        "status": report.status,
    }


def classify_dict(raw: bytes) -> dict[str, Any]:
    """`as_label(classify(raw))`: the form the corpus scorer calls."""
    return as_label(classify(raw))


def _classify(parsed: Parsed, depth: int = 0) -> BounceReport:
    report = _classify_one(parsed)
    if depth == 0 and not (report.is_bounce and report.recipients):
        # A bounce forwarded as an attachment (by a filter, a help desk, a list owner).
        for original in parsed.original[:2]:
            if _content_type_of(original) == "multipart/report" or mta.is_system_sender(
                header(original, "from")
            ):
                inner = _classify(parse_message(original), depth + 1)
                if inner.is_bounce and inner.recipients:
                    return inner
    return report


def _content_type_of(message: Message) -> str:
    try:
        return message.get_content_type().lower()
    except Exception:
        return ""


def _classify_one(parsed: Parsed) -> BounceReport:
    if arf.is_feedback(parsed):
        complaint = arf.complaint(parsed)
        return BounceReport(
            is_bounce=True,
            kind=BounceKind.COMPLAINT,
            recipients=tuple(complaint.recipients[:MAX_RECIPIENTS]),
            reason=BounceReason.FEEDBACK,
            feedback_type=complaint.feedback_type,
        )
    provider = sesjson.read(parsed)
    if provider is not None:
        return provider
    notice = mta.notice_text(parsed.texts)
    report = _from_dsn(parsed, notice)
    if report is not None:
        return report
    sender = header(parsed.headers, "from")
    bounce_like = mta.looks_like_bounce(sender, parsed.subject, notice) or (
        parsed.report_type == "delivery-status"
    )
    if autoreply.is_challenge(parsed.subject, notice) and not dsn.code_of(notice):
        # Challenge-response systems hold the message until the sender proves to be one.
        return BounceReport(is_bounce=False, kind=BounceKind.NOT_BOUNCE)
    if bounce_like and not _auto_reply_only(parsed, notice):
        return _from_notice(parsed, notice)
    return _not_bounce(parsed, notice)


def _auto_reply_only(parsed: Parsed, notice: str) -> bool:
    """An auto-reply that merely mentions delivery words (Exim marks its bounces
    Auto-Submitted too, so that header alone decides nothing)."""
    if not autoreply.is_auto_reply(parsed.headers, parsed.subject):
        return False
    return not mta.is_system_sender(header(parsed.headers, "from"))


def _not_bounce(parsed: Parsed, notice: str) -> BounceReport:
    reason = BounceReason.UNKNOWN
    if autoreply.is_auto_reply(parsed.headers, parsed.subject):
        reason = BounceReason.VACATION
    return BounceReport(is_bounce=False, kind=BounceKind.NOT_BOUNCE, reason=reason)


def _from_dsn(parsed: Parsed, notice: str) -> BounceReport | None:
    texts = parsed.reports or [t for t in parsed.texts if dsn.has_fields(t)]
    groups = [g for text in texts for g in dsn.recipients(text) if g.address]
    if not groups:
        return None
    failed = [g for g in groups if g.action not in _NOT_FAILED]
    if not failed:
        return BounceReport(
            is_bounce=False, kind=BounceKind.NOT_BOUNCE, reason=BounceReason.DELIVERED
        )
    failed = _unique_groups(failed)
    first = failed[0]
    diagnostic = first.diagnostic
    about = ""
    if first.address in notice:
        about = mta.read(notice, set()).diagnostics.get(first.address, "")
    if not about:
        about = _lines_with(notice, first.address)
    text = " ".join(x for x in (diagnostic, about) if x)
    status = first.status or dsn.status_of(diagnostic) or None
    code = dsn.code_of(diagnostic) or dsn.code_of(about)
    judged = verdict(text or mta.error_lines(notice), status, code)
    if first.action == "delayed" and judged.hard:
        judged = Verdict(judged.reason, False)
    return _bounce([g.address for g in failed], judged, status, code, diagnostic or about or text)


def _unique_groups(groups: list[dsn.Recipient]) -> list[dsn.Recipient]:
    seen: set[str] = set()
    kept = []
    for group in groups:
        if group.address not in seen:
            seen.add(group.address)
            kept.append(group)
    return kept


def _lines_with(text: str, address: str) -> str:
    if not address:
        return ""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if address in line.lower():
            return " ".join(x.strip() for x in lines[number : number + 4])
    return ""


def _from_notice(parsed: Parsed, notice: str) -> BounceReport:
    exclude, senders = _our_addresses(parsed)
    read = mta.read(notice, exclude, senders)
    diagnostics = read.diagnostics
    # Exim names the failed recipients in a header too; the notice is what the sample
    # corpora trust when the two disagree.
    recipients = read.recipients
    if not recipients:
        recipients = header_addresses(headers(parsed.headers, "x-failed-recipients"))
    if not recipients:
        recipients = _original_recipients(parsed, exclude)
    about = diagnostics.get(recipients[0], "") if recipients else ""
    if not about and recipients:
        about = _lines_with(notice, recipients[0])
    errors = mta.error_lines(notice)
    status = dsn.status_of(about) or dsn.status_of(errors)
    code = dsn.code_of(about) or dsn.code_of(errors)
    judged = verdict(about, status, code)
    if judged.reason is BounceReason.UNKNOWN:
        judged = verdict(errors + " " + notice[:1500], status, code)
    return _bounce(recipients, judged, status, code, about or errors)


def _bounce(
    recipients: list[str], judged: Verdict, status: str | None, code: int | None, text: str
) -> BounceReport:
    unique = list(dict.fromkeys(r for r in recipients if r))[:MAX_RECIPIENTS]
    return BounceReport(
        is_bounce=True,
        kind=BounceKind.HARD if judged.hard else BounceKind.SOFT,
        recipients=tuple(unique),
        reason=judged.reason,
        status=status,
        code=code,
        diagnostic=" ".join(text.split())[:MAX_DIAGNOSTIC],
    )


def _our_addresses(parsed: Parsed) -> tuple[set[str], set[str]]:
    """(addresses of the bounce's own headers, the bounce's sender): an address of the
    first kind is not a recipient unless the notice sets it apart; of the second, never."""
    ours: set[str] = set()
    senders: set[str] = set(header_addresses(headers(parsed.headers, "from")))
    for name in ("to", "cc", "reply-to", "return-path", "sender", "errors-to"):
        ours.update(header_addresses(headers(parsed.headers, name)))
    for original in parsed.original:
        for name in ("from", "sender", "return-path", "reply-to"):
            ours.update(header_addresses(headers(original, name)))
    for text in parsed.original_text:
        for match in re.finditer(r"^(from|sender|return-path):(.*)$", text, re.I | re.M):
            ours.update(all_in(match.group(2)))
    return ours | senders, senders


def _original_recipients(parsed: Parsed, exclude: set[str]) -> list[str]:
    found: list[str] = []
    for original in parsed.original:
        found.extend(header_addresses(headers(original, "to")))
    for text in parsed.original_text:
        for match in re.finditer(r"^to:(.*)$", text, re.I | re.M):
            found.extend(all_in(match.group(1)))
    return [a for a in dict.fromkeys(found) if a not in exclude and not is_system(a)]


def _replace(report: BounceReport, **changes: Any) -> BounceReport:
    import dataclasses

    return dataclasses.replace(report, **changes)
