"""The daemon's schedules: crontab lines (5 fields, or 6 with seconds first) read into
APScheduler 3 triggers, one per job, each named after the setting it comes from.

`cron_trigger` is the one place a crontab line is read; `digest init`, `digest status` and
the daemon's start-up all call it, so a bad line is reported the same way, naming the
setting. Day-of-week numbers follow crontab (0 and 7 are Sunday), not APScheduler 3's own
numbering (0 is Monday there), so a line copied from a crontab means what it meant there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from digest.errors import ConfigError
from digest.settings import Settings

CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBERS = re.compile(r"(\d+)(?:-(\d+))?")


class JobName(StrEnum):
    """The daemon's jobs; also their ids in APScheduler and their name in job_runs."""

    COLLECT = "collect"
    PROOF = "proof"
    WEEKLY = "weekly"
    DELIVERIES = "deliveries"
    BOUNCES = "bounces"
    HOUSEKEEPING = "housekeeping"


def _crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field with its numbers turned into day names for APScheduler:
    crontab counts from Sunday (0 or 7), APScheduler 3 from Monday."""
    days: list[str] = []
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and step is None:
            raise ValueError(f"bad step in day of week {part!r}")
        if base == "*":
            if step is None:
                return field  # every day, whatever else is listed
            low, high = 0, 6
        elif match := _NUMBERS.fullmatch(base):
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) else (6 if step else low)
        else:
            days.append(part)  # names (mon-fri, sun): APScheduler reads them as crontab does
            continue
        if not 0 <= low <= high <= 7:
            raise ValueError(f"day of week {part!r} is out of range 0-7")
        days.extend(CRONTAB_DAYS[day % 7] for day in range(low, high + 1, step or 1))
    return ",".join(dict.fromkeys(days))


def cron_trigger(expression: str, timezone: str, setting_name: str) -> CronTrigger:
    """The trigger of a crontab line: "minute hour day month weekday", or six fields with
    seconds first. ConfigError naming `setting_name` (e.g. "schedule.send_cron") when the
    line or `timezone` (schedule.timezone) is not valid."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"schedule.timezone: {timezone!r} is not a time zone") from e
    fields = expression.split()
    try:
        if len(fields) not in (5, 6):
            raise ValueError(f"{len(fields)} fields, expected 5 (or 6 with seconds first)")
        second = fields[0] if len(fields) == 6 else "0"
        minute, hour, day, month, weekday = fields[-5:]
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as e:
        raise ConfigError(f"{setting_name}: {expression!r} is not a crontab line: {e}") from e


class EarlierTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """Another trigger's fire times moved `before` earlier: the proof goes out
    schedule.proof_hours_before ahead of each weekly send."""

    def __init__(self, trigger: CronTrigger, before: timedelta) -> None:
        self.trigger, self.before = trigger, before

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        previous = None if previous_fire_time is None else previous_fire_time + self.before
        fire: datetime | None = self.trigger.get_next_fire_time(previous, now + self.before)
        return None if fire is None else fire - self.before

    def __str__(self) -> str:
        return f"{self.before} before {self.trigger}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSchedule:
    """One job of the daemon: when it runs and the setting that says so."""

    job: JobName
    title: str  # what it does, in a few words
    setting: str  # e.g. "schedule.send_cron"
    expression: str
    trigger: BaseTrigger


def send_trigger(settings: Settings) -> CronTrigger:
    cfg = settings.schedule
    return cron_trigger(cfg.send_cron, cfg.timezone, "schedule.send_cron")


def job_schedules(settings: Settings) -> list[JobSchedule]:
    """Every job the daemon runs with these settings, in the order `--once` runs them: the
    proof only with schedule.proof_hours_before, bounces only with a bounce mailbox."""
    cfg = settings.schedule
    bounces = settings.bounces

    def cron(job: JobName, title: str, key: str) -> JobSchedule:
        expression = getattr(cfg, key)
        trigger = cron_trigger(expression, cfg.timezone, f"schedule.{key}")
        return JobSchedule(
            job=job, title=title, setting=f"schedule.{key}", expression=expression, trigger=trigger
        )

    schedules = [
        cron(JobName.DELIVERIES, "continue unfinished sends", "retry_cron"),
        cron(JobName.COLLECT, "collect all sources", "collect_cron"),
    ]
    if bounces.imap_host or bounces.maildir:
        schedules.append(cron(JobName.BOUNCES, "ingest bounces", "bounce_cron"))
    schedules.append(cron(JobName.HOUSEKEEPING, "housekeeping", "housekeeping_cron"))
    weekly = cron(JobName.WEEKLY, "weekly issue", "send_cron")
    if cfg.proof_hours_before > 0:
        before = timedelta(hours=cfg.proof_hours_before)
        schedules.append(
            JobSchedule(
                job=JobName.PROOF,
                title=f"compose and mail the proof {cfg.proof_hours_before:g} h before",
                setting="schedule.proof_hours_before",
                expression=f"{cfg.send_cron} - {cfg.proof_hours_before:g} h",
                trigger=EarlierTrigger(weekly.trigger, before),
            )
        )
    schedules.append(weekly)
    return schedules


def validate_schedule(settings: Settings) -> None:
    """ConfigError naming the first schedule setting that is not valid."""
    job_schedules(settings)
