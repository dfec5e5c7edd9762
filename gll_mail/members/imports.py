"""Member lists imported from the console, in the background, by the same importer as
`gll-mail subscribers import` (:func:`gll_mail.importer.import_csv`), with the same rules.

A job is a row (:class:`~gll_mail.models.ImportJob`): the stored file, the column mapping, the
status, progress counters and the full report. Its state is in the database, so a page reload or
another web process sees the same progress. :func:`run_import` opens its own sessions, so it runs
from a thread or the worker alike.

A run holds a lease on its job, renewed after every batch. When the process running it stops (a
restart, a crash), the lease runs out and the job is *interrupted*: `gll-mail worker` resumes it
(:func:`resume_interrupted`, every minute), and the console or `gll-mail subscribers imports --resume`
can run it again. A resumed run reads the kept upload from the start: the importer is idempotent, so
the rows written before the interruption count as unchanged.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.importer import import_csv
from gll_mail.models import ImportJob, ImportStatus, utcnow
from gll_mail.spreadsheets import PROFILE_FIELDS, ImportFailed, count_lines, field_for, first_records
from gll_mail.subscribers import spreadsheet_safe
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize

log = logging.getLogger(__name__)

FIELDS = ("email", *PROFILE_FIELDS)
BUSY = (ImportStatus.CHECKING, ImportStatus.RUNNING)
LEASE = timedelta(minutes=2)  # a run renews it after every batch (a batch takes well under a second)
MAX_RESUMES = 3  # a job interrupted this often is failed instead (something in it stops the process)


def interrupted(job: ImportJob, now: datetime) -> bool:
    """Checking or running, but its run stopped renewing the lease: its process is gone."""
    return job.status in BUSY and (job.lease_until is None or _aware(job.lease_until) < now)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create_import(
    session: Session,
    actor: Actor,
    *,
    folder: Path,
    filename: str,
    data: bytes,
    topics: list[str] = (),
    pods: list[str] = (),
    registered: bool = False,
) -> ImportJob:
    """Store an uploaded CSV or .xlsx file in ``folder`` and make a job of it (nothing checked yet)."""
    who = authorize(actor, "import.run")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".xlsx" if data[:4] == b"PK\x03\x04" else ".csv"
    stored = folder / f"import-{secrets.token_hex(8)}{suffix}"
    stored.write_bytes(data)
    job = ImportJob(
        user_id=who.id if not isinstance(who, str) else None,
        username=who if isinstance(who, str) else who.username,
        file_name=(filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:300] or "upload",
        stored_path=str(stored),
        options={"topics": list(topics), "pods": list(pods), "registered": registered},
    )
    session.add(job)
    session.flush()
    audit.record(session, who, "import.create", object_type="import", object_id=str(job.id), note=job.file_name)
    return job


def _job(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise GllMailError(f"no import {job_id}")
    return job


def preview(session: Session, actor: Actor, job_id: int, *, rows: int = 5) -> dict[str, Any]:
    """How the file reads (encoding and separator), its headers with the field each is mapped to,
    and its first rows: what the team checks before the dry run."""
    authorize(actor, "import.view")
    job = _job(session, job_id)
    try:
        source, records = first_records(Path(job.stored_path), rows + 1)
    except ImportFailed as exc:
        raise GllMailError(str(exc).replace(job.stored_path, job.file_name)) from None
    header = records[0] if records else []
    mapping = {h: job.mapping[h] if h in job.mapping else field_for(h) for h in header}
    job.source = source[:300]
    session.add(job)
    return {"source": source, "header": header, "mapping": mapping, "rows": records[1:], "fields": FIELDS}


def set_mapping(session: Session, actor: Actor, job_id: int, mapping: dict[str, str | None]) -> ImportJob:
    """The column mapping a person chose: header → field (None or "": not imported)."""
    authorize(actor, "import.run")
    bad = {f for f in mapping.values() if f and f not in FIELDS}
    if bad:
        raise GllMailError(f"no field {', '.join(sorted(bad))} (use {', '.join(FIELDS)})")
    if "email" not in mapping.values():
        raise GllMailError("map one column to email")
    job = _job(session, job_id)
    job.mapping = {h: (f or None) for h, f in mapping.items()}
    job.updated_at = utcnow()
    session.add(job)
    return job


def _save(engine: Engine, job_id: int, **values) -> None:
    with session_scope(engine) as session:
        job = _job(session, job_id)
        for key, value in values.items():
            setattr(job, key, value)
        job.updated_at = utcnow()
        session.add(job)


def run_import(
    engine: Engine, job_id: int, *, dry_run: bool, batch_size: int = 2000, clock: Callable[[], datetime] = utcnow
) -> ImportJob:
    """Check (``dry_run``) or import the job's file; progress is saved after every batch. Safe to
    call from a thread or the worker: it opens its own sessions."""
    now = clock()
    with session_scope(engine) as session:
        job = _job(session, job_id)
        if job.status in BUSY and not interrupted(job, now):
            raise GllMailError(f"import {job_id} is already running")
        if job.status == ImportStatus.DONE:
            raise GllMailError(f"import {job_id} is done; upload the file again to import it again")
        path, options, mapping = Path(job.stored_path), dict(job.options), dict(job.mapping) or None
        resuming = job.status in BUSY
        claim = (
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == job.status)
            .values(
                status=ImportStatus.CHECKING if dry_run else ImportStatus.RUNNING,
                lease_until=now + LEASE,
                resumed=ImportJob.resumed + (1 if resuming else 0),
            )
        )
        if resuming:  # only while the lease is still out
            claim = claim.where(or_(ImportJob.lease_until.is_(None), ImportJob.lease_until < now))
        if session.connection().execute(claim).rowcount != 1:  # another process took it first
            raise GllMailError(f"import {job_id} is already running")
    is_text = path.is_file() and not zipfile.is_zipfile(path)
    total = max(count_lines(path) - 1, 0) if is_text else 0
    _save(
        engine,
        job_id,
        status=ImportStatus.CHECKING if dry_run else ImportStatus.RUNNING,
        dry_run=dry_run,
        total_rows=total,
        processed_rows=0,
        started_at=clock(),
        finished_at=None,
        error="",
        lease_until=clock() + LEASE,
    )
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        _save(engine, job_id, processed_rows=done[0], lease_until=clock() + LEASE)

    try:
        report = import_csv(
            engine,
            path,
            topics=options.get("topics") or (),
            pods=options.get("pods") or (),
            registered=bool(options.get("registered")),
            batch_size=batch_size,
            dry_run=dry_run,
            progress=progress,
            mapping=mapping,
        )
    except ImportFailed as exc:
        _save(
            engine,
            job_id,
            status=ImportStatus.FAILED,
            error=str(exc).replace(str(path), "the file"),
            finished_at=clock(),
            lease_until=None,
        )
        return _reload(engine, job_id)
    except Exception as exc:  # not the file: say so on the job (run it again), and let the caller log it
        error = f"the import stopped ({type(exc).__name__}); rows written so far are kept: run it again"
        _save(engine, job_id, status=ImportStatus.FAILED, error=error, finished_at=clock(), lease_until=None)
        raise
    _save(
        engine,
        job_id,
        status=ImportStatus.CHECKED if dry_run else ImportStatus.DONE,
        source=report.source[:300],
        processed_rows=done[0] + report.skipped,  # every row read, rejected ones too
        total_rows=max(total, done[0] + report.skipped),
        imported=report.imported,
        updated=report.updated,
        unchanged=report.unchanged,
        skipped=report.skipped,
        report={
            "header": report.header,
            "problems": [[p.line, p.email, p.reason, list(p.cells)] for p in report.problems],
            "warnings": [[w.line, w.email, w.reason] for w in report.warnings],
        },
        finished_at=clock(),
        lease_until=None,
    )
    return _reload(engine, job_id)


def resume_interrupted(engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> list[int]:
    """Run again, from the kept upload, every job whose run was interrupted (the same kind of run:
    a check or the import). `gll-mail worker` calls this every minute. Returns the jobs resumed."""
    now = clock()
    with session_scope(engine) as session:
        for job in session.exec(select(ImportJob).where(ImportJob.status.in_(BUSY))).all():
            if interrupted(job, now) and job.resumed >= MAX_RESUMES:
                job.status, job.finished_at, job.lease_until = ImportStatus.FAILED, now, None
                job.error = f"interrupted {job.resumed + 1} times; not resumed again: run it again by hand"
                session.add(job)
    with session_scope(engine) as session:
        jobs = [
            (j.id, j.dry_run)
            for j in session.exec(select(ImportJob).where(ImportJob.status.in_(BUSY))).all()
            if interrupted(j, now)
        ]
    resumed = []
    for job_id, dry_run in jobs:
        try:
            run_import(engine, job_id, dry_run=dry_run, clock=clock)
        except GllMailError as exc:  # taken by another process meanwhile
            log.info("import %s not resumed: %s", job_id, exc)
            continue
        except Exception:  # the job says it failed; the other jobs still go on
            log.exception("import %s stopped again", job_id)
            continue
        log.info("import %s resumed after an interruption", job_id)
        resumed.append(job_id)
    return resumed


def run_again(engine: Engine, actor: Actor, job_id: int, *, clock: Callable[[], datetime] = utcnow) -> ImportJob:
    """Run an interrupted or failed job again from the kept upload, the same kind of run as its last
    (a check or the import): `gll-mail subscribers imports --resume`."""
    authorize(actor, "import.run")
    with session_scope(engine) as session:
        dry_run = _job(session, job_id).dry_run
    return run_import(engine, job_id, dry_run=dry_run, clock=clock)


def list_imports(
    session: Session,
    actor: Actor,
    *,
    limit: int = 50,
    cursor: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[list[dict[str, Any]], int | None]:
    """Past imports, newest first (status and counts), and the cursor of the next page (None: last)."""
    authorize(actor, "import.view")
    query = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(ImportJob.id < cursor)
    jobs = list(session.exec(query))
    now = clock()
    rows = [_summary(job, now) for job in jobs[:limit]]
    return rows, jobs[limit - 1].id if len(jobs) > limit else None


def _summary(job: ImportJob, now: datetime) -> dict[str, Any]:
    return {
        "id": job.id,
        "file": job.file_name,
        "status": "interrupted" if interrupted(job, now) else job.status,
        "dry_run": job.dry_run,
        "imported": job.imported,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "skipped": job.skipped,
        "processed": job.processed_rows,
        "total": job.total_rows or 0,
        "resumed": job.resumed,
        "error": job.error,
        "by": job.username,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _reload(engine: Engine, job_id: int) -> ImportJob:
    with session_scope(engine) as session:
        job = _job(session, job_id)
        session.expunge(job)
        return job


def job_status(session: Session, actor: Actor, job_id: int) -> dict[str, Any]:
    """Where the job stands, for a progress bar that polls (and survives a reload)."""
    authorize(actor, "import.view")
    job = _job(session, job_id)
    total = job.total_rows or 0
    status = _summary(job, utcnow())
    return status | {
        "status": job.status,
        "interrupted": status["status"] == "interrupted",
        "source": job.source,
        "percent": min(100, round(100 * job.processed_rows / total)) if total else (100 if job.finished_at else 0),
        "problems": job.report.get("problems", []),
        "warnings": job.report.get("warnings", []),
    }


def rejected_csv(session: Session, actor: Actor, job_id: int) -> str:
    """The rejected rows as they were in the file (its header, each row's cells), then the line
    number and the reason: fix the cells and import the file again. Every cell is made safe to open in
    a spreadsheet."""
    authorize(actor, "import.view")
    report = _job(session, job_id).report
    header = list(report.get("header") or ["email"])
    problems = report.get("problems", [])
    width = max([len(header), *(len(p[3]) for p in problems if len(p) > 3)])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([spreadsheet_safe(h) for h in header] + [""] * (width - len(header)) + ["line", "reason"])
    for line, email, reason, *rest in problems:
        cells = list(rest[0]) if rest and rest[0] else [email]
        cells += [""] * (width - len(cells))
        writer.writerow([spreadsheet_safe(c) for c in cells] + [line, spreadsheet_safe(reason)])
    return out.getvalue()
