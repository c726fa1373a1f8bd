"""Running the jobs: each run recorded in job_runs and logged in one line as it starts and
ends; what is due now (for `--once` and at start-up); and the APScheduler 3 scheduler with
one job per schedule, never two runs of one job at a time."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler

from digest.collect import internal_error
from digest.daemon.jobs import JOBS, JobContext, JobResult, at, failed, weekly_decision
from digest.daemon.rules import CatchUp, is_due, next_fire, previous_fire, proof_slot
from digest.daemon.schedule import JobName, JobSchedule, job_schedules
from digest.daemon.stopping import STOP
from digest.db.issues import sending_numbers
from digest.db.jobs import JobOutcome, last_started, record_end, record_start
from digest.errors import DigestError

log = logging.getLogger("digest.daemon")

# A run that could not start on time (the pool busy, the machine asleep) still starts this
# late; the weekly job has no limit, its own catch-up rule decides and says so.
MISFIRE_GRACE_SECONDS = 15 * 60


def run_job(ctx: JobContext, job: JobName) -> JobResult:
    """Run `job` once: recorded (running, then ok/failed/skipped with its line) and logged.
    A failure is the run's outcome, never an exception: the daemon stays up."""
    if STOP.is_set():  # the daemon is stopping: a job handed out just now does not start
        return JobResult(outcome=JobOutcome.SKIPPED, line="not started: the scheduler is stopping")
    started = time.perf_counter()
    try:
        run_id = record_start(ctx.db, job, ctx.clock())
    except DigestError as e:
        # The database is unreachable: the job cannot run anyway; the next round tries.
        log.error("%s: not run: %s", job, e)
        return failed(str(e))
    log.info("%s: started", job)
    try:
        result = JOBS[job](ctx)
    except DigestError as e:
        result = failed(str(e))
    except Exception as e:  # a bug: logged with its traceback, and the daemon goes on
        log.exception("%s: %s", job, internal_error(e))
        result = failed(internal_error(e))
    seconds = time.perf_counter() - started
    level = logging.WARNING if result.outcome is JobOutcome.FAILED else logging.INFO
    log.log(level, "%s: %s in %.1fs: %s", job, result.outcome, seconds, result.line)
    try:
        record_end(ctx.db, run_id, ctx.clock(), result.outcome, result.line)
    except DigestError as e:
        log.error("%s: outcome not recorded: %s", job, e)
    return result


def due_reason(ctx: JobContext, schedule: JobSchedule, now: datetime) -> str | None:
    """Why `schedule`'s job should run now (for `--once`, and at start-up); None when it is
    not due. Unfinished sends always are; the weekly job per the catch-up rule; the others
    when their schedule fired since their last run started."""
    job = schedule.job
    if job is JobName.DELIVERIES:
        numbers = sending_numbers(ctx.db)
        return f"issue(s) {', '.join(f'#{n}' for n in numbers)} still sending" if numbers else None
    if job is JobName.WEEKLY:
        state, decision = weekly_decision(ctx, now)
        if decision is CatchUp.DONE or state.slot is None:
            return None
        if decision is CatchUp.SKIP:
            return f"week of {at(ctx, state.slot)} missed, too late to catch up: skip it"
        return f"week of {at(ctx, state.slot)} not sent yet"
    fired = previous_fire(schedule.trigger, now)
    if job is JobName.PROOF:
        before = timedelta(hours=ctx.settings.schedule.proof_hours_before)
        if proof_slot(fired, before, now) is None:
            return None
    if not is_due(fired, last_started(ctx.db, job)):
        return None
    assert fired is not None
    return f"due since {at(ctx, fired)}"


def run_once(ctx: JobContext) -> int:
    """Run every job that is due now, in order (unfinished sends first, the weekly issue
    last); 0 when none failed, else 1."""
    outcomes: list[JobOutcome] = []
    for schedule in job_schedules(ctx.settings):
        try:
            reason = due_reason(ctx, schedule, ctx.clock())
        except DigestError as e:
            log.error("%s: cannot tell whether it is due: %s", schedule.job, e)
            outcomes.append(JobOutcome.FAILED)
            continue
        if reason is None:
            continue
        log.info("%s: due: %s", schedule.job, reason)
        outcomes.append(run_job(ctx, schedule.job).outcome)
    ran = len(outcomes)
    bad = outcomes.count(JobOutcome.FAILED)
    log.info("--once: %d job(s) run, %d failed", ran, bad)
    return 1 if bad else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A job as the daemon starts: its schedule, whether it runs at once and why, and its
    next scheduled time."""

    schedule: JobSchedule
    now_because: str | None
    next_run: datetime | None


def plan(ctx: JobContext, now: datetime) -> list[Planned]:
    """Every job with what it does at start-up: due ones run at once (catch-up)."""
    plans = []
    for schedule in job_schedules(ctx.settings):
        try:
            reason = due_reason(ctx, schedule, now)
        except DigestError as e:
            log.error("%s: cannot tell whether it is due at start-up: %s", schedule.job, e)
            reason = None
        plans.append(
            Planned(
                schedule=schedule,
                now_because=reason,
                next_run=next_fire(schedule.trigger, now),
            )
        )
    return plans


def plan_line(ctx: JobContext, planned: Planned) -> str:
    """One start-up line: the job, its schedule, and when it runs next."""
    schedule = planned.schedule
    upcoming = at(ctx, planned.next_run) if planned.next_run else "never"
    when = f"now ({planned.now_because}), then {upcoming}" if planned.now_because else upcoming
    return (
        f"{schedule.job} ({schedule.title}; {schedule.setting} = {schedule.expression!r}): "
        f"next run {when}"
    )


def build_scheduler(ctx: JobContext, *, catch_up: bool = True) -> BlockingScheduler:
    """The scheduler with one job per schedule (`job_schedules`), not started. With
    `catch_up`, the jobs due now (unfinished sends, a missed week within the grace, ...)
    run as soon as it starts, and each job's next run is logged in one line."""
    cfg = ctx.settings.schedule
    # Each job's options are given in full (not as scheduler defaults), so the jobs say what
    # they are before the scheduler starts.
    scheduler = BlockingScheduler(timezone=cfg.timezone)
    now = ctx.clock()
    schedules = job_schedules(ctx.settings)
    plans = (
        plan(ctx, now)
        if catch_up
        else [Planned(schedule=s, now_because=None, next_run=None) for s in schedules]
    )
    for planned in plans:
        schedule = planned.schedule
        options: dict[str, Any] = {}
        if catch_up:
            options["next_run_time"] = now if planned.now_because else planned.next_run
        scheduler.add_job(
            run_job,
            schedule.trigger,
            args=(ctx, schedule.job),
            id=str(schedule.job),
            name=schedule.title,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None if schedule.job is JobName.WEEKLY else MISFIRE_GRACE_SECONDS,
            **options,
        )
        if catch_up:
            log.info("%s", plan_line(ctx, planned))
    return scheduler
