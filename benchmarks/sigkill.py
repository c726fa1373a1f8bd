"""SIGKILL a real `digest issue send` at several moments of a large send, rerun it, and print
what the subscribers got: nobody skipped, and duplicates only of messages that were on the
wire, at most `smtp.connections`, each with its original Message-ID.

    python benchmarks/sigkill.py [--subscribers 5000] [--connections 4] [--moments 1,1000,...]

The relay is an in-process aiosmtpd server that records every message it accepts (with a
small delay, so that a kill lands mid-send). Last line:
`kills=N skipped=N duplicates_max=N connections=N ok=true|false`.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from send import build_workspace, child_env, digest_command
from support import free_port


class Recorder:
    """Keeps (recipient, Message-ID) of every message accepted."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.accepted: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        session.host_name = hostname
        responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
        message_id = email.message_from_bytes(head + b"\r\n\r\n")["Message-ID"] or ""
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.accepted.append((rcpt, message_id))
        return "250 2.0.0 OK"


def one_kill(ws: Any, name: str, moment: int, connections: int, delay: float) -> dict[str, object]:
    recorder = Recorder(delay)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        database = ws.fresh_database(name)
        settings = ws.settings(name, database, port, **{"smtp.wait_seconds": 5})
        child = subprocess.Popen(
            digest_command(settings),
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 600
        while len(recorder.accepted) < moment:
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name}: the send ended before {moment} messages")
            time.sleep(0.001)
        child.kill()
        child.wait()
        at_kill = len(recorder.accepted)
        recorder.delay = 0.0
        rerun = subprocess.run(
            digest_command(settings),
            env=child_env(),
            capture_output=True,
            timeout=1200,
            check=False,
        )
        if rerun.returncode != 0:
            raise SystemExit(f"{name}: rerun exited {rerun.returncode}: {rerun.stderr.decode()}")
    finally:
        controller.stop()
    resumed = re.search(rb"resumed: (\d+) delivery", rerun.stderr)
    counts = Counter(rcpt for rcpt, _ in recorder.accepted)
    ids: dict[str, set[str]] = {}
    for rcpt, message_id in recorder.accepted:
        ids.setdefault(rcpt, set()).add(message_id)
    duplicates = sum(n - 1 for n in counts.values())
    return {
        "moment": moment,
        "accepted_at_kill": at_kill,
        "on_the_wire": int(resumed.group(1)) if resumed else 0,
        "duplicates": duplicates,
        "skipped": ws.subscribers - len(counts),
        "same_message_id": all(len(v) == 1 for v in ids.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--moments", default="1,1000,2500,4000,4990")
    parser.add_argument("--delay", type=float, default=0.002, help="seconds per DATA")
    args = parser.parse_args()
    moments = [int(m) for m in args.moments.split(",")]
    with tempfile.TemporaryDirectory(prefix="digest-sigkill-") as folder:
        ws = build_workspace(Path(folder) / "ws", args.subscribers, args.connections)
        rows = [
            one_kill(ws, f"kill{n}", moment, args.connections, args.delay)
            for n, moment in enumerate(moments)
        ]
    print(
        "| killed after | accepted at kill | on the wire (resume line) | duplicates | skipped "
        "| same Message-ID |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['moment']} | {row['accepted_at_kill']} | {row['on_the_wire']} | "
            f"{row['duplicates']} | {row['skipped']} | {row['same_message_id']} |"
        )
    worst = max(int(str(row["duplicates"])) for row in rows)
    skipped = sum(int(str(row["skipped"])) for row in rows)
    ok = skipped == 0 and worst <= args.connections and all(r["same_message_id"] for r in rows)
    print(
        f"kills={len(rows)} skipped={skipped} duplicates_max={worst} "
        f"connections={args.connections} ok={str(ok).lower()}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
