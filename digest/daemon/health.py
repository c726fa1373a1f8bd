"""What needs the operator's attention, decided from the status facts with the clock a
parameter: `digest status` prints one line per reason and exits 2, so it serves as a health
check (a failing source, an issue stuck in `sending`, a complaint rate over the threshold,
a scheduler that stopped when one is expected)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from digest.db.daemon import Holder
from digest.db.status import SendProgress

# A send that has not moved for this long, with no sender alive, waits for nobody.
STUCK_AFTER = timedelta(hours=1)
# A daemon that held the lock this recently is expected to be running still.
EXPECTED_WITHIN = timedelta(days=1)
# A running daemon beats every minute; this long without a beat, it hangs.
SILENT_AFTER = timedelta(minutes=10)


def _at(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def is_stuck(send: SendProgress, now: datetime) -> bool:
    """No progress for over STUCK_AFTER, no live sender, and not merely waiting for a retry
    that is not yet overdue."""
    if send.sender is not None and send.sender_seen_at and now - send.sender_seen_at < STUCK_AFTER:
        return False
    moved = [t for t in (send.last_progress_at, send.started_at) if t is not None]
    if moved and now - max(moved) < STUCK_AFTER:
        return False
    waiting_for_retry = send.due == 0 and send.next_retry_at is not None
    return not (waiting_for_retry and send.next_retry_at and send.next_retry_at > now - STUCK_AFTER)


def stuck_line(send: SendProgress) -> str:
    moved = [t for t in (send.last_progress_at, send.started_at) if t is not None]
    since = f"no progress since {_at(max(moved))}" if moved else "no progress"
    return (
        f"issue #{send.number} is stuck in sending: {since} and no sender running "
        f"(`digest issue send {send.number}` or the scheduler continues it)"
    )


def daemon_line(running: Holder | None, last: Holder | None, now: datetime) -> str | None:
    """Why the scheduler needs a look: it stopped within EXPECTED_WITHIN, or it holds the
    lock but has not been seen for SILENT_AFTER; None when all is well (or none expected)."""
    if running is not None:
        if running.pid and now - running.heartbeat_at > SILENT_AFTER:
            return (
                f"the scheduler (host {running.host}, pid {running.pid}) holds the lock but "
                f"was last seen at {_at(running.heartbeat_at)}"
            )
        return None
    if last is not None and now - last.heartbeat_at < EXPECTED_WITHIN:
        return (
            f"the scheduler stopped at {_at(last.heartbeat_at)} (host {last.host}, "
            f"pid {last.pid}): start it again"
        )
    return None


def attention(
    *,
    now: datetime,
    failing_sources: Sequence[str],
    sends: Sequence[SendProgress],
    complaint: tuple[int, float] | None,
    complaint_warn_rate: float,
    running: Holder | None,
    last_holder: Holder | None,
) -> list[str]:
    """One line per reason to look; empty when all is well. `failing_sources` are lines
    naming each failing source; `complaint` is (issue number, complaint rate) of the latest
    issue sent."""
    reasons = [f"source failing: {line}" for line in failing_sources]
    reasons.extend(stuck_line(send) for send in sends if is_stuck(send, now))
    if complaint is not None and complaint_warn_rate > 0:
        number, rate = complaint
        if rate > complaint_warn_rate:
            reasons.append(
                f"issue #{number}: complaint rate {rate:.2%} is over "
                f"bounces.complaint_warn_rate ({complaint_warn_rate:.2%})"
            )
    daemon = daemon_line(running, last_holder, now)
    if daemon is not None:
        reasons.append(daemon)
    return reasons
