"""Reading a member list from a CSV file or an .xlsx workbook, before anything is written.

The file is read whole or refused whole: its encoding (UTF-8 with or without BOM, UTF-16 with BOM,
Windows-1252) and separator (``,`` ``;`` or tab) are found first and reported, so a file is never
half-read because half of it did not decode. Column names are matched in the six languages; a
quote that opens and never closes is reported at its line, and the lines it swallowed are read as
rows of their own. :mod:`gll_mail.importer` validates and writes the rows.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gll_mail.addresses import InvalidAddress, clean_text, normalize_email
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES, UnknownLanguage, normalize_language

PROFILE_FIELDS = ("name", "language", "country", "organization", "role")
# Column names as people write them, in the six languages (and German, for Excel set-ups that write
# ';'). Matched case-, accent-, space- and punctuation-insensitively: "E-Mail", "Adresse e-mail".
HEADER_NAMES = {
    "email": (
        "email",
        "email address",
        "mail",
        "courriel",
        "adresse email",
        "adresse électronique",
        "mél",
        "correo electrónico",
        "correo",
        "البريد الإلكتروني",
        "البريد",
        "电子邮件",
        "电子邮箱",
        "邮箱",
        "邮件地址",
        "электронная почта",
        "почта",
        "адрес электронной почты",
        "эл почта",
        "email adresse",
    ),
    "name": (
        "name",
        "full name",
        "nom",
        "nom complet",
        "nombre",
        "nombre completo",
        "الاسم",
        "الاسم الكامل",
        "姓名",
        "名字",
        "имя",
        "фио",
        "полное имя",
        "vollständiger name",
    ),
    "language": (
        "language",
        "lang",
        "preferred language",
        "langue",
        "idioma",
        "lengua",
        "اللغة",
        "语言",
        "язык",
        "sprache",
    ),
    "country": ("country", "pays", "país", "البلد", "الدولة", "国家", "страна", "land"),
    "organization": (
        "organization",
        "organisation",
        "organización",
        "institution",
        "institución",
        "المنظمة",
        "المؤسسة",
        "الجهة",
        "组织",
        "机构",
        "单位",
        "организация",
        "учреждение",
    ),
    "role": (
        "role",
        "discipline",
        "role/discipline",
        "fonction",
        "rol",
        "función",
        "cargo",
        "الدور",
        "الوظيفة",
        "角色",
        "职务",
        "роль",
        "должность",
        "rolle",
    ),
}
MAX_LENGTH = {"name": 200, "country": 100, "organization": 200, "role": 200}
MAX_FILE_BYTES = 512 * 1024 * 1024
SEPARATORS = {",": "','", ";": "';'", "\t": "tab"}
_ADDRESS_LIKE = re.compile(r"[^\s@,;\"]+@[^\s@,;\"]+\.[^\s@,;\"]+")


class ImportFailed(GllMailError, ValueError):
    """The file as a whole cannot be imported (missing, undecodable, no header, no email column ...)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    email: str
    reason: str
    cells: tuple[str, ...] = ()  # the row as it was in the file, for the rejected rows' CSV


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)  # rows imported all the same
    source: str = ""  # how the file was read: "UTF-8 text, separated by ';'"
    dry_run: bool = False
    header: list[str] = field(default_factory=list)  # the file's header row, as it was

    @property
    def skipped(self) -> int:
        return len(self.problems)

    @property
    def accepted(self) -> int:
        return self.imported + self.updated + self.unchanged


@dataclass
class Row:
    line: int
    email: str
    values: dict[str, str]
    cells: tuple[str, ...] = ()  # as in the file


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
                return lines + chunk[: exc.start].count(b"\n"), chunk[exc.start]
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
                line, raw = lines.taken[0] if lines.taken else (0, "")
                report.problems.append(RowProblem(line, "", f"malformed CSV: {exc}", (raw.rstrip("\r\n"),)))
                lines.give_back(lines.taken[1:])
                continue
            first_line = lines.taken[0][0]
            if len(lines.taken) > 1 and _swallowed_rows(record, separator, header_separators):
                report.problems.append(
                    RowProblem(
                        first_line,
                        "",
                        (
                            f"a quote opened on this line is not closed (lines {first_line}–{lines.taken[-1][0]} "
                            "would be one field); fix the quote: the next lines are read on their own"
                        ),
                        (lines.taken[0][1].rstrip("\r\n"),),
                    )
                )
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
    except Exception as exc:
        raise ImportFailed(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        others = len(workbook.worksheets) - 1
        report.source = f'sheet "{sheet.title}" of the workbook' + (
            f" (its {others} other sheet{'s' if others > 1 else ''} not read)" if others else ""
        )
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


def _validate(
    record: list[str], columns: list[str | None], line: int, seen: dict[str, int], report: ImportReport
) -> Row | None:
    at = columns.index("email")
    raw_email = record[at].strip() if len(record) > at else ""
    shown = clean_text(raw_email)[:320]

    def reject(reason: str) -> None:
        report.problems.append(RowProblem(line, shown, reason, tuple(record)))

    if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns) :]):
        reject(f"{len(record)} fields but the header has {len(columns)}")
        return None
    values: dict[str, str] = {}
    for name, cell in zip(columns, record, strict=False):
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
            report.warnings.append(
                RowProblem(
                    line,
                    email,
                    (
                        f"language {values['language']!r} is not one of {', '.join(LANGUAGES)}: "
                        f"a new member gets {DEFAULT_LANGUAGE}, an existing one keeps theirs"
                    ),
                )
            )
            values["language"] = ""
    seen[email] = line
    return Row(line, email, values, tuple(record))


def rows_from_records(records: Iterable[dict[str, Any]], report: ImportReport) -> Iterator[Row]:
    """Rows from records that are already fields (a batch sent to the API), checked like a file's
    rows; ``line`` is the record's position, from 1."""
    columns: list[str | None] = ["email", *PROFILE_FIELDS]
    seen: dict[str, int] = {}
    for line, record in enumerate(records, start=1):
        cells = [str(record.get(name) or "") for name in columns]
        row = _validate(cells, columns, line, seen, report)
        if row is not None:
            yield row


def first_records(path: Path, count: int) -> tuple[str, list[list[str]]]:
    """How the file reads (encoding and separator, or the sheet) and its first ``count`` records
    (the header first): what a preview shows before anything is checked."""
    report = ImportReport()
    records = _records(path, report)
    found = []
    for _line, record in records:
        found.append(record)
        if len(found) >= count:
            break
    return report.source, found


def field_for(header: str) -> str | None:
    """The field a column header names, in any of the six languages (None: not imported)."""
    return HEADER_ALIASES.get(_header_key(header))


def read_rows(path: Path, report: ImportReport, mapping: dict[str, str | None] | None = None) -> Iterator[Row]:
    """Parse and validate each record; problems and warnings go into ``report``, good rows are yielded.
    ``mapping``: header → field (or None: not imported), chosen by a person; headers it does not name
    are matched by name as usual."""
    records = _records(path, report)
    header: list[str] | None = None
    for _line, record in records:
        if any(cell.strip() for cell in record):
            header = record
            break
    if header is None:
        raise ImportFailed(f"{path}: the file is empty")
    report.header = list(header)
    mapping = mapping or {}
    columns = [mapping[h] if h in mapping else HEADER_ALIASES.get(_header_key(h)) for h in header]
    unknown = {c for c in columns if c} - {"email", *PROFILE_FIELDS}
    if unknown:
        raise ImportFailed(f"{path}: no field {', '.join(sorted(unknown))} (use email, {', '.join(PROFILE_FIELDS)})")
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
