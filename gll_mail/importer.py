"""CSV import of subscribers: validated row by row, written in one transaction per batch.

Every rejected row is reported with its line number and reason; a batch that fails to write is
rolled back whole, so nothing half-written remains. Addresses on the suppression list are never
re-added, and existing members who unsubscribed or bounced keep that status.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gll_mail.addresses import InvalidAddress, email_hash, normalize_email
from gll_mail.errors import GllMailError
from gll_mail.languages import UnknownLanguage, normalize_language
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

PROFILE_FIELDS = ("name", "language", "country", "organization", "role")
HEADER_ALIASES = {
    "email": "email", "e-mail": "email", "email address": "email", "mail": "email",
    "name": "name", "full name": "name",
    "language": "language", "lang": "language", "preferred language": "language",
    "country": "country",
    "organization": "organization", "organisation": "organization",
    "role": "role", "discipline": "role", "role/discipline": "role",
}
MAX_LENGTH = {"name": 200, "country": 100, "organization": 200, "role": 200}
MAX_FILE_BYTES = 512 * 1024 * 1024

S, SUB, POD_M, EVT, SUPP = (m.__table__ for m in (Subscriber, Subscription, PodMembership, Event, Suppression))


class ImportFailed(GllMailError, ValueError):
    """The file as a whole cannot be imported (missing, no header, no email column ...)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    @property
    def accepted(self) -> int:
        return self.imported + self.updated + self.unchanged


@dataclass
class _Row:
    line: int
    email: str
    values: dict[str, str]


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def read_rows(path: Path, report: ImportReport) -> Iterator[_Row]:
    """Parse and validate each record; problems go into ``report``, good rows are yielded."""
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFailed(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; split it")
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed(f"{path}: the file is empty") from None
        except csv.Error as exc:
            raise ImportFailed(f"{path}: not a CSV file ({exc})") from None
        columns = [HEADER_ALIASES.get(h.strip().lower()) for h in header]
        if "email" not in columns:
            raise ImportFailed(
                f"{path}: line 1 must be a header with an 'email' column (found: {', '.join(header) or 'nothing'})"
            )
        seen: dict[str, int] = {}
        line = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                report.problems.append(RowProblem(line, "", f"malformed CSV: {exc}"))
                line = reader.line_num + 1
                continue
            row_line, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            row = _validate(record, columns, row_line, seen, report)
            if row is not None:
                yield row


def _validate(
    record: list[str], columns: list[str | None], line: int, seen: dict[str, int], report: ImportReport
) -> _Row | None:
    raw_email = record[columns.index("email")].strip() if len(record) > columns.index("email") else ""

    def reject(reason: str) -> None:
        report.problems.append(RowProblem(line, raw_email.encode("utf-8", "replace").decode(), reason))

    if any(_has_undecodable(cell) for cell in record):
        reject("not valid UTF-8 text (save the file with UTF-8 encoding)")
        return None
    if len(record) > len(columns):
        reject(f"{len(record)} fields but the header has {len(columns)}")
        return None
    values: dict[str, str] = {}
    for name, cell in zip(columns, record):
        if name and name != "email":
            values[name] = " ".join(cell.split())
    try:
        email = normalize_email(raw_email)
    except InvalidAddress as exc:
        reject(f"bad address: {exc}")
        return None
    if email in seen:
        reject(f"duplicate of line {seen[email]}")
        return None
    try:
        if values.get("language"):
            values["language"] = normalize_language(values["language"])
    except UnknownLanguage as exc:
        reject(str(exc))
        return None
    for name, limit in MAX_LENGTH.items():
        if len(values.get(name, "")) > limit:
            reject(f"{name} longer than {limit} characters")
            return None
    seen[email] = line
    return _Row(line, email, values)


def _has_undecodable(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
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
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``path`` into the database behind ``engine`` and report what happened to each row."""
    path = Path(path)
    topic_ids = _resolve(engine, Topic, topics, "topic")
    pod_ids = _resolve(engine, Pod, pods, "learning pod")
    report = ImportReport()
    for batch in _batches(read_rows(path, report), batch_size):
        try:
            with engine.begin() as conn:
                counts = _write_batch(conn, batch, topic_ids, pod_ids, registered, path.name, report)
        except SQLAlchemyError as exc:
            reason = f"not written, the batch was rolled back: {type(exc.orig or exc).__name__}"
            report.problems.extend(RowProblem(r.line, r.email, reason) for r in batch)
        else:
            report.imported += counts[0]
            report.updated += counts[1]
            report.unchanged += counts[2]
        if progress:
            progress(len(batch))
    report.problems.sort(key=lambda p: p.line)
    return report


def _write_batch(conn, batch, topic_ids, pod_ids, registered, source_name, report) -> tuple[int, int, int]:
    now = utcnow()
    emails = [r.email for r in batch]
    existing = {
        row.email: row
        for row in conn.execute(
            select(S.c.id, S.c.email, S.c.registered_at, *(S.c[f] for f in PROFILE_FIELDS)).where(S.c.email.in_(emails))
        )
    }
    hashes = {email_hash(e): e for e in emails if e not in existing}
    suppressed = {
        hashes[h] for h in conn.execute(select(SUPP.c.email_hash).where(SUPP.c.email_hash.in_(list(hashes)))).scalars()
    } if hashes else set()

    new_rows, changes, unchanged = [], [], 0
    for row in batch:
        if row.email in suppressed:
            report.problems.append(RowProblem(row.line, row.email, "on the suppression list (unsubscribed or bounced)"))
            continue
        old = existing.get(row.email)
        if old is None:
            new_rows.append({
                "public_id": new_public_id(), "email": row.email, "status": SubscriberStatus.ACTIVE.value,
                "paused": False, "registered_at": now if registered else None, "consent_source": "import",
                "consent_at": now, "consent_ip": None, "created_at": now, "updated_at": now, "attributes": {},
                **{f: row.values.get(f) or ("en" if f == "language" else "") for f in PROFILE_FIELDS},
            })
            continue
        merged = {f: row.values.get(f) or getattr(old, f) for f in PROFILE_FIELDS}
        reg = old.registered_at or (now if registered else None)
        if merged != {f: getattr(old, f) for f in PROFILE_FIELDS} or reg != old.registered_at:
            changes.append({"b_id": old.id, **merged, "registered_at": reg, "updated_at": now})
        else:
            unchanged += 1

    if new_rows:
        conn.execute(insert(S), new_rows)
    if changes:
        conn.execute(
            update(S).where(S.c.id == bindparam("b_id")),
            changes,
        )
    ids = dict(conn.execute(select(S.c.email, S.c.id).where(S.c.email.in_(emails))).all())
    new_ids = [ids[r["email"]] for r in new_rows]
    if new_ids:
        conn.execute(insert(EVT), [
            {"type": EventType.IMPORTED.value, "created_at": now, "source": "import", "subscriber_id": sid,
             "is_bot": False, "data": {"file": source_name}}
            for sid in new_ids
        ])
    member_ids = [ids[e] for e in emails if e not in suppressed]
    _link(conn, SUB, "topic_id", member_ids, topic_ids, {"created_at": now}, extra_where=None)
    _link(conn, POD_M, "pod_id", member_ids, pod_ids, {"joined_at": now, "left_at": None},
          extra_where=POD_M.c.left_at.is_(None))
    return len(new_rows), len(changes), unchanged


def _link(conn, table, target_col, subscriber_ids, target_ids, values, extra_where) -> None:
    """Insert the missing (subscriber, target) pairs of a link table."""
    if not subscriber_ids or not target_ids:
        return
    query = select(table.c.subscriber_id, table.c[target_col]).where(
        table.c.subscriber_id.in_(subscriber_ids), table.c[target_col].in_(target_ids)
    )
    if extra_where is not None:
        query = query.where(extra_where)
    have = set(conn.execute(query).all())
    rows = [
        {"subscriber_id": s, target_col: t, **values}
        for s in subscriber_ids for t in target_ids if (s, t) not in have
    ]
    if rows:
        conn.execute(insert(table), rows)
