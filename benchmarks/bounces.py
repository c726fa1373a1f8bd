"""Bounce classification speed: messages per second over every *.eml of a folder, against
reading the same files alone in the same run (medians over a few repeats).

    python benchmarks/bounces.py CORPUS [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from digest.bounces.classify import classify

TARGET = 1000.0  # messages per second


def read_all(paths: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of raw messages (*.eml)")
    parser.add_argument("--repeat", type=int, default=5, help="runs to take the median of")
    args = parser.parse_args()
    paths = sorted(args.corpus.glob("*.eml"))
    if not paths:
        raise SystemExit(f"no *.eml in {args.corpus}")
    read_times: list[float] = []
    classify_times: list[float] = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        messages = read_all(paths)
        read_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        messages = read_all(paths)
        for raw in messages:
            classify(raw)
        classify_times.append(time.perf_counter() - start)
    count = len(paths)
    size = sum(len(m) for m in messages)
    read_rate = count / statistics.median(read_times)
    rate = count / statistics.median(classify_times)
    print(f"corpus: {args.corpus} ({count} messages, {size / 1e6:.1f} MB), {args.repeat} runs")
    print(f"read only:         {read_rate:12.0f} msg/s")
    print(f"read + classify:   {rate:12.0f} msg/s  ({1000 / rate:.2f} ms per message)")
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(
        f"summary: {rate:.0f} msg/s classified, {verdict} the {TARGET:.0f} msg/s target "
        f"(reading alone: {read_rate:.0f} msg/s)"
    )


if __name__ == "__main__":
    main()
