"""Benchmark: bounce processing from a Maildir (store raw + classify + decide), msgs/s.

Baseline in the same run: flufl.bounce's scan_message alone on every message (no storage, no
decisions). Last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    args = ap.parse_args()
    from flufl.bounce import scan_message
    from test_bounces import CASES, as_delivered, seed

    from gll_mail.bounces import classify
    from gll_mail.bounces.mailboxes import scan_maildir
    from gll_mail.db import make_engine, migrate, session_scope
    from gll_mail.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="gll-bench-bounces-"))
    settings = Settings(env="test", database_url=f"sqlite:///{tmp / 'b.db'}", secret_keys=("bench-key-" + "x" * 32,))
    engine = make_engine(settings.database_url)
    migrate(engine)
    with session_scope(engine) as session:
        seed(session)
    # as the bounce mailbox gets them: Delivered-To our VERP address, so each decision is acted on
    raws = [as_delivered(settings, c) for c in CASES]
    box = mailbox.Maildir(tmp / "Maildir", create=True)
    for i in range(args.messages):
        box.add(raws[i % len(raws)].replace(b"\nDate:", f"\nX-Bench: {i}\nDate:".encode(), 1))
    t = time.perf_counter()
    for i in range(args.messages):
        scan_message(classify.parse(raws[i % len(raws)]))
    baseline = args.messages / (time.perf_counter() - t)
    t = time.perf_counter()
    report = scan_maildir(engine, settings, str(tmp / "Maildir"))
    rate = report.stored / (time.perf_counter() - t)
    print(f"processed {report.stored} messages, kinds {report.kinds}", file=sys.stderr)
    print(
        json.dumps(
            {
                "messages": report.stored,
                "msgs_per_s": round(rate, 1),
                "baseline_flufl_scan_msgs_per_s": round(baseline, 1),
                "failed": report.failed,
                "database": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
