"""Import 100,000 subscribers from CSV: time and peak memory, against a same-run baseline
of only reading and validating the file (no database).

    python benchmarks/import.py [--rows 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from digest.db.engine import Database
from subscribers.addresses import normalize_address
from subscribers.importer import import_csv


def write_roster(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        for n in range(rows):
            # A few bad and duplicate rows, as real exports have.
            email = "not-an-address" if n % 5000 == 17 else f"Person.{n % (rows - 3)}@Example.com"
            writer.writerow([email, f"Person {n}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="default: a temp SQLite file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="digest-import-"))
    roster = work / "people.csv"
    write_roster(roster, args.rows)

    started = time.perf_counter()
    with roster.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                normalize_address(row["email"])
            except Exception:  # noqa: S112 - counting only
                continue
    baseline = time.perf_counter() - started

    db = Database(args.database_url or f"sqlite:///{work / 'digest.sqlite3'}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    report = import_csv(db, roster, datetime.now(UTC), keys=["benchmark-key"])
    seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Memory on a run of its own: tracemalloc slows Python down, so that run is not timed.
    fresh = Database(f"sqlite:///{work / 'memory.sqlite3'}")
    tracemalloc.start()
    import_csv(fresh, roster, datetime.now(UTC), keys=["benchmark-key"])
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"baseline (read + validate only, no database): {baseline:.2f}s")
    print(
        f"import_csv: {seconds:.2f}s ({seconds / baseline:.2f}x the baseline); "
        f"{report.added} added, {report.duplicates} duplicates, {len(report.bad)} bad rows"
    )
    print(
        f"memory: peak {peak:.1f} MB allocated by Python during the import; process max RSS "
        f"{rss_before:.0f} MB before, {rss_after:.0f} MB after"
    )
    print(f"rows={args.rows} seconds={seconds:.2f} peak_mb={peak:.1f}")


if __name__ == "__main__":
    main()
