"""Start-up time of the `digest` command, against `python -c pass` measured in the same run.

    python benchmarks/startup.py [--repeat 21] [--before PATH] [--tree PATH]

Each round runs every command once, in turn, so a noisy neighbour slows all of them alike;
the figures are medians over the rounds. `digest status` runs in an empty SQLite workspace
that a first, unmeasured run created (the schema is current, so no migration runs).
`--before PATH` also times the same commands with the package imported from another
checkout (e.g. a `git worktree` of an older commit), for a before/after table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

COMMANDS: dict[str, Sequence[str]] = {
    "digest --help": ("-m", "digest", "--help"),
    "digest --version": ("-m", "digest", "--version"),
    "digest status": ("-m", "digest", "status"),
}
BASELINE = "python -c pass"


def run_once(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def environment(tree: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree.resolve())
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--tree", type=Path, help="time this checkout, not the installed one")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"": args.tree}
    if args.before:
        trees = {"before: ": args.before, "": args.tree}
    with tempfile.TemporaryDirectory(prefix="digest-startup-") as folder:
        workspace = Path(folder)
        for tree in trees.values():
            run_once(COMMANDS["digest status"], workspace, environment(tree))  # makes the db
        runs: dict[str, list[float]] = {BASELINE: []}
        for _ in range(args.repeat):
            runs[BASELINE].append(run_once(("-c", "pass"), workspace, environment(None)))
            for label, tree in trees.items():
                for name, command in COMMANDS.items():
                    runs.setdefault(label + name, []).append(
                        run_once(command, workspace, environment(tree))
                    )
    base = statistics.median(runs[BASELINE])
    print(f"rounds={args.repeat} python={sys.version.split()[0]} cpus={os.cpu_count()}")
    print(f"{'command':<28} {'median_s':>9} {'minus_baseline_s':>17} {'ratio':>7}")
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:<28} {median:9.3f} {median - base:17.3f} {median / base:7.1f}")


if __name__ == "__main__":
    main()
