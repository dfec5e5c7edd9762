"""Benchmark: `subscribers import` of N rows (default 100,000) into a fresh database.

Baseline in the same run: the same rows written by a bare sqlite3 ``executemany`` with no
validation, normalization or reporting (the ceiling), so the figure survives a noisy machine.
Last line: JSON with rows, seconds, rows_per_s, ceiling_rows_per_s, ratio, peak_rss_mb, database.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from gll_mail.catalog import create_pod, create_topic
from gll_mail.db import make_engine, migrate, session_scope
from gll_mail.importer import import_csv

LANGS = ["en", "fr", "es", "ar", "ru", "zh"]


def make_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name", "language", "country", "organization", "role"])
        for i in range(rows):
            writer.writerow(
                [f"Member.{i}@Example-{i % 97}.org", f"Member {i}", LANGS[i % 6], "Ghana", "District Hospital", "Nurse"]
            )


def ceiling(path: Path, db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE s (email TEXT UNIQUE, name TEXT, language TEXT, country TEXT, org TEXT, role TEXT)")
    start = time.perf_counter()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        conn.executemany("INSERT INTO s VALUES (?,?,?,?,?,?)", reader)
    conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", default="", help="SQLAlchemy URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "members.csv"
        make_csv(path, args.rows)
        url = args.database or f"sqlite:///{tmp / 'bench.db'}"
        engine = make_engine(url)
        migrate(engine)
        with session_scope(engine) as session:
            create_topic(session, slug="announcements", name="GLL announcements")
            create_pod(session, slug="ipc", name="IPC")
        start = time.perf_counter()
        report = import_csv(engine, path, topics=["announcements"], pods=["ipc"])
        seconds = time.perf_counter() - start
        assert report.imported == args.rows, report.problems[:3]
        base = ceiling(path, tmp / "ceiling.db")
        engine.dispose()
    result = {
        "rows": args.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(args.rows / seconds),
        "ceiling_rows_per_s": round(args.rows / base),
        "ratio": round((args.rows / seconds) / (args.rows / base), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "database": url.split(":")[0],
    }
    print(f"imported {args.rows} rows (with a topic and a pod each) in {seconds:.1f} s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
