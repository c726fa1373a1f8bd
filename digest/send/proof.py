"""Proof copies of an issue: one message to each editor, outside the delivery ledger.

The proof is the issue's own message with "[TEST] " before the subject; no delivery row is
made and the issue's status stays as it is, so a proof never counts as a delivery. The
editors are the addresses given (`--to A --to B,C`) or else newsletter.proof_addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from digest.errors import ConfigError, DigestError, PermanentSendError, TemporarySendError
from digest.model import DeliveryStatus, Recipient, StoredIssue
from digest.send.classify import classify_reply
from digest.send.message import build_template, make_message_id
from digest.send.personalize import Personalizer
from digest.send.transport import Reply
from digest.send.wiring import Relay
from digest.settings import Settings
from subscribers.addresses import normalize_address

SUBJECT_PREFIX = "[TEST] "


def proof_message(issue: StoredIssue, settings: Settings, address: str, now: datetime) -> bytes:
    """The issue as `address` would receive it, its subject marked as a test."""
    template = build_template(
        settings=settings,
        subject=SUBJECT_PREFIX + issue.subject,
        html_body=issue.html,
        text_body=issue.text,
        number=issue.number,
        date=now,
        placeholders=issue.placeholders,
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
    issue: StoredIssue, settings: Settings, address: str, now: datetime, relay: Relay
) -> Reply:
    """Send one proof copy through `relay`; the server's reply on success,
    TemporarySendError or PermanentSendError (with that reply) otherwise, as the send
    stage's classifier says (a 552 at RCPT is temporary, RFC 5321)."""
    address = normalize_address(address)
    message = proof_message(issue, settings, address, now)
    transport = relay.transport_factory()
    try:
        reply = transport.send(relay.envelope_from, address, message)
    finally:
        transport.close()
    verdict = classify_reply(reply.code, reply.text, at_rcpt=reply.at_rcpt)
    if verdict.status is DeliveryStatus.SENT:
        return reply
    error = PermanentSendError if verdict.status is DeliveryStatus.FAILED else TemporarySendError
    raise error(f"test copy of issue #{issue.number} to {address} not accepted: {reply.line}")


def proof_recipients(given: Iterable[str], configured: Iterable[str]) -> tuple[str, ...]:
    """Where proofs go: the `given` addresses (each may be a comma-separated list), else the
    `configured` ones; normalized, in order, each once. An invalid address is an error
    before anything is sent; none at all is a ConfigError that says how to name some."""
    wanted = [part for entry in given for part in entry.split(",") if part.strip()]
    if not wanted:
        wanted = [part for entry in configured for part in entry.split(",") if part.strip()]
    if not wanted:
        raise ConfigError(
            "no address for a proof: give --to ADDRESS or set newsletter.proof_addresses"
        )
    return tuple(dict.fromkeys(normalize_address(a) for a in wanted))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProofOutcome:
    """What became of one proof copy: the server's reply, or why it was not accepted."""

    address: str
    reply: Reply | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.reply is not None


def send_proofs(
    issue: StoredIssue,
    settings: Settings,
    addresses: Iterable[str],
    now: datetime,
    relay: Relay,
) -> tuple[ProofOutcome, ...]:
    """One proof copy to each address; a copy refused (or a relay away) for one editor is
    reported and the others are still sent."""
    outcomes = []
    for address in addresses:
        try:
            reply = send_proof(issue, settings, address, now, relay)
        except DigestError as e:
            outcomes.append(ProofOutcome(address=address, error=" ".join(str(e).split())))
        else:
            outcomes.append(ProofOutcome(address=address, reply=reply))
    return tuple(outcomes)
