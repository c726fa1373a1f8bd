"""The SMTP relay as the send stage reaches it, made once by a composition root (the CLI, the
scheduler, the demo, the web app) and passed to the stage's entry functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from digest.send.transport import SmtpTransport, Transport
from digest.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Relay:
    """Where messages go: a factory of connections (one per sending thread) and the
    envelope sender (MAIL FROM) that VERP, when on, turns into one per delivery."""

    transport_factory: Callable[[], Transport]
    envelope_from: str


def smtp_relay(
    settings: Settings, transport_factory: Callable[[], Transport] | None = None
) -> Relay:
    """The configured relay: smtp.host and the rest, and smtp.envelope_from, else the From
    address. `transport_factory` replaces the SMTP connection (a test's own transport)."""
    smtp = settings.smtp
    return Relay(
        transport_factory=transport_factory or (lambda: SmtpTransport(smtp)),
        envelope_from=smtp.envelope_from or settings.newsletter.from_address,
    )
