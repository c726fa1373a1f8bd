"""A proof copy of an issue: one message to one address, outside the delivery ledger.

The proof is the issue's own message with "[TEST] " before the subject; no delivery row is
made and the issue's status stays as it is, so a proof never counts as a delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from digest.db.schema import Issue
from digest.errors import PermanentSendError, TemporarySendError
from digest.model import Recipient
from digest.send.message import build_template, make_message_id
from digest.send.personalize import Personalizer
from digest.send.transport import Reply, SmtpTransport, Transport
from digest.settings import Settings
from subscribers.addresses import normalize_address

SUBJECT_PREFIX = "[TEST] "


def proof_message(issue: Issue, settings: Settings, address: str, now: datetime) -> bytes:
    """The issue as `address` would receive it, its subject marked as a test."""
    template = build_template(
        settings=settings,
        subject=SUBJECT_PREFIX + issue.subject,
        html_body=issue.html,
        text_body=issue.text,
        number=issue.number,
        date=now,
    )
    recipient = Recipient(
        delivery_id=0,
        subscriber_id=0,
        email=address,
        name="",
        message_id=make_message_id(settings, issue.number, 0),
    )
    return Personalizer(template, settings).message(recipient)


def send_proof(
    issue: Issue,
    settings: Settings,
    address: str,
    now: datetime,
    transport_factory: Callable[[], Transport] | None = None,
) -> Reply:
    """Send one proof copy through the configured SMTP server; the server's reply on
    success, TemporarySendError or PermanentSendError (with that reply) otherwise."""
    address = normalize_address(address)
    message = proof_message(issue, settings, address, now)
    envelope_from = settings.smtp.envelope_from or settings.newsletter.from_address
    transport = (transport_factory or (lambda: SmtpTransport(settings.smtp)))()
    try:
        reply = transport.send(envelope_from, address, message)
    finally:
        transport.close()
    if reply.code == 250:
        return reply
    permanent = reply.code is not None and reply.code >= 500
    error = PermanentSendError if permanent else TemporarySendError
    raise error(f"test copy of issue #{issue.number} to {address} not accepted: {reply.line}")
