"""The operator's daemon: reads the settings, wires the stages, and runs the weekly job.

Run it with `digest scheduler` (or `python scheduler.py --config digest.toml`). Three jobs:
collect on `schedule.collect_cron`; finish unfinished sends + collect + compose + send on
`schedule.send_cron`; and continue unfinished sends (retries) on `schedule.retry_cron`.
A job that is still running when its next time comes is not started twice, and a time
missed while the daemon was down is run once when it comes back, within the grace time.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.collect import collect
from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.issues import sending_numbers
from digest.db.subscribers import purge_unconfirmed
from digest.errors import ComposeError, ConfigError, DigestError
from digest.send import send_issue
from digest.send.policy import counts_line
from digest.send.wiring import smtp_relay
from digest.settings import Settings, load_settings

log = logging.getLogger("digest.scheduler")
MISFIRE_GRACE_SECONDS = 6 * 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


def collect_job(db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
    for report in collect(db, settings, clock):
        (log.warning if report.error else log.info)("collect: %s", report.line)
    expired = clock() - timedelta(hours=settings.web.confirm_max_age_hours)
    purged = purge_unconfirmed(db, expired)
    if purged:
        log.info("removed %d signup(s) never confirmed", purged)


def deliveries_job(db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
    """Continue every issue still `sending`: retries that fell due, rows an interrupted
    run left; a send never sleeps long, so this job is what carries retries for days."""
    for number in sending_numbers(db):
        try:
            report = send_issue(db, settings, clock, relay=smtp_relay(settings), number=number)
        except DigestError as e:
            log.warning("issue #%d: %s", number, e)
            continue
        counts = counts_line(report.counts)
        log.info("issue #%d (%s): %s", number, report.status, counts)


def weekly_job(db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
    """Finish any issue still `sending`, then collect, compose the next issue and send it."""
    try:
        deliveries_job(db, settings, clock)
        collect_job(db, settings, clock)
        composed = compose_issue(db, settings, clock)
        log.info("composed issue #%d (%d items)", composed.number, composed.plan.size)
        report = send_issue(db, settings, clock, relay=smtp_relay(settings), number=composed.number)
        counts = counts_line(report.counts)
        log.info("issue #%d: %s in %.1fs", report.number, counts, report.seconds)
    except ComposeError as e:
        log.warning("weekly job: %s", e)
    except DigestError as e:
        log.error("weekly job failed: %s", e)


def trigger(expression: str, timezone: str, name: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as e:
        raise ConfigError(f"schedule.{name}: {expression!r} is not a crontab line: {e}") from e


def build_scheduler(
    settings: Settings, db: Database, clock: Callable[[], datetime] = utcnow
) -> BlockingScheduler:
    cfg = settings.schedule
    scheduler = BlockingScheduler(
        timezone=cfg.timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    jobs = (
        (collect_job, cfg.collect_cron, "collect_cron", "collect", "collect feeds"),
        (weekly_job, cfg.send_cron, "send_cron", "weekly", "weekly issue"),
        (deliveries_job, cfg.retry_cron, "retry_cron", "deliveries", "continue unfinished sends"),
    )
    for job, cron, setting_name, job_id, name in jobs:
        scheduler.add_job(
            job,
            trigger(cron, cfg.timezone, setting_name),
            args=(db, settings, clock),
            id=job_id,
            name=name,
        )
    return scheduler


def run(settings: Settings) -> None:
    """Run until SIGTERM or Ctrl-C; a job in progress finishes its current message first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    db = Database(
        settings.database_url,
        auto_upgrade=settings.database.auto_upgrade,
        pool_size=settings.smtp.connections + 2,
    )
    scheduler = build_scheduler(settings, db)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    for job in scheduler.get_jobs():
        log.info("job %r: %s", job.name, job.trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        db.dispose()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: $DIGEST_CONFIG or ./digest.toml)")
    args = parser.parse_args()
    try:
        run(load_settings(args.config))
    except DigestError as e:
        print(f"scheduler: error: {e}", file=sys.stderr)
        sys.exit(1)
