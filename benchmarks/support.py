"""Helpers for benchmarks that measure against an outside ceiling: Postfix's smtp-sink, a
bare smtplib blaster (`python benchmarks/support.py blast ...`), child processes measured
through a small launcher (`support.py measure ...`: wall, CPU and peak RSS from wait4), and
a summary of py-spy's raw (collapsed-stack) profiles by self and total samples and by thread.

Standard library only, so the blaster and the launcher start in milliseconds and stay small.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

SMTP_SINK = "/usr/sbin/smtp-sink"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec (Linux): killed when the benchmark dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the benchmark like Ctrl-C does, so that every `finally` runs
    and the processes it started are killed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a child started with start_new_session=True and everything it started."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        process.wait(timeout=10)


class SmtpSink:
    """Postfix's smtp-sink on a free loopback port: answers 250 to everything and throws the
    mail away (or, with `dump_dir`, writes each message to a file there). Its running
    counters (-c) go to a file, so a run can check how many messages arrived."""

    def __init__(self, folder: Path, *, dump_dir: Path | None = None, backlog: int = 1000):
        if not Path(SMTP_SINK).exists():
            raise SystemExit(
                f"{SMTP_SINK} not found: install Debian's postfix (apt-get install postfix)"
            )
        self.port = free_port()
        self.host = "127.0.0.1"
        folder.mkdir(parents=True, exist_ok=True)
        self.counters = folder / f"smtp-sink-{self.port}.out"
        self.dump_dir = dump_dir
        command = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            # smtp-sink refuses to run as root without a user to switch to after binding.
            command += ["-u", "root"]
        if dump_dir is not None:
            dump_dir.mkdir(parents=True, exist_ok=True)
            command += ["-d", f"{dump_dir}/%Y%m%d%H%M%S."]
        command += [f"{self.host}:{self.port}", str(backlog)]
        self._command = command
        self._process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def __enter__(self) -> SmtpSink:
        self._out = self.counters.open("wb")
        self._process = subprocess.Popen(
            self._command,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Linux only; the benchmark starts no thread of its own.
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 10
        while True:
            if self._process.poll() is not None:
                raise SystemExit(f"smtp-sink exited at once: {self.counters.read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return self
            if time.monotonic() > deadline:
                raise SystemExit(f"smtp-sink does not answer on {self.host}:{self.port}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            kill_group(self._process)
        if self._out is not None:
            self._out.close()

    def messages(self) -> int:
        """Messages received so far (the sink's counter, updated on every final dot)."""
        found = re.findall(rb"mesg=(\d+)", self.counters.read_bytes())
        return int(found[-1]) if found else 0

    def wait_for(self, count: int, timeout: float = 2.0) -> int:
        """The counter once it reaches `count`, or whatever it says after `timeout`."""
        deadline = time.monotonic() + timeout
        while (seen := self.messages()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen

    def dumped(self) -> list[tuple[str, bytes]]:
        """(envelope sender, message bytes with CRLF line ends) of every dumped message."""
        if self.dump_dir is None:
            return []
        return [parse_dump(p.read_bytes()) for p in sorted(self.dump_dir.iterdir())]


def parse_dump(data: bytes) -> tuple[str, bytes]:
    """smtp-sink's dump of one transaction: X-Client-Addr ... X-Mail-Args, X-Rcpt-Args and
    a Received header of its own, then the message with LF line ends and a blank line."""
    lines = data.split(b"\n")
    sender = ""
    index = 0
    while index < len(lines) and not lines[index].startswith(b"Received: "):
        if lines[index].startswith(b"X-Mail-Args: "):
            sender = lines[index].split(b" ")[1].strip(b"<>").decode("utf-8", "replace")
        index += 1
    index += 1
    while index < len(lines) and lines[index][:1] in (b" ", b"\t"):
        index += 1
    body = lines[index:]
    while body and body[-1] == b"":
        body.pop()
    return sender, b"".join(line + b"\r\n" for line in body)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRun:
    """One child process: wall seconds, CPU seconds (user + sys) and peak RSS in MB, from
    wait4, so the figures are the child's alone."""

    command: list[str]
    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float
    stdout: str
    stderr: str

    def failure(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip())[-2000:]
        return f"`{' '.join(self.command)}` exited with {self.returncode}: {tail}"


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
    folder: Path,
) -> ChildRun:
    """Run `command` to its end and measure it; its output goes to files, not pipes, so a
    chatty child never blocks and nothing is read while it runs.

    The command is started by a small launcher (`support.py measure`), which waits for it
    with wait4: Linux carries a process's peak RSS across fork and exec, so a child of the
    benchmark itself would report at least the benchmark's own peak (100 MB and more once
    the workspace is built), while a child of the launcher starts from the launcher's few MB.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out_path, err_path = folder / "child.stdout", folder / "child.stderr"
    report = folder / "child.rusage.json"
    report.unlink(missing_ok=True)
    launcher = [sys.executable, str(Path(__file__).resolve()), "measure", str(report), "--"]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [*launcher, *command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            # Linux only; the benchmark has no thread of its own running at this point.
            preexec_fn=_die_with_parent,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"{list(command)!r} still running after {timeout:.0f}s") from e
        finally:
            kill_group(process)
    if process.returncode != 0 or not report.exists():
        raise RuntimeError(
            f"launcher failed ({process.returncode}): {err_path.read_text('utf-8', 'replace')}"
        )
    measured = json.loads(report.read_text())
    return ChildRun(
        command=list(command),
        returncode=int(measured["returncode"]),
        wall=float(measured["wall"]),
        cpu=float(measured["cpu"]),
        max_rss_mb=float(measured["max_rss_kb"]) / 1024,
        stdout=out_path.read_text("utf-8", "replace"),
        stderr=err_path.read_text("utf-8", "replace"),
    )


def _measure_main(argv: Sequence[str]) -> None:
    """`support.py measure REPORT -- COMMAND...`: run COMMAND, write its wall time, CPU time,
    peak RSS and exit code to REPORT as JSON; COMMAND's output is this process's."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: support.py measure REPORT -- COMMAND...")
    started = time.perf_counter()
    process = subprocess.Popen(list(argv[2:]), preexec_fn=_die_with_parent)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    Path(argv[0]).write_text(
        json.dumps(
            {
                "returncode": process.returncode,
                "wall": time.perf_counter() - started,
                "cpu": usage.ru_utime + usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,  # kilobytes on Linux
            }
        )
    )


def find_tool(name: str) -> str | None:
    """A console script next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# The ceiling: bare smtplib, C threads, one persistent connection each.


@dataclass(frozen=True, slots=True, kw_only=True)
class BlastResult:
    seconds: float
    accepted: int
    refused: int


def blast(
    host: str, port: int, connections: int, count: int, sender: str, message: bytes
) -> BlastResult:
    """Send `message` `count` times over `connections` threads, each keeping one SMTP
    connection for all of its share: MAIL, RCPT, DATA per message, as the engine does."""
    shares = [
        count // connections + (1 if i < count % connections else 0) for i in range(connections)
    ]
    accepted = [0] * connections
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                smtp.ehlo()
                options = [f"SIZE={len(message)}"] if smtp.has_extn("size") else []
                for n in range(shares[index]):
                    if smtp.mail(sender, options)[0] != 250:
                        smtp.rset()
                        continue
                    if smtp.rcpt(f"reader{index}.{n}@example.com")[0] not in (250, 251):
                        smtp.rset()
                        continue
                    if smtp.data(message)[0] == 250:
                        accepted[index] += 1
        except (smtplib.SMTPException, OSError) as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return BlastResult(seconds=seconds, accepted=sum(accepted), refused=count - sum(accepted))


def _blast_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="support.py blast")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--message", type=Path, required=True)
    args = parser.parse_args(argv)
    result = blast(
        args.host, args.port, args.connections, args.count, args.sender, args.message.read_bytes()
    )
    print(json.dumps({"seconds": result.seconds, "accepted": result.accepted}))


def blast_command(
    port: int, connections: int, count: int, sender: str, message_file: Path
) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "blast",
        f"--port={port}",
        f"--connections={connections}",
        f"--count={count}",
        f"--sender={sender}",
        f"--message={message_file}",
    ]


# py-spy's raw format with --threads: one line per distinct stack,
#   thread (TID): NAME;outermost (file:line);...;innermost (file:line) COUNT


@dataclass(slots=True)
class Profile:
    samples: int = 0
    by_thread: Counter[str] = field(default_factory=Counter)
    self_: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    total: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def thread_group(name: str) -> str:
    """`digest-smtp_3` -> `digest-smtp_*`: pool workers are summed as one group."""
    return re.sub(r"_\d+$", "_*", name)


def frame_key(frame: str) -> str:
    """`send (/x/site-packages/digest/send/transport.py:75)` -> `send (digest/send/transport.py)`:
    lines of one function are counted together; paths are shortened to the package."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker.startswith("/lib"):
                path = path.split("/", 1)[-1]
            break
    else:
        path = re.sub(r"^.*?/(digest|subscribers)/", r"\1/", path)
    return f"{match['name']} ({path})"


IMPORTING = "(importing modules)"
# Frames every stack of a thread or an import passes through; they say nothing in a table
# of total samples.
_WRAPPERS = re.compile(
    r"^(Thread\.(run|_bootstrap|_bootstrap_inner) \(threading\.py\)"
    r"|(_worker|_WorkItem\.run) \(concurrent/futures/thread\.py\)"
    r"|<module> \(digest\)"
    r"|.* \(<frozen importlib\.\S+>\))$"
)


def read_profile(path: Path) -> Profile:
    """Samples by innermost function (self) and by every function on the stack (total),
    per thread group. A sample taken while a module is imported counts as IMPORTING."""
    profile = Profile()
    lines = path.read_text("utf-8", "replace").splitlines()
    # A thread has no name until the threading module is imported: its early samples are
    # given the name it has later.
    names = dict(
        head.split(": ", 1) for head in (line.split(";", 1)[0] for line in lines) if ": " in head
    )
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        tid, _, name = frames[0].partition(": ")
        thread = thread_group(name or names.get(tid, tid))
        functions = [frame_key(f) for f in frames[1:]] or ["(no Python frame)"]
        importing = any("<frozen importlib" in f for f in functions)
        profile.samples += count
        profile.by_thread[thread] += count
        profile.self_[IMPORTING if importing else functions[-1]][thread] += count
        seen = {f for f in functions if not _WRAPPERS.match(f)}
        if importing:
            seen.add(IMPORTING)
        for function in seen:
            profile.total[function][thread] += count
    return profile


def top(table: Mapping[str, Counter[str]], n: int) -> list[tuple[str, int, Counter[str]]]:
    rows = [(name, sum(threads.values()), threads) for name, threads in table.items()]
    return sorted(rows, key=lambda row: -row[1])[:n]


def format_threads(threads: Counter[str], total: int) -> str:
    return ", ".join(f"{name} {n / total:.0%}" for name, n in threads.most_common(3))


def profile_report(profile: Profile, n: int) -> dict[str, object]:
    """The top `n` functions by self and total samples, in per cent of all samples of all
    threads, with the threads they were seen on."""

    def rows(table: Mapping[str, Counter[str]]) -> list[dict[str, object]]:
        return [
            {
                "function": name,
                "percent": round(100 * count / profile.samples, 1),
                "threads": {t: c for t, c in threads.most_common()},
            }
            for name, count, threads in top(table, n)
        ]

    return {
        "samples": profile.samples,
        "threads": dict(profile.by_thread.most_common()),
        "self": rows(profile.self_),
        "total": rows(profile.total),
    }


def print_profile(title: str, profile: Profile, n: int) -> None:
    if not profile.samples:
        print(f"{title}: no samples")
        return
    threads = ", ".join(
        f"{name} {count / profile.samples:.0%}" for name, count in profile.by_thread.most_common()
    )
    print(f"{title}: {profile.samples} samples; by thread: {threads}")
    for label, table in (("self", profile.self_), ("total", profile.total)):
        print(f"  top {n} by {label} samples (% of all samples; on which threads):")
        for name, count, on in top(table, n):
            share = format_threads(on, count)
            print(f"    {100 * count / profile.samples:5.1f}%  {name}   [{share}]")


if __name__ == "__main__":
    if sys.argv[1:2] == ["blast"]:
        _blast_main(sys.argv[2:])
    elif sys.argv[1:2] == ["measure"]:
        _measure_main(sys.argv[2:])
    else:
        raise SystemExit("usage: python benchmarks/support.py blast|measure ... (see --help)")
