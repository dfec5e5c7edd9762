"""Scan a Maildir, an mbox file or an IMAP mailbox for bounces (safe to re-run).

Maildir and mbox messages are keyed by source path + message key/hash, so a second scan stores
nothing new. IMAP messages are flagged ``\\Seen`` + ``$GllProcessed`` after processing and the
scan only fetches those without the flag. ``imaps://`` verifies the server's certificate and
name against the system's trusted CAs (``SSL_CERT_FILE`` names another CA bundle); a password is
never sent to a server that cannot prove who it is.
"""

from __future__ import annotations

import hashlib
import imaplib
import mailbox
import multiprocessing
import os
import ssl
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import Engine

from gll_mail.bounces.intake import classify_many, process_many, store_many
from gll_mail.errors import GllMailError
from gll_mail.settings import Settings


class MailboxError(GllMailError):
    """A mailbox that cannot be read: missing, not a mailbox, or an IMAP server that refuses us."""


@dataclass
class ScanReport:
    seen: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def _envelope_to(raw: bytes) -> str:
    head = raw[:8192].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        low = line.lower()
        if low.startswith((b"delivered-to:", b"x-original-to:", b"envelope-to:")):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return ""


BATCH = 200
PARALLEL_FROM = 1000  # scans at least this big classify in a helper process while this one writes


@dataclass
class _Stored:
    ids: list[int]
    after: list
    classified: Future | None = None


class _Batcher:
    """Collect scanned messages; store each batch in one commit, then process it.

    With ``parallel`` on, a batch is classified (MIME parsing, DSN and flufl.bounce rules: pure
    CPU) in a helper process while this process records the previous batch's decisions, so both
    cores work. Storage still comes first: every message is committed raw before processing.
    """

    def __init__(
        self, engine: Engine, settings: Settings, report: ScanReport, size: int = BATCH, parallel: bool = False
    ) -> None:
        self.engine, self.settings, self.report, self.size = engine, settings, report, size
        self.items: list[tuple[bytes, str, str, str]] = []
        self.after: list = []
        self.waiting: _Stored | None = None
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) if parallel else None

    def add(self, raw: bytes, source: str, key: str, after=None) -> None:
        """Queue one message; ``after`` runs once it is stored and processed (IMAP flags it)."""
        self.report.seen += 1
        self.items.append((raw, source, _envelope_to(raw), key))
        self.after.append(after)
        if len(self.items) >= self.size:
            self._store()

    def _store(self) -> None:
        if not self.items:
            return
        ids = store_many(self.engine, self.items)
        stored = _Stored([mid for mid in ids if mid is not None], self.after)
        self.report.skipped += len(ids) - len(stored.ids)
        self.report.stored += len(stored.ids)
        if self.pool is not None and stored.ids:
            fresh = [(raw, to) for (raw, _s, to, _k), mid in zip(self.items, ids, strict=False) if mid is not None]
            stored.classified = self.pool.submit(classify_many, self.settings, fresh)
        self.items, self.after = [], []
        self._process(self.waiting)
        self.waiting = stored

    def _process(self, stored: _Stored | None) -> None:
        if stored is None:
            return
        results = None
        if stored.classified is not None:
            try:
                results = dict(zip(stored.ids, stored.classified.result(), strict=False))
            except Exception:
                results = None
        for outcome in process_many(self.engine, self.settings, stored.ids, results):
            if outcome is None:
                self.report.failed += 1
            else:
                self.report.kinds[outcome.kind] = self.report.kinds.get(outcome.kind, 0) + 1
        for callback in stored.after:
            if callback is not None:
                callback()

    def flush(self) -> None:
        """Store and process everything still queued, and stop the helper process."""
        self._store()
        self._process(self.waiting)
        self.waiting = None
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def scan(engine: Engine, settings: Settings, source: str) -> ScanReport:
    if source.startswith(("imap://", "imaps://")):
        return scan_imap(engine, settings, source)
    if os.path.isdir(source):
        if not all(os.path.isdir(os.path.join(source, sub)) for sub in ("cur", "new")):
            raise MailboxError(f"{source} is a folder but not a Maildir (no cur/ and new/)")
        return scan_maildir(engine, settings, source)
    if not os.path.isfile(source):
        raise MailboxError(f"no Maildir folder or mbox file at {source} (or use imaps://user:pass@host/INBOX)")
    return scan_mbox(engine, settings, source)


def scan_maildir(engine: Engine, settings: Settings, path: str) -> ScanReport:
    report = ScanReport()
    box = mailbox.Maildir(path, factory=None, create=False)
    batch = _Batcher(engine, settings, report, parallel=len(box) >= PARALLEL_FROM)
    name = os.path.abspath(path)
    for key in box.iterkeys():
        with box.get_file(key) as fh:
            raw = fh.read()
        batch.add(raw, f"maildir:{name}"[:300], "maildir:" + hashlib.sha256(f"{name}\0{key}".encode()).hexdigest())
    batch.flush()
    return report


def scan_mbox(engine: Engine, settings: Settings, path: str) -> ScanReport:
    report = ScanReport()
    box = mailbox.mbox(path, factory=None, create=False)
    batch = _Batcher(engine, settings, report, parallel=len(box) >= PARALLEL_FROM)
    name = os.path.abspath(path)
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        digest = hashlib.sha256(raw).hexdigest()
        batch.add(raw, f"mbox:{name}"[:300], "mbox:" + hashlib.sha256(f"{name}\0{digest}".encode()).hexdigest())
    batch.flush()
    box.close()
    return report


def _imap_connect(url: str, ssl_context: ssl.SSLContext | None, timeout: float):
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}:{parts.port or (993 if parts.scheme == 'imaps' else 143)}"
    try:
        if parts.scheme == "imaps":
            # imaplib's own default context checks nothing: verify the certificate and the name
            context = ssl_context or ssl.create_default_context()
            conn = imaplib.IMAP4_SSL(parts.hostname, parts.port or 993, timeout=timeout, ssl_context=context)
        else:
            conn = imaplib.IMAP4(parts.hostname, parts.port or 143, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"{where}: the server's certificate is not trusted ({exc.verify_message}); "
            f"set SSL_CERT_FILE to the CA that signed it"
        ) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot reach {where}: {exc}") from None
    try:
        conn.login(unquote(parts.username or ""), unquote(parts.password or ""))
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise MailboxError(f"{where} refused the login of {unquote(parts.username or '')!r}: {exc}") from None
    return conn


def scan_imap(
    engine: Engine, settings: Settings, url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30
) -> ScanReport:
    parts = urlsplit(url)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    conn = _imap_connect(url, ssl_context, timeout)
    report = ScanReport()
    batch = _Batcher(engine, settings, report, size=50)
    try:
        typ, _ = conn.select(folder)
        if typ != "OK":
            raise MailboxError(f"no IMAP folder {folder!r} on {parts.hostname}")
        typ, data = conn.uid("SEARCH", None, "UNKEYWORD", "$GllProcessed")
        uids = data[0].split() if data and data[0] else []
        typ, data = conn.status(folder, "(UIDVALIDITY)")
        validity = data[0].decode().rsplit("UIDVALIDITY", 1)[-1].strip(" )") if data else "0"
        for uid in uids:
            typ, msg_data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(item[1] for item in msg_data if isinstance(item, tuple))
            key = (
                "imap:"
                + hashlib.sha256(
                    f"{parts.hostname}\0{parts.username}\0{folder}\0{validity}\0{uid.decode()}".encode()
                ).hexdigest()
            )
            batch.add(
                raw,
                f"imap:{parts.hostname}/{folder}",
                key,
                after=lambda uid=uid: conn.uid("STORE", uid, "+FLAGS", "(\\Seen $GllProcessed)"),
            )
        batch.flush()
    finally:
        try:
            conn.logout()
        except Exception:
            pass
    return report
