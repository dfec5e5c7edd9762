"""Import of subscribers from a CSV file or an .xlsx workbook, validated row by row.

The file is read whole or refused whole: its encoding (UTF-8 with or without BOM, UTF-16 with BOM,
Windows-1252) and separator (``,`` ``;`` or tab) are found first and reported, so a file is never
half-imported because half of it did not decode. Every rejected row is reported with its line
number and reason and costs only itself: rows are written in one transaction per batch, and a batch
the database refuses is written again row by row, each in its own SAVEPOINT. Addresses on the
suppression list are never re-added, and existing members who unsubscribed or bounced keep that
status. A dry run does all of it in a transaction that is rolled back.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gll_mail.addresses import InvalidAddress, clean_text, email_hash, normalize_email
from gll_mail.errors import GllMailError
from gll_mail.languages import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    UnknownLanguage,
    normalize_language,
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

PROFILE_FIELDS = ("name", "language", "country", "organization", "role")
# Column names as people write them, in the six languages (and German, for Excel set-ups that write
# ';'). Matched case-, accent-, space- and punctuation-insensitively: "E-Mail", "Adresse e-mail".
HEADER_NAMES = {
    "email": ("email", "email address", "mail", "courriel", "adresse email", "adresse électronique", "mél",
              "correo electrónico", "correo", "البريد الإلكتروني", "البريد", "电子邮件", "电子邮箱", "邮箱",
              "邮件地址", "электронная почта", "почта", "адрес электронной почты", "эл почта", "email adresse"),
    "name": ("name", "full name", "nom", "nom complet", "nombre", "nombre completo", "الاسم", "الاسم الكامل",
             "姓名", "名字", "имя", "фио", "полное имя", "vollständiger name"),
    "language": ("language", "lang", "preferred language", "langue", "idioma", "lengua", "اللغة", "语言", "язык",
                 "sprache"),
    "country": ("country", "pays", "país", "البلد", "الدولة", "国家", "страна", "land"),
    "organization": ("organization", "organisation", "organización", "institution", "institución", "المنظمة",
                     "المؤسسة", "الجهة", "组织", "机构", "单位", "организация", "учреждение"),
    "role": ("role", "discipline", "role/discipline", "fonction", "rol", "función", "cargo", "الدور", "الوظيفة",
             "角色", "职务", "роль", "должность", "rolle"),
}
MAX_LENGTH = {"name": 200, "country": 100, "organization": 200, "role": 200}
MAX_FILE_BYTES = 512 * 1024 * 1024
SEPARATORS = {",": "','", ";": "';'", "\t": "tab"}
_ADDRESS_LIKE = re.compile(r"[^\s@,;\"]+@[^\s@,;\"]+\.[^\s@,;\"]+")

S, SUB, POD_M, EVT, SUPP = (m.__table__ for m in (Subscriber, Subscription, PodMembership, Event, Suppression))


class ImportFailed(GllMailError, ValueError):
    """The file as a whole cannot be imported (missing, undecodable, no header, no email column ...)."""


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
    warnings: list[RowProblem] = field(default_factory=list)  # rows imported all the same
    source: str = ""  # how the file was read: "UTF-8 text, separated by ';'"
    dry_run: bool = False

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


def _header_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed.casefold() if ch.isalnum())


HEADER_ALIASES = {_header_key(alias): column for column, aliases in HEADER_NAMES.items() for alias in aliases}


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


# --- reading the file -------------------------------------------------------------------------

def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int] | None:
    """(line, byte) of the first byte that does not decode, or None when the whole file decodes."""
    decoder, lines = codecs.getincrementaldecoder(encoding)(), 1
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return lines + chunk[:exc.start].count(b"\n"), chunk[exc.start]
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines, 0
    return None


def detect_encoding(path: Path) -> tuple[str, str]:
    """(Python codec, name to show) of a text file, or ImportFailed naming the first bad line."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise ImportFailed(f"{path}: UTF-32 text is not supported; save it as CSV UTF-8")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 (with BOM)"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        bad = _first_bad_byte(path, "utf-16")
        if bad:
            raise ImportFailed(f"{path}: not valid UTF-16 text (line {bad[0]}); save it as CSV UTF-8")
        return "utf-16", "UTF-16"
    if head.count(b"\x00") * 4 > len(head):
        raise ImportFailed(f"{path}: looks like UTF-16 text without a byte-order mark; save it as CSV UTF-8")
    if _first_bad_byte(path, "utf-8") is None:
        return "utf-8", "UTF-8"
    bad = _first_bad_byte(path, "cp1252")
    if bad is None:
        return "cp1252", "Windows-1252 (Latin-1)"
    raise ImportFailed(
        f"{path}: neither UTF-8 nor Windows-1252 text (byte 0x{bad[1]:02x} on line {bad[0]}); "
        "nothing imported; save it as CSV UTF-8"
    )


def sniff_separator(header_line: str) -> str:
    """The most frequent of ``,`` ``;`` and tab outside quotes in the header line (``,`` if none)."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {sep: unquoted.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


class _Lines:
    """The file's physical lines, numbered, for csv.reader; lines can be handed back to be read again."""

    def __init__(self, fh) -> None:
        self.fh, self.again, self.taken, self.next_number = fh, deque(), [], 1

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.again:
            number, line = self.again.popleft()
        else:
            line = next(self.fh)
            number, self.next_number = self.next_number, self.next_number + 1
        self.taken.append((number, line))
        return line

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self.again.extendleft(reversed(lines))


def _swallowed_rows(record: list[str], separator: str, header_separators: int) -> bool:
    """True when a quoted field runs over a line break into what looks like another row (as many
    separators as the header) or an address."""
    for cell in record:
        parts = cell.splitlines()
        if len(parts) > 1 and any(
            _ADDRESS_LIKE.search(p) or (header_separators and p.count(separator) >= header_separators)
            for p in parts[1:]
        ):
            return True
    return False


def _csv_records(path: Path, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    encoding, encoding_name = detect_encoding(path)
    with open(path, newline="", encoding=encoding) as fh:
        lines = _Lines(fh)
        first = next(lines, None)
        if first is None:
            raise ImportFailed(f"{path}: the file is empty")
        separator = sniff_separator(first)
        header_separators = len(next(csv.reader([first], delimiter=separator), [""])) - 1
        report.source = f"{encoding_name} text, separated by {SEPARATORS[separator]}"
        lines.give_back(lines.taken)
        reader = csv.reader(lines, delimiter=separator)
        while True:
            lines.taken = []
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. an unclosed quote that ran past the field size limit
                report.problems.append(RowProblem(lines.taken[0][0] if lines.taken else 0, "", f"malformed CSV: {exc}"))
                lines.give_back(lines.taken[1:])
                continue
            first_line = lines.taken[0][0]
            if len(lines.taken) > 1 and _swallowed_rows(record, separator, header_separators):
                report.problems.append(RowProblem(first_line, "", (
                    f"a quote opened on this line is not closed (lines {first_line}–{lines.taken[-1][0]} "
                    "would be one field); fix the quote: the next lines are read on their own"
                )))
                lines.give_back(lines.taken[1:])
                continue
            yield first_line, record


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _xlsx_records(path: Path, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only needed for workbooks

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors all mean "not a workbook"
        raise ImportFailed(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        others = len(workbook.worksheets) - 1
        report.source = f'sheet "{sheet.title}" of the workbook' + (
            f" (its {others} other sheet{'s' if others > 1 else ''} not read)" if others else "")
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            record = [_cell_text(v) for v in row]
            while record and record[-1] == "":
                record.pop()
            yield number, record
    finally:
        workbook.close()


def _records(path: Path, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFailed(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; split it")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        return _xlsx_records(path, report)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFailed(f"{path}: an old Excel .xls workbook; save it as .xlsx or CSV UTF-8")
    return _csv_records(path, report)


def read_rows(path: Path, report: ImportReport) -> Iterator[_Row]:
    """Parse and validate each record; problems and warnings go into ``report``, good rows are yielded."""
    records = _records(path, report)
    header: list[str] | None = None
    for _line, record in records:
        if any(cell.strip() for cell in record):
            header = record
            break
    if header is None:
        raise ImportFailed(f"{path}: the file is empty")
    columns = [HEADER_ALIASES.get(_header_key(h)) for h in header]
    if "email" not in columns:
        found = ", ".join(clean_text(h) for h in header if clean_text(h)) or "nothing"
        raise ImportFailed(f"{path}: the first row must be a header with an 'email' column (found: {found})")
    seen: dict[str, int] = {}
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        row = _validate(record, columns, line, seen, report)
        if row is not None:
            yield row


def _validate(
    record: list[str], columns: list[str | None], line: int, seen: dict[str, int], report: ImportReport
) -> _Row | None:
    at = columns.index("email")
    raw_email = record[at].strip() if len(record) > at else ""
    shown = clean_text(raw_email)[:320]

    def reject(reason: str) -> None:
        report.problems.append(RowProblem(line, shown, reason))

    if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns):]):
        reject(f"{len(record)} fields but the header has {len(columns)}")
        return None
    values: dict[str, str] = {}
    for name, cell in zip(columns, record):
        if name and name != "email" and name not in values:
            values[name] = clean_text(cell)
    try:
        email = normalize_email(raw_email)
    except InvalidAddress as exc:
        reject(f"bad address: {exc}")
        return None
    if email in seen:
        reject(f"duplicate of line {seen[email]}")
        return None
    for name, limit in MAX_LENGTH.items():
        if len(values.get(name, "")) > limit:
            reject(f"{name} longer than {limit} characters")
            return None
    if values.get("language"):
        try:
            values["language"] = normalize_language(values["language"])
        except UnknownLanguage:
            report.warnings.append(RowProblem(line, email, (
                f"language {values['language']!r} is not one of {', '.join(LANGUAGES)}: "
                f"a new member gets {DEFAULT_LANGUAGE}, an existing one keeps theirs"
            )))
            values["language"] = ""
    seen[email] = line
    return _Row(line, email, values)


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
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``path`` (CSV or .xlsx) into the database behind ``engine`` and report what happened
    to each row. ``dry_run``: the same work and report, in a transaction that is rolled back."""
    path = Path(path)
    topic_ids = _resolve(engine, Topic, topics, "topic")
    pod_ids = _resolve(engine, Pod, pods, "learning pod")
    report = ImportReport(dry_run=dry_run)

    def write(conn, rows: list[_Row]):
        return _write_batch(conn, rows, topic_ids, pod_ids, registered, path.name)

    with engine.connect() as conn:
        for batch in _batches(read_rows(path, report), batch_size):
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


def _write_row_by_row(conn, batch: list[_Row], write, dry_run: bool):
    """The batch again, each row in its own SAVEPOINT: a row the database refuses costs only itself."""
    totals, problems = [0, 0, 0], []
    with conn.begin() as transaction:
        for row in batch:
            try:
                with conn.begin_nested():
                    counts, row_problems = write(conn, [row])
            except SQLAlchemyError as exc:
                problems.append(RowProblem(row.line, row.email, f"not written, the database refused it: "
                                                                f"{type(exc).__name__}"))
                continue
            totals = [a + b for a, b in zip(totals, counts)]
            problems.extend(row_problems)
        if dry_run:
            transaction.rollback()
    return tuple(totals), problems


def _write_batch(conn, batch, topic_ids, pod_ids, registered, source_name) -> tuple[tuple[int, int, int], list[RowProblem]]:
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

    new_rows, changes, unchanged, problems = [], [], 0, []
    for row in batch:
        if row.email in suppressed:
            problems.append(RowProblem(row.line, row.email, "on the suppression list (unsubscribed or bounced)"))
            continue
        old = existing.get(row.email)
        if old is None:
            new_rows.append({
                "public_id": new_public_id(), "email": row.email, "status": SubscriberStatus.ACTIVE.value,
                "paused": False, "registered_at": now if registered else None, "consent_source": "import",
                "consent_at": now, "consent_ip": None, "created_at": now, "updated_at": now, "attributes": {},
                **{f: row.values.get(f) or (DEFAULT_LANGUAGE if f == "language" else "") for f in PROFILE_FIELDS},
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
        conn.execute(update(S).where(S.c.id == bindparam("b_id")), changes)
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
    return (len(new_rows), len(changes), unchanged), problems


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
