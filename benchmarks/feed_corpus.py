"""Collect a corpus of real and hostile feeds: serve every file of a folder over a local HTTP
server, register each as a source, run the real collector once, and report per-source
errors, crashes, hangs, item counts against the folder's manifest.json, time and memory.

    python benchmarks/feed_corpus.py ../shared/feed-corpus [--all] [--db-url URL]

The last line is machine-readable:
`files=N errors=N crashes=N hangs=N items=N expected_items=N wall_s=X peak_mb=X ...`.
`items`/`expected_items` cover the feeds (not calendars) whose manifest entry has an
`expect_items`; calendars are counted apart because their items are the occurrences in the
look-ahead window from now, not the VEVENTs of the file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import icalendar
from sqlalchemy import func, select

import digest.collect
import digest.collect.fetch
from digest.collect import collect
from digest.collect.ical import MAX_OCCURRENCES
from digest.collect.sandbox import ParseSandbox
from digest.collect.sources import add_source
from digest.db.engine import Database
from digest.db.schema import Item
from digest.model import Entry, Fetched, ParseOptions, SourceKind, SourceRef
from digest.queue import dedupe_key
from digest.settings import Settings, load_settings

CONTENT_TYPES = {".ics": "text/calendar", ".json": "application/json"}
# Markup a stored summary must never carry: scripts, event handlers, frames, styles, forms.
UNSAFE = re.compile(
    r"<\s*(?:script|iframe|style|object|embed|form|meta|link|base|svg|math)\b"
    r"|\son[a-z]+\s*=|\bstyle\s*=|javascript:|vbscript:|data:",
    re.IGNORECASE,
)
ERROR_CLASSES = (
    ("internal error", "crash"),
    ("parsing took longer", "parse-timeout"),
    ("the parsing process died", "parse-memory"),
    ("not accepted: the DOCTYPE", "entity-expansion"),
    ("HTTP ", "http"),
    ("timed out", "timeout"),
    ("byte cap", "size"),
    ("cannot connect", "connect"),
    ("not a feed", "not-a-feed"),
    ("not a JSON feed", "not-a-feed"),
    ("JSON feed", "json"),
    ("not a valid calendar", "invalid-calendar"),
    ("calendar cannot be expanded", "invalid-calendar"),
    ("decod", "decoding"),
)


def error_class(error: str) -> str:
    for prefix, name in ERROR_CLASSES:
        if error.startswith(prefix) or prefix in error.split(":")[0]:
            return name
    return "parse"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Trace:
    """What the instrumented collector saw for one source."""

    fetch_s: float = 0.0
    parse_s: float = 0.0
    running: str = ""  # "fetch" or "parse" while in progress
    entries: list[Entry] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # All sources are requested at once: the default backlog of 5 would drop connections
    # for a second and make fetch times noise.
    request_queue_size = 256


class Corpus:
    """The files, their manifest entries, and a local server for them."""

    def __init__(self, folder: Path, untyped_every: int) -> None:
        self.folder = folder
        manifest = folder / "manifest.json"
        self.manifest: dict[str, dict[str, Any]] = (
            json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
        )
        self.files = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_file() and p.name not in ("manifest.json", "README.md")
        )
        # Every Nth file is served without a Content-Type, as careless servers do.
        self.untyped = {name for i, name in enumerate(self.files) if i % untyped_every == 0}
        corpus = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = unquote(self.path.lstrip("/"))
                if name not in corpus.files:
                    self.send_error(404)
                    return
                body = (corpus.folder / name).read_bytes()
                self.send_response(200)
                if name not in corpus.untyped:
                    self.send_header("Content-Type", corpus.content_type(name))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)

    @staticmethod
    def content_type(name: str) -> str:
        return CONTENT_TYPES.get(Path(name).suffix.lower(), "application/xml")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{quote(name)}"

    def is_calendar(self, name: str) -> bool:
        return name.lower().endswith(".ics")

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


@contextlib.contextmanager
def instrumented(traces: dict[str, Trace]) -> Iterator[None]:
    """Time each source's fetch and parse (in the parsing process, waiting included), and
    keep its entries, by wrapping the collector's two steps."""
    real_fetch = digest.collect.fetch.fetch_one
    real_parse = ParseSandbox.parse

    async def fetch_one(client: Any, source: SourceRef, cfg: Any) -> Fetched:
        trace = traces[source.url]
        trace.running = "fetch"
        started = time.perf_counter()
        try:
            return await real_fetch(client, source, cfg)
        finally:
            trace.fetch_s = time.perf_counter() - started
            trace.running = ""

    sandboxes: list[ParseSandbox] = []

    def parse(sandbox: ParseSandbox, fetched: Fetched, options: ParseOptions) -> list[Entry]:
        # The fetched URL is the final one after redirects; the corpus has none.
        trace = traces[fetched.url]
        trace.running = "parse"
        sandboxes[:] = [sandbox]
        started = time.perf_counter()
        try:
            trace.entries = real_parse(sandbox, fetched, options)
            return trace.entries
        finally:
            trace.parse_s = time.perf_counter() - started
            trace.running = ""

    # A worker stopped at the deadline takes its peak with it: watch it while it runs.
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            for sandbox in sandboxes:
                WORKER_PEAK[0] = max(WORKER_PEAK[0], worker_peak_mb(sandbox.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    digest.collect.fetch.fetch_one = fetch_one
    ParseSandbox.parse = parse  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        digest.collect.fetch.fetch_one = real_fetch
        ParseSandbox.parse = real_parse  # type: ignore[method-assign]
        done.set()
        watcher.join()


# The parsing process's largest peak RSS seen, in MB; it is not this process's child (the
# forkserver's), so getrusage(RUSAGE_CHILDREN) does not see it.
WORKER_PEAK = [0.0]


def worker_peak_mb(pid: int | None) -> float:
    """VmHWM (peak resident set) of a live process, from /proc; 0 where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except (OSError, ValueError):
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 / 1e6 if found else 0.0


def make_settings(work: Path, args: argparse.Namespace) -> Settings:
    toml = work / "digest.toml"
    toml.write_text('[workspace]\ndata_dir = "data"\n', encoding="utf-8")
    env = {
        "DIGEST_SECURITY_SECRET_KEY": "benchmark-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DIGEST_COLLECT_TIMEOUT_SECONDS": str(args.timeout),
        # Every source is on 127.0.0.1: the politeness limit per host would serialize them.
        "DIGEST_COLLECT_PER_HOST": str(args.concurrency),
        "DIGEST_COLLECT_CONCURRENCY": str(args.concurrency),
        # ... and on loopback, which the collector refuses unless allowed.
        "DIGEST_COLLECT_ALLOW_HOSTS": "127.0.0.1",
    }
    if args.db_url:
        env["DIGEST_DATABASE_URL"] = args.db_url
    return load_settings(toml, env=env)


def vevent_count(path: Path) -> int | None:
    """VEVENTs as the manifest counts them (all calendars of the file, nothing expanded)."""
    try:
        calendars = icalendar.Calendar.from_ical(path.read_bytes(), multiple=True)
    except Exception:
        return None
    return sum(len(c.walk("VEVENT")) for c in calendars)


def explain(entries: list[Entry], stored: int, expected: int, claimed: set[str]) -> str:
    """Why a feed's stored count is not the manifest's, as far as dedup explains it."""
    keys = [dedupe_key(0, e) for e in entries]
    repeats = len(keys) - len(set(keys))
    shared = len({k for k in keys if k in claimed})
    parts = []
    if len(entries) != expected:
        parts.append(f"parser found {len(entries)}")
    if repeats:
        parts.append(f"{repeats} repeated guid/link in the feed")
    if shared:
        parts.append(f"{shared} already stored from another source (same link)")
    if len(entries) - repeats - shared != stored:
        parts.append("unexplained")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    corpus = Corpus(Path(args.corpus), args.untyped_every)
    work = Path(tempfile.mkdtemp(prefix="digest-corpus-"))
    settings = make_settings(work, args)
    db = Database(settings.database_url)
    urls: dict[str, str] = {}
    for name in corpus.files:
        kind = SourceKind.EVENTS if corpus.is_calendar(name) else SourceKind.NEWS
        source = add_source(db, corpus.url(name), kind, name, now())
        urls[name] = source.url
    traces = {url: Trace() for url in urls.values()}
    crashes: list[str] = []
    fetch_deadline = args.timeout * digest.collect.fetch.TOTAL_TIMEOUTS
    # A source may take the fetch deadline, then as long again to parse (the parsing
    # process is stopped there): anything slower escaped both bounds.
    bound = 2 * fetch_deadline + args.slack

    def on_watchdog() -> None:
        stuck = [n for n, u in urls.items() if traces[u].running]
        print(f"WATCHDOG: collect still running after {args.watchdog:g}s; in progress: {stuck}")
        print(
            f"files={len(corpus.files)} errors=0 crashes=0 hangs={max(1, len(stuck))} items=0 "
            f"expected_items=0 wall_s={args.watchdog:.1f} peak_mb={peak_mb():.1f}",
            flush=True,
        )
        os._exit(2)

    watchdog = threading.Timer(args.watchdog, on_watchdog)
    watchdog.daemon = True
    rss_before = peak_mb()
    started = time.perf_counter()
    reports = []
    with corpus.serving(), instrumented(traces):
        watchdog.start()
        try:
            reports = collect(db, settings, now)
        except Exception as e:  # anything escaping collect is a crash of the whole run
            crashes.append(f"collect raised {e.__class__.__name__}: {e}")
        finally:
            watchdog.cancel()
    wall = time.perf_counter() - started

    with db.session() as session:
        stored = dict(
            session.execute(select(Item.source_id, func.count()).group_by(Item.source_id)).all()
        )
        summaries = list(session.execute(select(Item.source_id, Item.summary, Item.link)).all())
    by_url = {r.source.url: r for r in reports}
    source_of: dict[int | None, str] = {r.source.id: r.source.name for r in reports}
    unsafe = [
        f"{source_of.get(sid, sid)}: {m.group(0)!r}"
        for sid, summary, _ in summaries
        for m in [UNSAFE.search(summary)]
        if m
    ]
    bad_links = [
        f"{source_of.get(sid, sid)}: {link[:60]!r}"
        for sid, _, link in summaries
        if link and not link.lower().startswith(("http://", "https://"))
    ]

    classes: Counter[str] = Counter()
    errors, hangs, diffs, calendars = [], [], [], []
    items = expected_items = cal_vevents = cal_items = 0
    claimed: set[str] = set()
    for name in corpus.files:
        url = urls[name]
        report, trace, meta = by_url.get(url), traces[url], corpus.manifest.get(name, {})
        count = stored.get(report.source.id, 0) if report else 0
        took = trace.fetch_s + trace.parse_s
        if took > bound:
            hangs.append(f"{name}: fetch {trace.fetch_s:.1f}s + parse {trace.parse_s:.1f}s")
        if report and report.error:
            reason = error_class(report.error)
            classes[reason] += 1
            errors.append(f"{reason:16} {name}: {report.error[:150]}")
            if reason == "crash":
                crashes.append(f"{name}: {report.error[:200]}")
        expect = meta.get("expect_items")
        if corpus.is_calendar(name):
            vevents = vevent_count(corpus.folder / name)
            cal_items += count
            cal_vevents += expect or 0
            calendars.append(
                f"{name}: vevents {expect if expect is not None else '-'}"
                f" (icalendar now {vevents if vevents is not None else 'raises'}),"
                f" occurrences stored {count}"
                + (f", error: {report.error[:80]}" if report and report.error else "")
            )
        elif expect is not None:
            items += count
            expected_items += expect
            if count != expect:
                why = explain(trace.entries, count, expect, claimed)
                diffs.append(f"{name}: stored {count}, expected {expect}: {why}")
        claimed.update(dedupe_key(0, e) for e in trace.entries if not e.guid)
        if args.all:
            state = report.error[:60] if report and report.error else f"{count} stored"
            print(f"  {name}: {state} ({took * 1000:.0f} ms)")

    slowest = sorted(urls, key=lambda n: -(traces[urls[n]].fetch_s + traces[urls[n]].parse_s))
    section("errors by source", errors)
    section("crashes", crashes)
    section(f"hangs (over {bound:g}s for one source)", hangs)
    section("feeds whose stored items differ from expect_items", diffs)
    section(
        "calendars: items are the occurrences starting between now and now + look-ahead "
        f"({settings.compose.lookahead_days} days, at most {MAX_OCCURRENCES} a calendar), "
        "so past events give none and a recurring one gives one per occurrence",
        calendars,
    )
    section("unsafe markup in stored summaries", unsafe)
    section("item links that are not http(s)", bad_links)
    section(
        "slowest sources",
        [
            f"{n}: fetch {traces[urls[n]].fetch_s:.2f}s, parse {traces[urls[n]].parse_s:.2f}s"
            for n in slowest[:5]
        ],
    )
    print(f"error classes: {dict(sorted(classes.items()))}")
    print(
        f"served without Content-Type: {len(corpus.untyped)} of {len(corpus.files)}; "
        f"peak RSS: before collect {rss_before:.1f} MB, collecting process {peak_mb():.1f} MB, "
        f"parsing process {WORKER_PEAK[0]:.1f} MB (peak_mb is the larger)"
    )
    print(
        f"files={len(corpus.files)} errors={sum(classes.values())} crashes={len(crashes)} "
        f"hangs={len(hangs)} items={items} expected_items={expected_items} wall_s={wall:.1f} "
        f"peak_mb={max(peak_mb(), WORKER_PEAK[0]):.1f} unsafe_summaries={len(unsafe)} "
        f"calendar_vevents={cal_vevents} calendar_items={cal_items}"
    )
    db.dispose()
    return 1 if crashes or hangs or unsafe else 0


def section(title: str, lines: list[str]) -> None:
    print(f"== {title}: {len(lines)}")
    for line in lines:
        print(f"  {line}")


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="folder of feed files, with an optional manifest.json")
    parser.add_argument("--timeout", type=float, default=5.0, help="collect.timeout_seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="collect.concurrency")
    parser.add_argument(
        "--slack", type=float, default=5.0, help="seconds past both deadlines that make a hang"
    )
    parser.add_argument(
        "--watchdog", type=float, default=600.0, help="stop the whole run after this long"
    )
    parser.add_argument(
        "--untyped-every", type=int, default=4, help="serve every Nth file without Content-Type"
    )
    parser.add_argument("--db-url", default="", help="database URL; default a temp SQLite file")
    parser.add_argument("--all", action="store_true", help="print a line for every file")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
