"""Send throughput: `send_issue` (ledger, personalization, N connections) against a baseline
of bare smtplib sending one pre-built message over one connection, in the same run, to the
same embedded SMTP capture (a separate process). Prints medians over --repeat runs.

    python benchmarks/send.py [--subscribers 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import smtplib
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from digest.db.engine import Database
from digest.demo import run_demo
from digest.issues import latest_issue
from digest.preview import SAMPLE
from digest.send import send_issue
from digest.send.capture import CaptureProcess
from digest.send.personalize import Personalizer, message_template
from digest.settings import load_settings
from subscribers.store import list_subscribers


def now() -> datetime:
    return datetime.now(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    run_demo(work / "ws", args.subscribers, now)  # a real issue and subscriber list
    settings = load_settings(work / "ws" / "digest.toml", env={})
    db = Database(settings.database_url)
    issue = latest_issue(db)
    personalizer = Personalizer(message_template(issue, settings, now()), settings)
    with db.session() as session:
        people = [(s.id, s.email) for s in list_subscribers(session)]
    # The baseline sends this one message to everybody: no ledger, no personalization.
    sample = personalizer.message(
        dataclasses.replace(SAMPLE, subscriber_id=people[0][0], email=people[0][1])
    )
    baseline, engine = [], []
    for round_ in range(args.repeat):
        with CaptureProcess(work / f"mail-{round_}") as capture:
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", capture.port) as smtp:
                for _, address in people:
                    smtp.sendmail(settings.newsletter.from_address, [address], sample)
            baseline.append(time.perf_counter() - started)
            with db.session() as session:
                session.execute(text("DELETE FROM deliveries"))
                session.execute(text("UPDATE issues SET status = 'draft'"))
            live = dataclasses.replace(
                settings, smtp=dataclasses.replace(settings.smtp, port=capture.port)
            )
            started = time.perf_counter()
            report = send_issue(db, live, now)
            engine.append(time.perf_counter() - started)
            assert report.sent == len(people), report.counts
    b, e = statistics.median(baseline), statistics.median(engine)
    print(f"baseline (bare smtplib, 1 connection, one pre-built message): median {b:.2f}s")
    print(
        f"send_issue ({settings.smtp.connections} connections, ledger, personalized): "
        f"median {e:.2f}s, {len(people) / e:.0f} messages/s"
    )
    print(f"messages={len(people)} baseline_s={b:.2f} engine_s={e:.2f} ratio={e / b:.2f}")


if __name__ == "__main__":
    main()
