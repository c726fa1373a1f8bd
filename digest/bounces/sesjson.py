"""Amazon SES notifications mailed as JSON (through SNS): bounces, complaints and delivery
notices in the body of an ordinary-looking message."""

from __future__ import annotations

import json
from typing import Any

from digest.bounces import dsn
from digest.bounces.addresses import address_in
from digest.bounces.message import Parsed
from digest.bounces.status import verdict
from digest.model import BounceKind, BounceReason, BounceReport


def read(parsed: Parsed) -> BounceReport | None:
    """The report an SES notification in the body gives, or None when there is none."""
    for text in parsed.texts:
        start = text.find('{"notificationType"')
        if start < 0:
            start = text.find('{"eventType"')
        if start < 0:
            continue
        try:
            data, _ = json.JSONDecoder().raw_decode(
                text[start:].replace("\r\n ", "").replace("\n ", "")
            )
        except ValueError:
            continue
        if isinstance(data, dict):
            return _report(data)
    return None


def _report(data: dict[str, Any]) -> BounceReport | None:
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    if kind == "complaint":
        complaint = data.get("complaint") or {}
        recipients = [
            address_in(str(r.get("emailAddress", "")))
            for r in complaint.get("complainedRecipients") or []
            if isinstance(r, dict)
        ]
        return BounceReport(
            is_bounce=True,
            kind=BounceKind.COMPLAINT,
            recipients=tuple(r for r in recipients if r),
            reason=BounceReason.FEEDBACK,
            feedback_type=str(complaint.get("complaintFeedbackType") or "abuse"),
        )
    if kind == "bounce":
        bounce = data.get("bounce") or {}
        entries = [r for r in bounce.get("bouncedRecipients") or [] if isinstance(r, dict)]
        recipients = [address_in(str(r.get("emailAddress", ""))) for r in entries]
        first = entries[0] if entries else {}
        diagnostic = str(first.get("diagnosticCode") or "")
        status = dsn.status_of(str(first.get("status") or "")) or dsn.status_of(diagnostic)
        code = dsn.code_of(diagnostic)
        judged = verdict(diagnostic, status, code)
        hard = judged.hard and str(bounce.get("bounceType", "")).lower() != "transient"
        return BounceReport(
            is_bounce=True,
            kind=BounceKind.HARD if hard else BounceKind.SOFT,
            recipients=tuple(r for r in recipients if r),
            reason=judged.reason,
            status=status,
            code=code,
            diagnostic=" ".join(diagnostic.split())[:500],
        )
    if kind == "delivery":
        return BounceReport(
            is_bounce=False, kind=BounceKind.NOT_BOUNCE, reason=BounceReason.DELIVERED
        )
    return None
