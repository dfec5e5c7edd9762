"""Benchmark: the team's member search and member view at N members (default 100,000), on SQLite
and on PostgreSQL (a scratch database on --postgres, skipped when it cannot be reached).

Each query mix (free text, address prefix, country, organization, pod, topic, status + language,
a deep page by cursor) and the member view of random members run ``--runs`` times; the figure is
the 95th percentile of the server time, against the 200 ms target (ratio < 1 is within it).
Last line: JSON {members, target_ms, sqlite: {...}, postgresql: {...}}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from gll_mail.catalog import create_pod, create_topic
from gll_mail.db import make_engine, migrate, session_scope
from gll_mail.members.directory import member_view, search_members
from gll_mail.models import Campaign, Delivery, Event, PodMembership, Subscriber, Subscription, new_public_id, utcnow
from gll_mail.team.audit import COMMAND_LINE

TARGET_MS = 200.0
COUNTRIES = ["Ghana", "France", "Jordan", "China", "Peru", "Russia", "Kenya", "India", "Chad", "Spain"]
ORGS = ["Ministry of Health", "District Hospital", "WHO Country Office", "University Hospital", "NGO"]
LANGS = ["en", "fr", "es", "ar", "ru", "zh"]
STATUSES = ["active"] * 17 + ["unsubscribed", "bounced", "pending"]


def seed(engine, members: int) -> None:
    with session_scope(engine) as session:
        for slug in ("ipc", "wash", "nqps", "compassion", "mch"):
            create_pod(session, slug=slug, name=slug.upper())
        for slug in ("announcements", "webinars"):
            create_topic(session, slug=slug, name=slug)
        session.add(Campaign(slug="bench", subject="Bench", status="sent"))
    now, rng = utcnow(), random.Random(7)
    with engine.begin() as conn:
        pods = conn.execute(text("SELECT id FROM pod ORDER BY id")).scalars().all()
        topics = conn.execute(text("SELECT id FROM topic ORDER BY id")).scalars().all()
        campaign = conn.execute(text("SELECT id FROM campaign")).scalar()
        for start in range(0, members, 10_000):
            rows = [
                {
                    "public_id": new_public_id(),
                    "email": f"member.{i}@example-{i % 997}.org",
                    "name": f"Member {i} {rng.choice(['Haddad', 'Zhang', 'Petrova', 'Ruiz', 'Mensah'])}",
                    "language": LANGS[i % 6],
                    "country": COUNTRIES[i % 10],
                    "organization": ORGS[i % 5],
                    "role": "Nurse",
                    "status": STATUSES[i % 20],
                    "paused": False,
                    "consent_source": "import",
                    "created_at": now,
                    "updated_at": now,
                    "attributes": {},
                }
                for i in range(start, min(start + 10_000, members))
            ]
            conn.execute(insert(Subscriber.__table__), rows)
        ids = conn.execute(select(Subscriber.id).order_by(Subscriber.id)).scalars().all()
        for chunk in range(0, len(ids), 10_000):
            part = ids[chunk : chunk + 10_000]
            conn.execute(
                insert(Subscription.__table__),
                [{"subscriber_id": s, "topic_id": topics[s % 2], "created_at": now} for s in part],
            )
            in_pods = [{"subscriber_id": s, "pod_id": pods[s % 5], "joined_at": now} for s in part if s % 3 == 0]
            if in_pods:
                conn.execute(insert(PodMembership.__table__), in_pods)
            conn.execute(
                insert(Delivery.__table__),
                [
                    {"campaign_id": campaign, "subscriber_id": s, "status": "sent", "language": "en", "attempts": 1}
                    | {"possible_duplicate": False, "last_error": "", "created_at": now}
                    for s in part
                ],
            )
            conn.execute(
                insert(Event.__table__),
                [
                    {"type": t, "created_at": now, "source": "bench", "subscriber_id": s, "campaign_id": campaign}
                    | {"is_bot": False, "data": {}}
                    for s in part
                    for t in ("imported", "sent", "click")
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


QUERIES = {
    "text": {"q": "haddad"},
    "text_rare": {"q": "member 99999 "},
    "email_prefix": {"q": "member.4242@"},
    "country": {"country": "Jordan"},
    "organization": {"organization": "WHO Country Office"},
    "pod": {"pod": "ipc"},
    "topic": {"topic": "webinars"},
    "status_language": {"status": "bounced", "language": "ar"},
    "pod_country_status": {"pod": "wash", "country": "Peru", "status": "active"},
}


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def measure(engine, runs: int) -> dict:
    figures: dict[str, float] = {}
    with session_scope(engine) as session:
        last = session.exec(select(Subscriber.id).order_by(Subscriber.id.desc())).first()[0]
        for name, filters in QUERIES.items():
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                search_members(session, COMMAND_LINE, limit=50, **filters)
                samples.append(time.perf_counter() - start)
            figures[f"search_{name}_p95_ms"] = round(p95(samples), 2)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            search_members(session, COMMAND_LINE, country="Ghana", limit=50, cursor=last // 2)
            samples.append(time.perf_counter() - start)
        figures["search_deep_page_p95_ms"] = round(p95(samples), 2)
        rng, samples = random.Random(3), []
        for _ in range(runs):
            start = time.perf_counter()
            member_view(session, COMMAND_LINE, rng.randint(1, last))
            samples.append(time.perf_counter() - start)
        figures["member_view_p95_ms"] = round(p95(samples), 2)
    worst = max(v for k, v in figures.items() if k.startswith("search_"))
    figures["search_worst_p95_ms"] = worst
    figures["search_ratio_to_target"] = round(worst / TARGET_MS, 3)
    figures["view_ratio_to_target"] = round(figures["member_view_p95_ms"] / TARGET_MS, 3)
    return figures


def run(url: str, members: int, runs: int) -> dict:
    engine = make_engine(url)
    try:
        migrate(engine)
        start = time.perf_counter()
        seed(engine, members)
        seeded = time.perf_counter() - start
        return {"seed_seconds": round(seeded, 1), **measure(engine, runs)}
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    result: dict = {"members": args.members, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.members, args.runs)
        print(f"sqlite: {result['sqlite']}", file=sys.stderr, flush=True)
    admin = make_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"gll_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the SQLite figures stand alone
        result["postgresql"] = {"skipped": f"{type(exc).__name__}: PostgreSQL not reachable"}
    else:
        try:
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            result["postgresql"] = run(url, args.members, args.runs)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
