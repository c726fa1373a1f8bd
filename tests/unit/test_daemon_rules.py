"""The daemon's rules as tables: crontab lines, the weekly slot (across DST), the catch-up
rule, due-ness for `--once`, the proof's slot and the approval gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.daemon.rules import (
    CatchUp,
    Gate,
    WeekState,
    catch_up,
    gate,
    is_due,
    next_fire,
    previous_fire,
    proof_slot,
    week_slot,
)
from digest.daemon.schedule import EarlierTrigger, JobName, cron_trigger, job_schedules
from digest.errors import ConfigError
from digest.model import IssueStatus
from digest.settings import ScheduleSettings, Settings
from tests.support.clock import NOW

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_7 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # NOW is 08:00 the same Monday
GRACE = timedelta(hours=12)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- crontab lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "after", "expected"),
    [
        ("0 7 * * mon", NOW, utc(2026, 11, 30, 7, 0)),
        ("0 7 * * 1", NOW, utc(2026, 11, 30, 7, 0)),  # crontab: 1 is Monday
        ("0 7 * * 0", NOW, utc(2026, 11, 29, 7, 0)),  # crontab: 0 is Sunday
        ("0 7 * * 7", NOW, utc(2026, 11, 29, 7, 0)),  # and so is 7
        ("0 7 * * 6-7", NOW, utc(2026, 11, 28, 7, 0)),  # Saturday and Sunday
        ("0 7 * * */3", NOW, utc(2026, 11, 25, 7, 0)),  # Sun, Wed, Sat
        ("*/20 * * * * *", NOW, utc(2026, 11, 23, 8, 0, 20)),  # seconds first
        ("15 * * * *", NOW, utc(2026, 11, 23, 8, 15)),
    ],
)
def test_crontab_lines_fire_as_in_crontab(line: str, after: datetime, expected: datetime) -> None:
    fire = next_fire(cron_trigger(line, "UTC", "schedule.send_cron"), after)
    assert fire == expected


@pytest.mark.parametrize(
    "line", ["every monday", "0 7 * *", "1 2 3 4 5 6 7", "0 25 * * *", "0 7 * * 8", "0 7 * * x/y"]
)
def test_a_bad_crontab_line_is_a_config_error_naming_the_setting(line: str) -> None:
    with pytest.raises(ConfigError, match=r"^schedule\.collect_cron: "):
        cron_trigger(line, "UTC", "schedule.collect_cron")


def test_a_bad_time_zone_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^schedule\.timezone: "):
        cron_trigger("0 7 * * mon", "Mars/Olympus", "schedule.send_cron")


def _settings(**schedule: object) -> Settings:
    return Settings(schedule=ScheduleSettings(**schedule))  # type: ignore[arg-type]


def test_the_jobs_follow_the_settings() -> None:
    names = [s.job for s in job_schedules(_settings())]
    assert names == [JobName.DELIVERIES, JobName.COLLECT, JobName.HOUSEKEEPING, JobName.WEEKLY]
    with_proof = [s.job for s in job_schedules(_settings(proof_hours_before=2.0))]
    assert JobName.PROOF in with_proof and with_proof[-1] is JobName.WEEKLY
    with pytest.raises(ConfigError, match=r"schedule\.housekeeping_cron"):
        job_schedules(_settings(housekeeping_cron="daily"))


# -- the weekly slot ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        (NOW, MONDAY_7),
        (MONDAY_7, MONDAY_7),  # at the very time: this week's
        (MONDAY_7 - timedelta(microseconds=1), utc(2026, 11, 16, 7, 0)),  # just before
        (utc(2026, 11, 29, 23, 0), MONDAY_7),  # Sunday night
    ],
)
def test_the_slot_is_the_latest_send_time_at_or_before_now(now: datetime, slot: datetime) -> None:
    assert week_slot(cron_trigger("0 7 * * mon", "UTC", "s"), now) == slot


@pytest.mark.parametrize(
    ("now", "slot_utc"),
    [
        # 07:00 in Berlin is 06:00 UTC in winter (CET) ...
        (utc(2026, 3, 23, 12, 0), utc(2026, 3, 23, 6, 0)),
        # ... and 05:00 UTC after the clocks go forward on Sunday 29 March (CEST).
        (utc(2026, 3, 30, 12, 0), utc(2026, 3, 30, 5, 0)),
        (utc(2026, 3, 30, 4, 59), utc(2026, 3, 23, 6, 0)),
        # Back to CET after Sunday 25 October.
        (utc(2026, 10, 26, 6, 30), utc(2026, 10, 26, 6, 0)),
        (utc(2026, 10, 26, 5, 30), utc(2026, 10, 19, 5, 0)),
    ],
)
def test_the_slot_keeps_local_time_across_daylight_saving(
    now: datetime, slot_utc: datetime
) -> None:
    slot = week_slot(cron_trigger("0 7 * * mon", "Europe/Berlin", "s"), now)
    assert slot is not None
    assert slot == slot_utc
    assert slot.astimezone(BERLIN).hour == 7


def test_a_slot_on_the_skipped_hour_of_daylight_saving_is_still_found() -> None:
    # 02:30 on 29 March 2026 does not exist in Berlin; the week still has one slot.
    trigger = cron_trigger("30 2 * * sun", "Europe/Berlin", "s")
    slot = week_slot(trigger, utc(2026, 3, 29, 12, 0))
    assert slot is not None and utc(2026, 3, 29, 0, 0) <= slot <= utc(2026, 3, 29, 2, 0)


def test_slots_seconds_apart_for_tests() -> None:
    trigger = cron_trigger("*/15 * * * * *", "UTC", "s")
    assert previous_fire(trigger, utc(2026, 11, 23, 8, 0, 44)) == utc(2026, 11, 23, 8, 0, 30)


def test_a_rule_that_never_fired_has_no_previous_time() -> None:
    trigger = cron_trigger("0 7 29 2 *", "UTC", "s")  # only on 29 February
    assert previous_fire(trigger, utc(2026, 11, 23)) == utc(2024, 2, 29, 7, 0)


# -- catch-up, once per week --------------------------------------------------------------


def _state(
    *, slot: datetime | None = MONDAY_7, handled: datetime | None = None, issue: str | None = None
) -> WeekState:
    return WeekState(
        slot=slot,
        handled_at=handled,
        issue_status=IssueStatus(issue) if issue else None,
    )


@pytest.mark.parametrize(
    ("state", "now", "decision"),
    [
        # Down at send time, back within the grace: run it now.
        (_state(), MONDAY_7 + timedelta(hours=1), CatchUp.RUN),
        (_state(), MONDAY_7 + GRACE, CatchUp.RUN),
        # Back too late: skip the week (and say so once).
        (_state(), MONDAY_7 + GRACE + timedelta(seconds=1), CatchUp.SKIP),
        (_state(), MONDAY_7 + timedelta(days=6), CatchUp.SKIP),
        # A run since the slot ended ok or skipped: done, whatever the restarts.
        (_state(handled=MONDAY_7), NOW, CatchUp.DONE),
        (_state(handled=MONDAY_7 + timedelta(days=1)), NOW, CatchUp.DONE),
        (_state(handled=MONDAY_7 + timedelta(hours=13)), NOW + timedelta(days=1), CatchUp.DONE),
        # A run of last week does not count for this one.
        (_state(handled=MONDAY_7 - timedelta(days=7)), NOW, CatchUp.RUN),
        # The week's issue is going out or gone: done.
        (_state(issue="sending"), NOW, CatchUp.DONE),
        (_state(issue="sent"), NOW + timedelta(days=2), CatchUp.DONE),
        # A draft made for the week (at proof time) still needs its send.
        (_state(issue="draft"), NOW, CatchUp.RUN),
        (_state(issue="draft"), NOW + timedelta(days=2), CatchUp.SKIP),
        # No weekly time has come yet.
        (_state(slot=None), NOW, CatchUp.DONE),
    ],
)
def test_catch_up_runs_a_missed_week_within_the_grace_exactly_once(
    state: WeekState, now: datetime, decision: CatchUp
) -> None:
    assert catch_up(state, now, GRACE) is decision


# -- due-ness for --once ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_fire", "last_run", "due"),
    [
        (None, None, False),  # the schedule never fired
        (MONDAY_7, None, True),  # never ran
        (MONDAY_7, MONDAY_7 - timedelta(minutes=1), True),  # fired since
        (MONDAY_7, MONDAY_7, False),  # ran at the fire time
        (MONDAY_7, MONDAY_7 + timedelta(minutes=5), False),
    ],
)
def test_a_job_is_due_when_its_schedule_fired_since_its_last_run(
    last_fire: datetime | None, last_run: datetime | None, due: bool
) -> None:
    assert is_due(last_fire, last_run) is due


def test_the_proof_fires_ahead_of_each_send_and_is_for_the_coming_slot() -> None:
    send = cron_trigger("0 7 * * mon", "Europe/Berlin", "s")
    proof = EarlierTrigger(send, timedelta(hours=20))
    # Sunday 29 November 11:00 Berlin (10:00 UTC) for Monday 07:00 Berlin.
    assert next_fire(proof, NOW) == utc(2026, 11, 29, 10, 0)
    fired = previous_fire(proof, utc(2026, 11, 29, 12, 0))
    assert fired == utc(2026, 11, 29, 10, 0)
    before = timedelta(hours=20)
    assert proof_slot(fired, before, utc(2026, 11, 29, 12, 0)) == utc(2026, 11, 30, 6, 0)
    # Once the send time has come, the proof is past: the weekly job has the issue.
    assert proof_slot(fired, before, utc(2026, 11, 30, 6, 0)) is None
    assert proof_slot(None, before, NOW) is None


# -- the approval gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "approved", "required", "verdict"),
    [
        (False, False, False, Gate.SEND),
        (True, False, False, Gate.HELD),
        (True, True, True, Gate.HELD),  # a hold always wins
        (False, False, True, Gate.UNAPPROVED),
        (False, True, True, Gate.SEND),
        (False, True, False, Gate.SEND),
    ],
)
def test_the_gate(held: bool, approved: bool, required: bool, verdict: Gate) -> None:
    assert gate(held=held, approved=approved, require_approval=required) is verdict
