"""The daemon's job runs in the job_runs table: each run recorded as it starts and ends with
its outcome and one line, read back for `digest status` and for the catch-up rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, select, update

from digest.db.engine import Database
from digest.db.schema import JobRun


class JobOutcome(StrEnum):
    RUNNING = "running"  # started, not ended: still running, or the process died
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # a week too late to catch up, a held issue, nothing composed


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRunView:
    """One run of one job, as `digest status` shows it."""

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: JobOutcome
    line: str


def job_run_view(row: JobRun) -> JobRunView:
    return JobRunView(
        id=row.id,
        job=row.job,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=JobOutcome(row.outcome),
        line=row.line,
    )


def record_start(db: Database, job: str, now: datetime) -> int:
    """A run of `job` starts now; returns its id for `record_end`."""
    with db.session() as session:
        row = JobRun(job=job, started_at=now, outcome=JobOutcome.RUNNING, line="")
        session.add(row)
        session.flush()
        return row.id


def record_end(db: Database, run_id: int, now: datetime, outcome: JobOutcome, line: str) -> None:
    with db.session() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(finished_at=now, outcome=outcome, line=line)
        )


def record_run(db: Database, job: str, now: datetime, outcome: JobOutcome, line: str) -> None:
    """A run that started and ended at once (a skipped week)."""
    with db.session() as session:
        session.add(JobRun(job=job, started_at=now, finished_at=now, outcome=outcome, line=line))


def last_runs(db: Database) -> dict[str, JobRunView]:
    """The latest run of each job that has run, by job name."""
    with db.session() as session:
        latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
        rows = session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
        return {row.job: job_run_view(row) for row in rows}


def recent_runs(db: Database, limit: int = 20, job: str | None = None) -> list[JobRunView]:
    """The latest runs, newest first (of one job when `job` is given)."""
    with db.session() as session:
        query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
        if job is not None:
            query = query.where(JobRun.job == job)
        return [job_run_view(row) for row in session.scalars(query)]


def last_started(db: Database, job: str, *outcomes: JobOutcome) -> datetime | None:
    """When the latest run of `job` started (of those that ended with one of `outcomes`,
    when given); None when it never ran."""
    with db.session() as session:
        query = select(func.max(JobRun.started_at)).where(JobRun.job == job)
        if outcomes:
            query = query.where(JobRun.outcome.in_(outcomes))
        value: datetime | None = session.scalar(query)
        return value


def prune_runs(db: Database, older_than: datetime) -> int:
    """Delete runs that started before `older_than`; returns how many."""
    with db.session() as session:
        result = session.execute(delete(JobRun).where(JobRun.started_at < older_than))
        return int(getattr(result, "rowcount", 0) or 0)
