"""Send throughput against the real ceiling: `digest issue send`, run as a process, against
bare smtplib over the same number of connections, both into Postfix's smtp-sink.

The benchmark starts smtp-sink on a free loopback port (and kills it on exit), builds a
workspace the way `digest demo` does (the sample feeds collected, issue #1 composed, N
subscribers imported; nothing sent), and then, --repeats times, alternately:

- ceiling: one personalized message the engine sends (captured from a one-recipient engine
  run into a dumping smtp-sink), sent N times by plain smtplib in C threads, each with one
  persistent connection and MAIL / RCPT / DATA per message, in a child process;
- engine: `digest --config ... issue send` as a child process on a fresh copy of the
  database, so that each run sends all N: wall time -> messages/s, the child's CPU time
  (user + sys, from wait4) -> ms per message, its peak RSS;
- startup: `digest issue send --dry-run` on the same copy, the fixed cost of one run
  (interpreter, imports, opening the database, building the template).

Figures are min / median / max over the repeats; the ratio engine/ceiling is taken per
repeat (both measured side by side) before its median. Every run is checked against the
sink's own message counter. Progress goes to stderr, figures to stdout; with --json the
last line of stdout is one JSON object with all of them.

--scale also sends once to --scale-subscribers (100,000) and compares the time per message,
net of the startup cost, with the median at N (linear when within 10 %). --dkim adds an RSA
2048 key (openssl genrsa) and runs the engine with DKIM signing as well, when the engine
signs. --profile DIR records an engine run with py-spy three times (threads on CPU; only the
thread holding the GIL, --gil; every thread, running or waiting, --idle) as raw collapsed
stacks in DIR (open them in speedscope or flamegraph.pl), and prints the top functions by
self and total samples, with the threads they ran on.

    python benchmarks/send.py [--subscribers 5000] [--connections 4] [--repeats 3] [--scale]
                              [--dkim] [--profile /tmp/send-profile] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from support import (
    ChildRun,
    SmtpSink,
    blast_command,
    find_tool,
    print_profile,
    profile_report,
    read_profile,
    run_measured,
    stop_on_signals,
)

from digest.collect import collect
from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.db.engine import Database
from digest.demo.server import FEEDS, FeedServer
from digest.model import SourceKind
from digest.settings import documented_settings, load_settings, starter_file
from subscribers.importer import import_csv

TARGET_RATIO = 0.8
TARGET_CPU_MS = 1.0
TARGET_RSS_MB = 150.0
TARGET_LINEARITY = 0.10
DKIM_SETTINGS = ("smtp.dkim_selector", "smtp.dkim_domain", "smtp.dkim_key_file")
TOP = 15


class EngineFailed(Exception):
    """`digest issue send` exited with an error or the sink did not get every message."""


def now() -> datetime:
    return datetime.now(UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The workspace: built once per size, copied fresh for every run.


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    folder: Path
    pristine: Path  # the SQLite file as built: issue #1 composed, nobody sent to
    subscribers: int
    secret_key: str
    connections: int

    def settings(self, name: str, database: Path, port: int, **extra: object) -> Path:
        """A settings file for one run: this database, the sink's port, C connections."""
        path = self.folder / f"{name}.toml"
        path.write_text(
            starter_file(
                {
                    "newsletter.name": "Cluster Weekly",
                    "newsletter.postal_address": (
                        "Example Network, 1 Sample Street, 1000 Example City"
                    ),
                    "database.url": f"sqlite:///{database}",
                    "workspace.data_dir": f"data-{name}",
                    "smtp.host": "127.0.0.1",
                    "smtp.port": port,
                    "smtp.connections": self.connections,
                    "security.secret_key": self.secret_key,
                    # The demo feeds are served on loopback (refused unless allowed).
                    "collect.allow_hosts": ["127.0.0.1"],
                    **extra,
                }
            ),
            encoding="utf-8",
        )
        return path

    def fresh_database(self, name: str) -> Path:
        """A copy of the pristine database for run `name`, with an empty data folder (where
        the engine keeps files of its own, such as a send journal)."""
        shutil.rmtree(self.folder / f"data-{name}", ignore_errors=True)
        target = self.folder / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.pristine, target)
        return target


def build_workspace(folder: Path, subscribers: int, connections: int) -> Workspace:
    """What `digest demo` builds before it sends, with the same library calls."""
    folder.mkdir(parents=True, exist_ok=True)
    ws = Workspace(
        folder=folder,
        pristine=folder / "pristine.sqlite3",
        subscribers=subscribers,
        secret_key=secrets.token_urlsafe(32),
        connections=connections,
    )
    settings = load_settings(ws.settings("build", ws.pristine, 25), env={})
    db = Database(settings.database_url, auto_upgrade=True)
    try:
        with FeedServer(now()) as feeds:
            for name in FEEDS:
                add_source(db, feeds.url(name), SourceKind(name), f"Demo {name}", now())
            collect(db, settings, now)
        compose_issue(db, settings, now)
        roster = folder / "subscribers.csv"
        with roster.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "name"])
            for n in range(1, subscribers + 1):
                writer.writerow([f"reader{n:06d}@example.com", f"Reader {n}"])
        imported = import_csv(db, roster, now(), origin="benchmark")
    finally:
        db.dispose()
    if imported.added != subscribers:
        raise SystemExit(f"workspace: {imported.added} of {subscribers} subscribers imported")
    # Everything into the main file, so that a plain copy is a complete database.
    with contextlib.closing(sqlite3.connect(ws.pristine)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ws


def only_first_subscriber(database: Path) -> None:
    """Everyone but the first subscriber unsubscribed: a run that sends one message."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE subscribers SET status = 'unsubscribed' "
            "WHERE id <> (SELECT min(id) FROM subscribers)"
        )


# Runs.


def child_env() -> dict[str, str]:
    """The benchmark's environment without DIGEST_* variables: the settings file decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}


def digest_command(settings_file: Path, *args: str) -> list[str]:
    digest = find_tool("digest")
    if digest is None:
        raise SystemExit("the `digest` command was not found: pip install -e . in the venv")
    return [digest, "--config", str(settings_file), "issue", "send", *args]


def time_limit(messages: int) -> float:
    return 120 + messages / 20


def checked(run: ChildRun, sink: SmtpSink, before: int, expected: int) -> ChildRun:
    if run.returncode != 0:
        raise EngineFailed(run.failure())
    arrived = sink.wait_for(before + expected) - before
    if arrived != expected:
        raise EngineFailed(f"smtp-sink received {arrived} of {expected} messages: {run.stdout}")
    return run


def probe(ws: Workspace, name: str, **extra: object) -> tuple[str, bytes]:
    """(envelope sender, message) of one real delivery by the engine, into a dumping sink."""
    database = ws.fresh_database(name)
    only_first_subscriber(database)
    with SmtpSink(ws.folder / name, dump_dir=ws.folder / name / "dump") as sink:
        settings_file = ws.settings(name, database, sink.port, **extra)
        run = run_measured(
            digest_command(settings_file), env=child_env(), timeout=300, folder=ws.folder / name
        )
        checked(run, sink, 0, 1)
        dumped = sink.dumped()
    if len(dumped) != 1:
        raise EngineFailed(f"expected one dumped message, found {len(dumped)}")
    return dumped[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineRun:
    run: ChildRun
    messages: int
    startup: ChildRun | None  # `issue send --dry-run` on the same copy
    reported_seconds: float | None  # what `issue send` says its send took

    @property
    def rate(self) -> float:
        return self.messages / self.run.wall

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.run.cpu / self.messages

    @property
    def net_ms(self) -> float:
        """Wall ms per message without the fixed cost of starting a run."""
        fixed = self.startup.wall if self.startup else 0.0
        return 1000 * (self.run.wall - fixed) / self.messages


def engine_run(
    ws: Workspace,
    sink: SmtpSink,
    name: str,
    *,
    startup: bool = True,
    wrap: Sequence[str] = (),
    extra: Mapping[str, object] | None = None,
) -> EngineRun:
    database = ws.fresh_database(name)
    settings_file = ws.settings(name, database, sink.port, **(extra or {}))
    folder = ws.folder / name
    dry = None
    if startup:
        dry = run_measured(
            digest_command(settings_file, "--dry-run"), env=child_env(), folder=folder
        )
        if dry.returncode != 0:
            raise EngineFailed(dry.failure())
    before = sink.messages()
    run = run_measured(
        [*wrap, *digest_command(settings_file)],
        env=child_env(),
        timeout=time_limit(ws.subscribers),
        folder=folder,
    )
    checked(run, sink, before, ws.subscribers)
    reported = re.search(r" in ([0-9.]+)s; complete", run.stdout)
    return EngineRun(
        run=run,
        messages=ws.subscribers,
        startup=dry,
        reported_seconds=float(reported[1]) if reported else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CeilingRun:
    run: ChildRun
    seconds: float  # the blast itself, timed inside the child
    messages: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.run.cpu / self.messages


def ceiling_run(ws: Workspace, sink: SmtpSink, sender: str, message_file: Path) -> CeilingRun:
    before = sink.messages()
    command = blast_command(sink.port, ws.connections, ws.subscribers, sender, message_file)
    run = run_measured(command, timeout=time_limit(ws.subscribers), folder=ws.folder / "ceiling")
    checked(run, sink, before, ws.subscribers)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return CeilingRun(run=run, seconds=float(result["seconds"]), messages=ws.subscribers)


# Figures.


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def row(label: str, values: Sequence[float], digits: int, note: str = "") -> str:
    s = spread(values)
    cells = "".join(f"{s[k]:>10.{digits}f}" for k in ("min", "median", "max"))
    return f"  {label:<38}{cells}  {note}".rstrip()


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def engine_rows(label: str, runs: Sequence[EngineRun], ceilings: Sequence[CeilingRun]) -> None:
    ratios = [e.rate / c.rate for e, c in zip(runs, ceilings, strict=True)]
    cpu = [e.cpu_ms for e in runs]
    rss = [e.run.max_rss_mb for e in runs]
    r, c, m = (statistics.median(v) for v in (ratios, cpu, rss))
    print(row(f"{label} messages/s (wall)", [e.rate for e in runs], 0))
    print(
        row(
            "  ratio engine/ceiling (same repeat)",
            ratios,
            2,
            f"target >= {TARGET_RATIO}: {verdict(r >= TARGET_RATIO)}",
        )
    )
    print(
        row(
            "  CPU ms/message (user+sys)",
            cpu,
            3,
            f"target <= {TARGET_CPU_MS}: {verdict(c <= TARGET_CPU_MS)}",
        )
    )
    print(
        row(
            "  peak RSS MB", rss, 1, f"target <= {TARGET_RSS_MB:.0f}: {verdict(m <= TARGET_RSS_MB)}"
        )
    )
    print(row("  wall s", [e.run.wall for e in runs], 2))
    startups = [e.startup for e in runs if e.startup]
    if startups:
        print(row("  startup s (issue send --dry-run)", [s.wall for s in startups], 2))
        print(row("  startup CPU s", [s.cpu for s in startups], 2))
        print(row("  wall ms/message net of startup", [e.net_ms for e in runs], 3))
        net_cpu = [
            1000 * (e.run.cpu - s.cpu) / e.messages for e, s in zip(runs, startups, strict=True)
        ]
        print(row("  CPU ms/message net of startup", net_cpu, 3))
    reported = [e.reported_seconds for e in runs if e.reported_seconds]
    if len(reported) == len(runs):
        print(
            row(
                "  messages/s as `issue send` reports",
                [e.messages / s for e, s in zip(runs, reported, strict=True)],
                0,
            )
        )


def engine_figures(runs: Sequence[EngineRun], ceilings: Sequence[CeilingRun]) -> dict[str, object]:
    figures: dict[str, object] = {
        "messages_per_second": spread([e.rate for e in runs]),
        "ratio_to_ceiling": spread([e.rate / c.rate for e, c in zip(runs, ceilings, strict=True)]),
        "cpu_ms_per_message": spread([e.cpu_ms for e in runs]),
        "peak_rss_mb": spread([e.run.max_rss_mb for e in runs]),
        "wall_seconds": spread([e.run.wall for e in runs]),
        "net_ms_per_message": spread([e.net_ms for e in runs]),
    }
    startups = [e.startup for e in runs if e.startup]
    if startups:
        figures["startup_seconds"] = spread([s.wall for s in startups])
        figures["startup_cpu_seconds"] = spread([s.cpu for s in startups])
    return figures


def has_header(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name.lower() + b":") or b"\r\n" + name.lower() + b":" in head


def dkim_setup(ws: Workspace) -> tuple[dict[str, object] | None, str]:
    """The DKIM settings for the engine, or None and why signing is not measured."""
    known = {f"{d.section}.{d.key}" for d in documented_settings()}
    missing = [name for name in DKIM_SETTINGS if name not in known]
    if missing:
        return None, f"the engine has no setting {', '.join(missing)} yet"
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, "openssl not found, so no key can be made"
    key = ws.folder / "dkim.pem"
    subprocess.run([openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    extra: dict[str, object] = {
        "smtp.dkim_selector": "bench",
        "smtp.dkim_domain": "example.com",
        "smtp.dkim_key_file": str(key),
    }
    try:
        _, message = probe(ws, "probe-dkim", **extra)
    except EngineFailed as e:
        return None, f"`issue send` with DKIM settings failed: {e}"
    if not has_header(message, b"DKIM-Signature"):
        return None, "the engine accepts the DKIM settings but does not sign yet"
    return extra, ""


def profile_engine(ws: Workspace, sink: SmtpSink, out: Path) -> dict[str, object]:
    """One engine run under py-spy for each view: threads on CPU, the thread holding the
    GIL, and every thread whether running or waiting (--idle); their summaries."""
    py_spy = find_tool("py-spy")
    if py_spy is None:
        print("profile: py-spy not found (install it: .venv/bin/pip install py-spy); skipped")
        return {"skipped": "py-spy not found"}
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    kinds: list[tuple[str, list[str]]] = [("cpu", []), ("gil", ["--gil"]), ("wall", ["--idle"])]
    for kind, flags in kinds:
        path = out / f"send-{kind}.txt"
        log(f"profiling one engine run with py-spy ({kind}) into {path}")
        wrap = [py_spy, "record", "--threads", "--rate", "250", *flags, "--format", "raw"]
        engine_run(ws, sink, f"profile-{kind}", startup=False, wrap=[*wrap, "-o", str(path), "--"])
        profile = read_profile(path)
        title = {
            "cpu": "threads on CPU",
            "gil": "only the thread holding the GIL (--gil)",
            "wall": "threads on CPU and waiting (--idle)",
        }[kind]
        print()
        print_profile(f"py-spy, one engine run, {title}, {path}", profile, TOP)
        report[kind] = {"file": str(path), **profile_report(profile, TOP)}
    return report


# The benchmark.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", action="store_true", help="also send once to 100,000")
    parser.add_argument("--scale-subscribers", type=int, default=100_000)
    parser.add_argument("--dkim", action="store_true", help="also send with DKIM signing")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of one run")
    parser.add_argument("--json", action="store_true", help="figures as JSON on the last line")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()
    stop_on_signals()
    work = Path(tempfile.mkdtemp(prefix="digest-send-bench-"))
    try:
        figures = run(args, work)
    except EngineFailed as e:
        print(f"send benchmark: the engine failed: {e}", file=sys.stderr)
        raise SystemExit(1) from e
    finally:
        if args.keep:
            log(f"workspace kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))


def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    n, c = args.subscribers, args.connections
    log(f"building a workspace with {n} subscribers in {work}")
    ws = build_workspace(work / "ws", n, c)
    log("one delivery by the engine, to take the message it sends")
    sender, message = probe(ws, "probe")
    message_file = work / "message.eml"
    message_file.write_bytes(message)
    dkim, dkim_reason = dkim_setup(ws) if args.dkim else (None, "")

    ceilings: list[CeilingRun] = []
    engines: list[EngineRun] = []
    signed: list[EngineRun] = []
    with SmtpSink(work / "sink") as sink:
        for repeat in range(1, args.repeats + 1):
            log(f"repeat {repeat}/{args.repeats}: ceiling")
            ceilings.append(ceiling_run(ws, sink, sender, message_file))
            log(f"repeat {repeat}/{args.repeats}: engine")
            engines.append(engine_run(ws, sink, "engine"))
            if dkim is not None:
                log(f"repeat {repeat}/{args.repeats}: engine with DKIM")
                signed.append(engine_run(ws, sink, "engine-dkim", extra=dkim))
        scale = None
        if args.scale:
            log(f"building a workspace with {args.scale_subscribers} subscribers")
            big = build_workspace(work / "ws-scale", args.scale_subscribers, c)
            log(f"engine at {args.scale_subscribers} subscribers")
            scale = engine_run(big, sink, "engine-scale")
        figures: dict[str, object] = {
            "subscribers": n,
            "connections": c,
            "repeats": args.repeats,
            "message_bytes": len(message),
            "ceiling": {
                "messages_per_second": spread([x.rate for x in ceilings]),
                "cpu_ms_per_message": spread([x.cpu_ms for x in ceilings]),
                "peak_rss_mb": spread([x.run.max_rss_mb for x in ceilings]),
            },
            "engine": engine_figures(engines, ceilings),
        }
        print_figures(args, sink, len(message), ceilings, engines)
        if args.dkim:
            print()
            if dkim is None:
                print(f"DKIM: skipped, {dkim_reason}")
                figures["dkim"] = {"skipped": dkim_reason}
            else:
                print("with DKIM signing (RSA 2048), against the same repeats' ceiling:")
                engine_rows("engine + DKIM", signed, ceilings)
                figures["dkim"] = engine_figures(signed, ceilings)
        if scale is not None:
            figures["scale"] = print_scale(scale, engines)
        if args.profile:
            figures["profile"] = profile_engine(ws, sink, args.profile)
    return figures


def print_figures(
    args: argparse.Namespace,
    sink: SmtpSink,
    size: int,
    ceilings: Sequence[CeilingRun],
    engines: Sequence[EngineRun],
) -> None:
    print(
        f"send: {args.subscribers} subscribers, {args.connections} connections, "
        f"{args.repeats} repeats; one message is {size:,} bytes; "
        f"smtp-sink on 127.0.0.1:{sink.port}"
    )
    print(f"  {'':<38}{'min':>10}{'median':>10}{'max':>10}")
    print(row("ceiling messages/s (smtplib, C threads)", [x.rate for x in ceilings], 0))
    print(row("  CPU ms/message", [x.cpu_ms for x in ceilings], 3))
    engine_rows("engine", engines, ceilings)


def print_scale(scale: EngineRun, engines: Sequence[EngineRun]) -> dict[str, object]:
    base_net = statistics.median([e.net_ms for e in engines])
    base_raw = statistics.median([1000 * e.run.wall / e.messages for e in engines])
    raw = 1000 * scale.run.wall / scale.messages
    linearity = scale.net_ms / base_net - 1
    print()
    print(f"scale: one run at {scale.messages} subscribers")
    print(f"  messages/s (wall)                     {scale.rate:10.0f}")
    print(
        f"  ms/message net of startup             {scale.net_ms:10.3f}  vs {base_net:.3f} at "
        f"{engines[0].messages}: {linearity:+.1%} "
        f"(target within {TARGET_LINEARITY:.0%}: {verdict(abs(linearity) <= TARGET_LINEARITY)})"
    )
    print(
        f"  ms/message with startup               {raw:10.3f}  vs {base_raw:.3f}: "
        f"{raw / base_raw - 1:+.1%}"
    )
    print(f"  CPU ms/message                        {scale.cpu_ms:10.3f}")
    print(
        f"  peak RSS MB                           {scale.run.max_rss_mb:10.1f}  "
        f"(target <= {TARGET_RSS_MB:.0f}: {verdict(scale.run.max_rss_mb <= TARGET_RSS_MB)})"
    )
    return {
        "subscribers": scale.messages,
        "messages_per_second": scale.rate,
        "net_ms_per_message": scale.net_ms,
        "net_ms_per_message_at_base": base_net,
        "linearity": linearity,
        "cpu_ms_per_message": scale.cpu_ms,
        "peak_rss_mb": scale.run.max_rss_mb,
    }


if __name__ == "__main__":
    main()
