"""The daemon's decisions as pure functions, the clock a parameter: which weekly time an
issue is for, whether a missed week is caught up or skipped, whether a job is due for
`--once`, and whether the approval gate lets an issue go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from digest.model import IssueStatus

# A time rule fires at least once within the longest of these windows (a yearly line does),
# looked at from the shortest: a per-second line is found in a minute, a weekly one in days.
_WINDOWS = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=366 * 8 + 2),  # "29 feb" with a Monday, and the like
)
_TICK = timedelta(microseconds=1)


class Trigger(Protocol):
    """What the rules need of an APScheduler trigger."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


def next_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """The first fire time after `now` (strictly)."""
    return trigger.get_next_fire_time(None, now + _TICK)


def previous_fire(trigger: Trigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now`; None when there was none in eight years."""
    for window in _WINDOWS:
        fire = trigger.get_next_fire_time(None, now - window)
        if fire is None or fire > now:
            continue
        while (after := next_fire(trigger, fire)) is not None and after <= now:
            fire = after
        return fire
    return None


def week_slot(send: Trigger, now: datetime) -> datetime | None:
    """The weekly time (schedule.send_cron) this week's issue is for: the latest at or
    before `now`."""
    return previous_fire(send, now)


class CatchUp(StrEnum):
    RUN = "run"  # the weekly job runs now for this slot
    SKIP = "skip"  # too late for this slot: skipped, and said so once
    DONE = "done"  # the slot was handled already (or there is none yet)


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekState:
    """What the database says about one weekly slot."""

    slot: datetime | None  # the latest send time at or before now
    handled_at: datetime | None  # start of the latest weekly run that ended ok or skipped
    issue_status: IssueStatus | None  # the status of the issue made for the slot, if any


def catch_up(state: WeekState, now: datetime, grace: timedelta) -> CatchUp:
    """Whether the weekly job runs for `state.slot` now: exactly once per slot. A slot with
    an issue going out or a finished run since is done; otherwise it runs while within
    `grace` (schedule.catch_up_hours) of the slot, and is skipped after."""
    if state.slot is None:
        return CatchUp.DONE
    if state.handled_at is not None and state.handled_at >= state.slot:
        return CatchUp.DONE
    if state.issue_status in (IssueStatus.SENDING, IssueStatus.SENT):
        return CatchUp.DONE
    return CatchUp.RUN if now - state.slot <= grace else CatchUp.SKIP


def is_due(last_fire: datetime | None, last_run: datetime | None) -> bool:
    """For `--once`: a job is due when its schedule fired since its last recorded run
    started (or it never ran and has fired)."""
    if last_fire is None:
        return False
    return last_run is None or last_run < last_fire


def proof_slot(proof_fire: datetime | None, before: timedelta, now: datetime) -> datetime | None:
    """The weekly time a proof fired at `proof_fire` is for, while that time is still to
    come; None once it has come (the weekly job has it then) or before any proof time."""
    if proof_fire is None:
        return None
    slot = proof_fire + before
    return slot if slot > now else None


class Gate(StrEnum):
    SEND = "send"
    HELD = "held"  # an editor ran `digest issue hold N`
    UNAPPROVED = "unapproved"  # schedule.require_approval, and no `digest issue approve N`


def gate(*, held: bool, approved: bool, require_approval: bool) -> Gate:
    """Whether the weekly job sends a composed issue at send time: a hold always wins;
    with require_approval only an approved issue goes."""
    if held:
        return Gate.HELD
    if require_approval and not approved:
        return Gate.UNAPPROVED
    return Gate.SEND
