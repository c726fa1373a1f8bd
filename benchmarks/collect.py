"""Collect wall time: `collect()` over N feeds served with added latency, concurrently and one
at a time (the same code path with collect.concurrency = 1), then again with every feed
unchanged (all 304), in the same run. Prints medians over --repeat runs.

The feeds are spread over --hosts loopback addresses (127.0.0.2, 127.0.0.3, ...), one small
threaded HTTP server each, so the per-host politeness limit works as it would on the
internet. Each server waits --latency seconds before every answer, honours If-None-Match
and If-Modified-Since, and listens on loopback only. A temporary SQLite workspace is used.

    python benchmarks/collect.py [--feeds 200] [--hosts 50] [--latency 0.1] [--grouped]
                                 [--concurrency 8] [--per-host 2] [--items 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import math
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import connection
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update

from digest.collect import collect
from digest.collect.sources import add_source
from digest.db.engine import Database
from digest.db.schema import Item, Source
from digest.model import SourceKind, SourceReport
from digest.settings import CollectSettings, DatabaseSettings, Settings

LAST_MODIFIED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def feed_body(feed: int, items: int) -> bytes:
    """An RSS 2.0 feed of `items` stories whose guids are unique to `feed`."""
    entries = "".join(
        f"<item><title>Feed {feed} story {n}</title>"
        f"<guid isPermaLink='false'>feed-{feed}-story-{n}</guid>"
        f"<link>https://example.org/{feed}/{n}</link>"
        f"<pubDate>{format_datetime(LAST_MODIFIED - timedelta(hours=n))}</pubDate>"
        f"<description>&lt;p&gt;Story {n} of feed {feed}, "
        f"{'with a few sentences of text. ' * 8}&lt;/p&gt;</description></item>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>https://example.org/{feed}</link>"
        f"<description>Benchmark feed {feed}</description>{entries}</channel></rss>"
    ).encode()


def make_handler(bodies: dict[str, bytes], latency: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK (40 ms) on a reused connection. Web servers turn it off.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            time.sleep(latency)
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self._unchanged(tag):
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", tag)
            self.send_header("Last-Modified", format_datetime(LAST_MODIFIED, usegmt=True))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _unchanged(self, tag: str) -> bool:
            # RFC 9110 13.1.3: If-None-Match, when sent, decides; else If-Modified-Since.
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:
                return tag in [t.strip() for t in if_none_match.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since is None:
                return False
            try:
                return parsedate_to_datetime(since) >= LAST_MODIFIED
            except (TypeError, ValueError):
                return False

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def run_servers(
    hosts: int, feeds: int, items: int, latency: float, conn: connection.Connection
) -> None:
    """In the server process: one threaded HTTP server on each of 127.0.0.2 ...; sends
    their base URLs through `conn`, then serves until told to stop."""
    handler = make_handler({f"/feed/{n}.xml": feed_body(n, items) for n in range(feeds)}, latency)
    servers, urls = [], []
    for n in range(hosts):
        address = f"127.0.0.{n + 2}"
        server = ThreadingHTTPServer((address, 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls.append(f"http://{address}:{server.server_address[1]}")
    conn.send(urls)
    conn.recv()  # any message means stop
    for server in servers:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serve(hosts: int, feeds: int, items: int, latency: float) -> Iterator[list[str]]:
    """The feed servers, in a process of their own so that they do not compete with the
    collector for the interpreter lock; yields their base URLs."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.Process(
        target=run_servers, args=(hosts, feeds, items, latency, theirs), daemon=True
    )
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()


def forget(db: Database) -> None:
    """As if never collected: no items, no validators, so every feed is fetched in full."""
    with db.session() as session:
        session.execute(delete(Item))
        session.execute(update(Source).values(etag=None, last_modified=None))


def timed(
    db: Database, settings: Settings, clock: Callable[[], datetime], expect: int | None
) -> float:
    """Seconds one collect takes; `expect` is the new items per feed, None for all-304."""
    started = time.perf_counter()
    reports = collect(db, settings, clock)
    elapsed = time.perf_counter() - started
    check(reports, expect)
    return elapsed


def check(reports: list[SourceReport], expect: int | None) -> None:
    failed = [r.line for r in reports if r.error]
    if failed:
        raise SystemExit("collect failed:\n" + "\n".join(failed[:5]))
    if expect is None:
        wrong = [r.line for r in reports if r.status != 304]
    else:
        wrong = [r.line for r in reports if (r.status, r.new) != (200, expect)]
    if wrong:
        raise SystemExit("unexpected result:\n" + "\n".join(wrong[:5]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses (max 250)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per response")
    parser.add_argument("--concurrency", type=int, default=CollectSettings().concurrency)
    parser.add_argument("--per-host", type=int, default=CollectSettings().per_host)
    parser.add_argument("--items", type=int, default=10, help="stories per feed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--grouped",
        action="store_true",
        help="register each host's feeds one after another (as when a site's feeds are added "
        "together) instead of taking the hosts in turn",
    )
    args = parser.parse_args()
    if not 1 <= args.hosts <= 250:
        parser.error("--hosts must be between 1 and 250")

    work = Path(tempfile.mkdtemp(prefix="digest-bench-collect-"))
    db_url = f"sqlite:///{work / 'digest.sqlite3'}"
    concurrent = Settings(
        database=DatabaseSettings(url=db_url),
        collect=CollectSettings(
            concurrency=args.concurrency,
            per_host=args.per_host,
            # The feeds are served on loopback, which the collector refuses unless allowed.
            allow_hosts=["127.0.0.1"],
        ),
        base_dir=work,
    )
    one_at_a_time = dataclasses.replace(
        concurrent, collect=dataclasses.replace(concurrent.collect, concurrency=1)
    )

    def clock() -> datetime:
        return datetime.now(UTC)

    db = Database(db_url)
    sequential_s, concurrent_s, unchanged_s = [], [], []
    with serve(args.hosts, args.feeds, args.items, args.latency) as bases:
        for n in range(args.feeds):
            host = n * len(bases) // args.feeds if args.grouped else n % len(bases)
            url = f"{bases[host]}/feed/{n}.xml"
            add_source(db, url, SourceKind.NEWS, f"Feed {n}", clock())
        for round_ in range(args.repeat):
            # Alternate which goes first, so a warm cache favours neither.
            order = (
                ("sequential", "concurrent") if round_ % 2 == 0 else ("concurrent", "sequential")
            )
            for which in order:
                forget(db)
                if which == "sequential":
                    sequential_s.append(timed(db, one_at_a_time, clock, args.items))
                else:
                    concurrent_s.append(timed(db, concurrent, clock, args.items))
                    # The same feeds again: every server answers 304 Not Modified.
                    unchanged_s.append(timed(db, concurrent, clock, None))
    db.dispose()

    seq, conc, same = (statistics.median(x) for x in (sequential_s, concurrent_s, unchanged_s))
    at_once = min(args.concurrency, args.hosts * args.per_host, args.feeds)
    floor = math.ceil(args.feeds / at_once) * args.latency
    print(
        f"{args.feeds} feeds of {args.items} items on {args.hosts} loopback hosts "
        f"({'grouped by host' if args.grouped else 'hosts in turn'}), "
        f"{args.latency * 1000:.0f} ms added to every response, SQLite, "
        f"median of {args.repeat} runs"
    )
    print(
        f"settings: collect.concurrency={args.concurrency} collect.per_host={args.per_host} "
        f"(at most {at_once} requests at once; latency floor {floor:.2f}s)"
    )
    print(
        f"one at a time (collect.concurrency=1, same code path): median {seq:.2f}s "
        f"(latency floor {args.feeds * args.latency:.2f}s)"
    )
    print(f"concurrent: median {conc:.2f}s, {seq / conc:.1f}x faster than one at a time")
    print(f"unchanged (all 304): median {same:.2f}s, {same / floor:.2f}x the latency floor")
    print(
        f"feeds={args.feeds} concurrent_s={conc:.2f} sequential_s={seq:.2f} "
        f"ratio={conc / seq:.3f} unchanged_s={same:.2f}"
    )


if __name__ == "__main__":
    main()
