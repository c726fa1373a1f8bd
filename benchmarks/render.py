"""Compose and render an issue of 30 items: the median time of plan_issue + render_issue,
against a baseline measured in the same run (the MJML compile of the same document alone,
the one step no renderer can skip), with the stages broken down.

    python benchmarks/render.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import mjml

from digest.compose.plan import plan_issue
from digest.model import ItemKind, QueuedItem
from digest.render import (
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    compile_mjml,
    issue_context,
    make_environment,
    render_issue,
    render_template,
)
from digest.settings import load_settings

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
SUMMARY = (
    "<p>Seven cluster organisations from four coastal regions signed a memorandum to "
    "coordinate <a href='https://example.org/p'>pilot projects</a> on hydrogen refuelling in "
    "port logistics, pooling testing facilities and procurement guidance.</p>"
)


def queue() -> list[QueuedItem]:
    items = []
    for n in range(10):
        items.append(
            QueuedItem(
                id=n,
                kind=ItemKind.NEWS,
                title=f"News story number {n}",
                link=f"https://example.org/n/{n}",
                summary=SUMMARY,
                published_at=NOW - timedelta(hours=n),
            )
        )
        items.append(
            QueuedItem(
                id=100 + n,
                kind=ItemKind.EVENT,
                title=f"Event {n}",
                link=f"https://example.org/e/{n}",
                summary="",
                published_at=NOW,
                event_start=NOW + timedelta(days=n + 1),
                location="Porto",
            )
        )
        items.append(
            QueuedItem(
                id=200 + n,
                kind=ItemKind.CALL,
                title=f"Call {n}",
                link=f"https://example.org/c/{n}",
                summary="",
                published_at=NOW,
                deadline=NOW + timedelta(days=n + 5),
            )
        )
    return items


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm caches (Jinja compiles templates on first use)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings(
        env={
            "DIGEST_SECURITY_SECRET_KEY": "benchmark-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
        }
    )
    cfg = settings.compose.__class__(max_news=10, max_events=10, max_calls=10)
    items = queue()
    plan = plan_issue(items, number=1, now=NOW, cfg=cfg)
    assert plan.size == 30, plan.size
    env = make_environment(settings)
    context = issue_context(plan, settings, "Subject", "Preheader")
    source = render_template(env, HTML_TEMPLATE, context)
    html = mjml.mjml2html(source, disable_comments=True)

    total = median_ms(
        lambda: render_issue(plan_issue(items, number=1, now=NOW, cfg=cfg), settings, env),
        args.repeat,
    )
    stages = {
        "compose (plan_issue)": median_ms(
            lambda: plan_issue(items, number=1, now=NOW, cfg=cfg), args.repeat
        ),
        "jinja (html + text)": median_ms(
            lambda: (
                render_template(env, HTML_TEMPLATE, context),
                render_template(env, TEXT_TEMPLATE, context),
            ),
            args.repeat,
        ),
        "mjml compile (baseline)": median_ms(
            lambda: mjml.mjml2html(source, disable_comments=True), args.repeat
        ),
        "mjml + premailer": median_ms(lambda: compile_mjml(source), args.repeat),
    }
    for name, ms in stages.items():
        print(f"{name:<26} median {ms:7.2f} ms")
    baseline = stages["mjml compile (baseline)"]
    print(
        f"{'compose + render, total':<26} median {total:7.2f} ms "
        f"({total / baseline:.1f}x the MJML compile alone); HTML {len(html):,} bytes"
    )
    print(f"items={plan.size} median_ms={total:.1f}")


if __name__ == "__main__":
    main()
