"""Sending the outbox: the confirmation and notice mails the web pages queued, one at a time
through the relay, with retries that back off; the sender inside `digest serve` and the
daemon's deliveries job both call `send_outbox`. And the pure decision of whether one more
such mail may be queued to an address (the cooldown and the daily cap)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.db import outbox as repo
from digest.db.engine import Database
from digest.send.wiring import Relay

LOG = logging.getLogger(__name__)
# A claimed mail is skipped by other senders this long: far beyond any SMTP timeout.
LEASE = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)
# A confirmation link expires after web.confirm_max_age_hours; a mail later than a day is
# rarely wanted any more.
GIVE_UP_AFTER = timedelta(hours=24)
DAY = timedelta(days=1)


def may_queue(
    recent: Sequence[datetime], now: datetime, *, cooldown: timedelta, daily_cap: int
) -> bool:
    """Whether one more mail may go to an address that was sent mails at `recent` times:
    none within `cooldown`, and fewer than `daily_cap` in the last 24 hours."""
    within_day = [t for t in recent if now - t < DAY]
    if len(within_day) >= daily_cap:
        return False
    return not any(now - t < cooldown for t in within_day)


def retry_at(attempts: int, created_at: datetime, now: datetime) -> datetime | None:
    """When to try a mail again after its `attempts`-th failed attempt: 1, 2, 4 ... minutes,
    at most an hour apart; None once it is older than a day (given up)."""
    delay = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)
    when = now + delay
    return None if when - created_at > GIVE_UP_AFTER else when


@dataclass(frozen=True, slots=True)
class OutboxReport:
    sent: int = 0
    failed: int = 0  # to be tried again
    given_up: int = 0
    unreachable: str = ""  # the relay could not be reached: the rest waits for the next run

    @property
    def line(self) -> str:
        text = f"outbox: {self.sent} sent, {self.failed} to retry, {self.given_up} given up"
        return f"{text}; {self.unreachable}" if self.unreachable else text


def send_outbox(
    db: Database,
    relay: Relay,
    clock: Callable[[], datetime],
    *,
    limit: int = 100,
    stop: threading.Event | None = None,
) -> OutboxReport:
    """Send the mails due now, oldest first, at most `limit`; stops at the first sign that
    the relay cannot be reached (each try of a hung relay costs a full SMTP timeout)."""
    sent = failed = given_up = 0
    unreachable = ""
    transport = relay.transport_factory()
    try:
        for _ in range(limit):
            if stop is not None and stop.is_set():
                break
            mail = repo.claim_next(db, clock(), LEASE)
            if mail is None:
                break
            reply = transport.send(mail.envelope_from, mail.to_address, mail.message)
            now = clock()
            if reply.code == 250:
                repo.mark_sent(db, mail.id, now)
                sent += 1
                continue
            # 5xx: the relay will never take it (RFC 5321 4.2.1); else try again later.
            permanent = reply.code is not None and 500 <= reply.code < 600
            again = None if permanent else retry_at(mail.attempts, mail.created_at, now)
            repo.mark_failed(db, mail.id, reply.line, again)
            if again is None:
                given_up += 1
                LOG.warning("%s mail given up: %s", mail.kind, reply.line)
            else:
                failed += 1
            if not reply.reached or reply.code is None:
                unreachable = reply.line
                break
    finally:
        transport.close()
    return OutboxReport(sent, failed, given_up, unreachable)
