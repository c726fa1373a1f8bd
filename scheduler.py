"""The operator's daemon: reads the settings once, wires the stages, and runs the jobs.

Run it with `digest scheduler` (or `python scheduler.py --config digest.toml`); with
`--once`, it runs every job that is due now and exits, for cron or a systemd timer. The jobs
(digest.daemon.jobs), each on its own schedule setting: collect (schedule.collect_cron), the
weekly issue (schedule.send_cron: first finish any issue still sending, then compose, the
approval gate, send), the proof (schedule.proof_hours_before ahead), unfinished sends and
retries (schedule.retry_cron), bounces (schedule.bounce_cron) and housekeeping
(schedule.housekeeping_cron). A weekly time missed while the daemon was down is caught up at
start-up within schedule.catch_up_hours and skipped, said so once, after.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from digest.daemon.jobs import JobContext
from digest.daemon.runner import build_scheduler, run_once
from digest.db.engine import Database
from digest.errors import DigestError
from digest.send.wiring import smtp_relay
from digest.settings import Settings, load_settings

log = logging.getLogger("digest.scheduler")


def utcnow() -> datetime:
    return datetime.now(UTC)


def context(settings: Settings, clock: Callable[[], datetime] = utcnow) -> JobContext:
    """The jobs' context: the database opened once, the clock, the configured relay."""
    db = Database(
        settings.database_url,
        auto_upgrade=settings.database.auto_upgrade,
        pool_size=settings.smtp.connections + 2,
    )
    return JobContext(db=db, settings=settings, clock=clock, relay=smtp_relay(settings))


def once(settings: Settings, clock: Callable[[], datetime] = utcnow) -> int:
    """Run every job that is due now and return the exit status (1 when a job failed); refused
    while a daemon runs on the same database, as a second daemon is."""
    from digest.daemon.lock import holding
    from digest.daemon.logs import setup_logging
    from digest.daemon.schedule import validate_schedule

    validate_schedule(settings)
    setup_logging(settings)
    ctx = context(settings, clock)
    try:
        with holding(ctx.db, settings, ctx.clock, daemon=False):
            return run_once(ctx)
    finally:
        ctx.db.dispose()


def run(settings: Settings) -> None:
    """Run until SIGTERM or Ctrl-C, one daemon per database (a second one exits naming the
    holder). Stopping starts no new work: the messages on the wire finish and are recorded
    (the jobs watch digest.daemon.stopping.STOP), within schedule.stop_seconds. SIGHUP
    reopens schedule.log_file."""
    from digest.daemon import stopping
    from digest.daemon.lock import holding
    from digest.daemon.logs import reopen_log_file, setup_logging
    from digest.daemon.schedule import validate_schedule

    validate_schedule(settings)
    setup_logging(settings)
    stopping.install(on_hangup=reopen_log_file)
    ctx = context(settings)
    try:
        with holding(ctx.db, settings, ctx.clock) as lock:
            log.info("scheduler started (host %s, pid %d)", lock.host, lock.pid)
            lock.start_heartbeat(on_lost=stopping.request_stop)
            scheduler = build_scheduler(ctx)

            def shutdown() -> None:
                if scheduler.running:
                    scheduler.shutdown(wait=False)

            stopping.serve(scheduler.start, shutdown, settings.schedule.stop_seconds)
    finally:
        ctx.db.dispose()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: $DIGEST_CONFIG or ./digest.toml)")
    parser.add_argument("--once", action="store_true", help="run the jobs due now, then exit")
    args = parser.parse_args()
    try:
        settings = load_settings(args.config)
        if args.once:
            sys.exit(once(settings))
        run(settings)
    except DigestError as e:
        print(f"scheduler: error: {e}", file=sys.stderr)
        sys.exit(1)
