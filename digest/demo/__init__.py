"""`digest demo`: the whole weekly job on embedded defaults, in a fresh workspace."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.collect import collect
from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.compose.editing import set_intro, set_spotlight
from digest.db.engine import Database
from digest.db.issues import latest_issue
from digest.db.items import queue_counts
from digest.demo.server import FEEDS, FeedServer
from digest.errors import ConfigError
from digest.files import private_folder, write_private
from digest.model import SourceKind, Spotlight
from digest.send import Progress, send_issue
from digest.send.capture import CaptureProcess
from digest.send.sample import write_preview
from digest.send.wiring import smtp_relay
from digest.settings import load_settings, starter_file
from subscribers.importer import import_csv

MARKER = ".digest-demo"
# What an editor adds to the composed draft: an intro in Markdown and a quote.
INTRO = (
    "Welcome to this week's **Cluster Weekly**. Two new calls opened, and the "
    "[Regions & Clusters Forum](https://example.org/events/regions-clusters-forum) is "
    "less than two weeks away: *registration closes soon*."
)
SPOTLIGHT = Spotlight(
    kind="quote",
    text="Our members found partners in three countries they had **never** worked with before.",
    by="Dr Ada Marrow, Northwind Cluster Alliance",
    url="https://example.org/news/interview-ada-marrow",
)
CAPTURE_PORT = 8025  # written to the workspace's settings for `digest capture` afterwards


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSummary:
    workspace: Path
    settings_file: Path
    maildir: Path
    preview_html: Path
    preview_text: Path
    sample_message: Path | None
    items: dict[str, int]
    subscribers: int
    issue_number: int
    issue_bytes: int
    accepted: int
    failed: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()
        }


def prepare_workspace(folder: Path) -> Path:
    """A fresh folder: an earlier demo workspace is replaced, anything else is refused."""
    folder = folder.resolve()
    if folder.exists():
        if not (folder / MARKER).exists():
            if any(folder.iterdir()):
                raise ConfigError(
                    f"{folder} exists and is not a demo workspace; "
                    "choose another folder with --workspace"
                )
        else:
            shutil.rmtree(folder)
    private_folder(folder)
    (folder / MARKER).write_text("made by `digest demo`; the next demo run replaces it\n")
    return folder


def run_demo(
    folder: Path, subscribers: int, clock: Callable[[], datetime], progress: Progress | None = None
) -> DemoSummary:
    """Collect the sample feeds, compose issue #1 and send it to `subscribers` addresses."""
    started = time.perf_counter()
    workspace = prepare_workspace(folder)
    settings_file = workspace / "digest.toml"
    # It holds the secret key: owner-only (0600).
    write_private(
        settings_file,
        starter_file(
            {
                "newsletter.name": "Cluster Weekly",
                "newsletter.postal_address": "Example Network, 1 Sample Street, 1000 Example City",
                "newsletter.social_links": [
                    "LinkedIn https://www.linkedin.com/company/example-network",
                    "Mastodon https://mastodon.example/@clusters",
                ],
                "smtp.port": CAPTURE_PORT,
                "smtp.connections": 4,
                # The demo's feeds are served on loopback, which the collector refuses
                # unless allowed.
                "collect.allow_hosts": ["127.0.0.1"],
            }
        ),
    )
    settings = load_settings(settings_file, env={})
    db = Database(settings.database_url, auto_upgrade=True, pool_size=settings.smtp.connections + 2)
    maildir = workspace / "maildir"
    try:
        with FeedServer(clock()) as feeds:
            for name in FEEDS:
                add_source(db, feeds.url(name), SourceKind(name), f"Demo {name}", clock())
            collect(db, settings, clock)
        items = queue_counts(db)
        compose_issue(db, settings, clock)
        set_intro(db, settings, clock, INTRO)
        issue = set_spotlight(db, settings, clock, SPOTLIGHT)
        roster = workspace / "subscribers.csv"
        with roster.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "name"])
            for n in range(1, subscribers + 1):
                writer.writerow([f"reader{n:05d}@example.com", f"Reader {n}"])
        imported = import_csv(db, roster, clock(), origin="demo")
        with CaptureProcess(maildir) as capture:
            live = dataclasses.replace(
                settings, smtp=dataclasses.replace(settings.smtp, port=capture.port)
            )
            report = send_issue(
                db, live, clock, relay=smtp_relay(live), number=issue.number, progress=progress
            )
        preview = write_preview(
            latest_issue(db, issue.number), settings, workspace / "preview", clock()
        )
    finally:
        db.dispose()
    delivered = sorted((maildir / "new").iterdir()) if (maildir / "new").exists() else []
    return DemoSummary(
        workspace=workspace,
        settings_file=settings_file,
        maildir=maildir,
        preview_html=preview.html,
        preview_text=preview.text,
        sample_message=delivered[0] if delivered else None,
        items=items,
        subscribers=imported.added,
        issue_number=issue.number,
        issue_bytes=preview.html.stat().st_size,  # the personalized HTML lint measures
        accepted=report.sent,
        failed=report.counts.get("failed", 0),
        seconds=time.perf_counter() - started,
    )
