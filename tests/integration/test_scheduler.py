"""The scheduler: its jobs and triggers, and one weekly run against real HTTP and SMTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.schema import Issue
from digest.errors import ConfigError
from digest.model import SourceKind
from digest.send import send_issue
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from scheduler import build_scheduler, deliveries_job, weekly_job
from subscribers.importer import import_csv
from tests.support.clock import Clock
from tests.support.feeds import RssItem, rss
from tests.support.http import FeedHttpServer, Route
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer


def test_jobs_follow_the_crontab_settings(
    db: Database, db_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        db_url,
        schedule_send_cron="30 6 * * tue",
        schedule_collect_cron="0 */2 * * *",
        schedule_timezone="Europe/Brussels",
    )
    scheduler = build_scheduler(settings, db)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"collect", "weekly", "deliveries"}
    monday = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    fire = jobs["weekly"].trigger.get_next_fire_time(None, monday)
    assert fire is not None
    # 06:30 in Brussels on Tuesday 24 November is 05:30 UTC.
    assert fire.astimezone(UTC) == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    collect_fire = jobs["collect"].trigger.get_next_fire_time(None, monday)
    assert collect_fire is not None and collect_fire.astimezone(UTC).hour % 2 == 1  # CET = UTC+1


def test_a_bad_crontab_line_is_a_config_error(
    db: Database, db_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(db_url, schedule_send_cron="every monday")
    with pytest.raises(ConfigError, match=r"schedule\.send_cron"):
        build_scheduler(settings, db)


def test_the_weekly_job_collects_composes_and_sends(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: object,
    make_settings: Callable[..., Settings],
    http_server: FeedHttpServer,
    smtp_server: SmtpTestServer,
) -> None:
    now = clock()
    http_server.routes["/news.xml"] = Route(
        body=rss(
            [
                RssItem(
                    title=f"Story {n}",
                    guid=f"s{n}",
                    link=f"https://example.org/s/{n}",
                    description="<p>Text</p>",
                    published=now - timedelta(hours=n),
                )
                for n in range(3)
            ]
        )
    )
    settings = make_settings(db_url, smtp_port=smtp_server.port)
    add_source(db, http_server.url("/news.xml"), SourceKind.NEWS, "news", now)
    roster = settings.base_dir / "people.csv"
    roster.write_text("email\na@example.com\nb@example.com\n", encoding="utf-8")
    import_csv(db, roster, now)

    weekly_job(db, settings, clock)

    assert sorted(r.rcpt for r in smtp_server.received) == ["a@example.com", "b@example.com"]
    with db.session() as session:
        issue = session.scalars(select(Issue)).one()
        assert (issue.number, issue.status) == (1, "sent")
    # Nothing new the next week: no issue is composed, nothing is sent, nothing raises.
    clock.advance(days=7)
    weekly_job(db, settings, clock)
    assert len(smtp_server.received) == 2


def test_deferred_deliveries_are_carried_by_the_scheduler_until_the_issue_is_sent(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, smtp_port=smtp_server.port, smtp_wait_seconds=0)
    seed(db, clock, tmp_path, 5)
    compose_issue(db, settings, clock)
    smtp_server.faults.defer["user2@example.com"] = 1
    report = send_issue(db, settings, clock, relay=smtp_relay(settings))
    assert report.status == "sending" and report.counts["deferred"] == 1
    deliveries_job(db, settings, clock)  # not due yet: nothing happens
    assert len(smtp_server.received) == 4
    clock.advance(seconds=settings.smtp.retry_delay_seconds)
    deliveries_job(db, settings, clock)
    assert sorted(r.rcpt for r in smtp_server.received) == [
        f"user{n}@example.com" for n in range(5)
    ]
    with db.session() as session:
        assert session.scalar(select(Issue.status)) == "sent"
