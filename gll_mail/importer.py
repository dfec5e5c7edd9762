"""Import of subscribers from a CSV file or an .xlsx workbook, validated row by row.

The file is read by :mod:`gll_mail.spreadsheets`, whole or refused whole, so a file is never
half-imported because half of it did not decode. Every rejected row is reported with its line
number and reason and costs only itself: rows are written in one transaction per batch, and a batch
the database refuses is written again row by row, each in its own SAVEPOINT. Addresses on the
suppression list are never re-added, and existing members who unsubscribed or bounced keep that
status. A dry run does all of it in a transaction that is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gll_mail.addresses import email_hash
from gll_mail.events import emit_webhooks
from gll_mail.languages import (
    DEFAULT_LANGUAGE,
)
from gll_mail.models import (
    Event,
    EventType,
    Pod,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
    new_public_id,
    utcnow,
)
from gll_mail.spreadsheets import (
    PROFILE_FIELDS,
    ImportFailed,
    ImportReport,
    Row,
    RowProblem,
    read_rows,
)

S, SUB, POD_M, EVT, SUPP = (m.__table__ for m in (Subscriber, Subscription, PodMembership, Event, Suppression))


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _resolve(engine: Engine, model, slugs: Iterable[str], what: str) -> list[int]:
    slugs = list(dict.fromkeys(slugs))
    if not slugs:
        return []
    with engine.connect() as conn:
        found = dict(conn.execute(select(model.slug, model.id).where(model.slug.in_(slugs))).all())
    missing = [s for s in slugs if s not in found]
    if missing:
        raise ImportFailed(f"unknown {what}: {', '.join(missing)} (create it first)")
    return [found[s] for s in slugs]


def import_csv(
    engine: Engine,
    path: Path | str,
    *,
    topics: Iterable[str] = (),
    pods: Iterable[str] = (),
    registered: bool = False,
    batch_size: int = 2000,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    mapping: dict[str, str | None] | None = None,
) -> ImportReport:
    """Import ``path`` (CSV or .xlsx) into the database behind ``engine`` and report what happened
    to each row. ``dry_run``: the same work and report, in a transaction that is rolled back.
    ``mapping``: header → field chosen by a person (see :func:`gll_mail.spreadsheets.read_rows`)."""
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    rows = read_rows(path, report, mapping)
    return import_rows(
        engine,
        rows,
        report,
        topics=topics,
        pods=pods,
        registered=registered,
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
        source_name=path.name,
    )


def import_rows(
    engine: Engine,
    rows: Iterable[Row],
    report: ImportReport | None = None,
    *,
    topics: Iterable[str] = (),
    pods: Iterable[str] = (),
    registered: bool = False,
    batch_size: int = 2000,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    source_name: str = "",
) -> ImportReport:
    """Import rows already read and checked (a file's, or a batch sent to the API) the same way."""
    topic_ids = _resolve(engine, Topic, topics, "topic")
    pod_ids = _resolve(engine, Pod, pods, "learning pod")
    report = report or ImportReport(dry_run=dry_run)

    def write(conn, batch: list[Row]):
        return _write_batch(conn, batch, topic_ids, pod_ids, registered, source_name)

    with engine.connect() as conn:
        for batch in _batches(rows, batch_size):
            transaction = conn.begin()
            try:
                counts, problems = write(conn, batch)
            except SQLAlchemyError:
                transaction.rollback()
                counts, problems = _write_row_by_row(conn, batch, write, dry_run)
            else:
                (transaction.rollback if dry_run else transaction.commit)()
            report.imported += counts[0]
            report.updated += counts[1]
            report.unchanged += counts[2]
            report.problems.extend(problems)
            if progress:
                progress(len(batch))
    report.problems.sort(key=lambda p: p.line)
    return report


def _write_row_by_row(conn, batch: list[Row], write, dry_run: bool):
    """The batch again, each row in its own SAVEPOINT: a row the database refuses costs only itself."""
    totals, problems = [0, 0, 0], []
    with conn.begin() as transaction:
        for row in batch:
            try:
                with conn.begin_nested():
                    counts, row_problems = write(conn, [row])
            except SQLAlchemyError as exc:
                problems.append(
                    RowProblem(
                        row.line, row.email, f"not written, the database refused it: {type(exc).__name__}", row.cells
                    )
                )
                continue
            totals = [a + b for a, b in zip(totals, counts, strict=False)]
            problems.extend(row_problems)
        if dry_run:
            transaction.rollback()
    return tuple(totals), problems


def _write_batch(
    conn, batch, topic_ids, pod_ids, registered, source_name
) -> tuple[tuple[int, int, int], list[RowProblem]]:
    now = utcnow()
    emails = [r.email for r in batch]
    existing = {
        row.email: row
        for row in conn.execute(
            select(S.c.id, S.c.public_id, S.c.email, S.c.registered_at, *(S.c[f] for f in PROFILE_FIELDS)).where(
                S.c.email.in_(emails)
            )
        )
    }
    hashes = {email_hash(e): e for e in emails if e not in existing}
    suppressed = (
        {
            hashes[h]
            for h in conn.execute(select(SUPP.c.email_hash).where(SUPP.c.email_hash.in_(list(hashes)))).scalars()
        }
        if hashes
        else set()
    )

    new_rows, changes, unchanged, problems = [], [], 0, []
    updated: list[tuple[dict, int]] = []  # the subscriber.updated webhooks
    for row in batch:
        if row.email in suppressed:
            problems.append(
                RowProblem(row.line, row.email, "on the suppression list (unsubscribed or bounced)", row.cells)
            )
            continue
        old = existing.get(row.email)
        if old is None:
            new_rows.append(
                {
                    "public_id": new_public_id(),
                    "email": row.email,
                    "status": SubscriberStatus.ACTIVE.value,
                    "paused": False,
                    "registered_at": now if registered else None,
                    "consent_source": "import",
                    "consent_at": now,
                    "consent_ip": None,
                    "created_at": now,
                    "updated_at": now,
                    "attributes": {},
                    **{f: row.values.get(f) or (DEFAULT_LANGUAGE if f == "language" else "") for f in PROFILE_FIELDS},
                }
            )
            continue
        merged = {f: row.values.get(f) or getattr(old, f) for f in PROFILE_FIELDS}
        reg = old.registered_at or (now if registered else None)
        if merged != {f: getattr(old, f) for f in PROFILE_FIELDS} or reg != old.registered_at:
            changes.append({"b_id": old.id, **merged, "registered_at": reg, "updated_at": now})
            changed = [f for f in PROFILE_FIELDS if merged[f] != getattr(old, f)] + (
                ["registered"] if reg != old.registered_at else []
            )
            updated.append(({"subscriber": {"id": old.public_id, "email": old.email}, "changes": changed}, old.id))
        else:
            unchanged += 1

    if new_rows:
        conn.execute(insert(S), new_rows)
    if changes:
        conn.execute(update(S).where(S.c.id == bindparam("b_id")), changes)
    ids = dict(conn.execute(select(S.c.email, S.c.id).where(S.c.email.in_(emails))).all())
    new_ids = [ids[r["email"]] for r in new_rows]
    if new_ids:
        conn.execute(
            insert(EVT),
            [
                {
                    "type": EventType.IMPORTED.value,
                    "created_at": now,
                    "source": "import",
                    "subscriber_id": sid,
                    "is_bot": False,
                    "data": {"file": source_name},
                }
                for sid in new_ids
            ],
        )
        emit_webhooks(
            conn,
            "subscriber.created",
            [({"subscriber": {"id": r["public_id"], "email": r["email"]}}, ids[r["email"]]) for r in new_rows],
            at=now,
        )
    if updated:
        emit_webhooks(conn, "subscriber.updated", updated, at=now)
    member_ids = [ids[e] for e in emails if e not in suppressed]
    _link(conn, SUB, "topic_id", member_ids, topic_ids, {"created_at": now}, extra_where=None)
    joined = _link(
        conn,
        POD_M,
        "pod_id",
        member_ids,
        pod_ids,
        {"joined_at": now, "left_at": None},
        extra_where=POD_M.c.left_at.is_(None),
    )
    if joined:
        people = {ids[r["email"]]: (r["public_id"], r["email"]) for r in new_rows}
        people.update({old.id: (old.public_id, old.email) for old in existing.values()})
        slugs = dict(
            conn.execute(select(Pod.__table__.c.id, Pod.__table__.c.slug).where(Pod.__table__.c.id.in_(pod_ids))).all()
        )
        emit_webhooks(
            conn,
            "pod.joined",
            [
                ({"subscriber": {"id": people[s][0], "email": people[s][1]}, "pod": {"slug": slugs[p]}}, s)
                for s, p in joined
            ],
            at=now,
        )
    return (len(new_rows), len(changes), unchanged), problems


def _link(conn, table, target_col, subscriber_ids, target_ids, values, extra_where) -> list[tuple[int, int]]:
    """Insert the missing (subscriber, target) pairs of a link table; returns them."""
    if not subscriber_ids or not target_ids:
        return []
    query = select(table.c.subscriber_id, table.c[target_col]).where(
        table.c.subscriber_id.in_(subscriber_ids), table.c[target_col].in_(target_ids)
    )
    if extra_where is not None:
        query = query.where(extra_where)
    have = set(conn.execute(query).all())
    rows = [
        {"subscriber_id": s, target_col: t, **values} for s in subscriber_ids for t in target_ids if (s, t) not in have
    ]
    if rows:
        conn.execute(insert(table), rows)
    return [(row["subscriber_id"], row[target_col]) for row in rows]
