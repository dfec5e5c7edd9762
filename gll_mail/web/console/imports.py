"""Member lists imported in the browser: upload a CSV or .xlsx file, see its first rows with the
encoding and separator detected, map its columns to fields, check it (a dry run listing every
problem by line) and import it in the background, with a progress bar that survives a reload
(``static/import-progress.js`` polling the job's JSON), and download the rejected rows.

A thin shell over :mod:`gll_mail.members.imports`, the same importer as `gll-mail subscribers import`.
The job's state is in the database; the run is a background thread of this web process. When the
process stops mid-run, the job shows as interrupted: `gll-mail worker` resumes it, or *Run again*.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Response, flash, g, redirect, request, url_for
from sqlalchemy.engine import Engine

from gll_mail import catalog
from gll_mail.errors import GllMailError
from gll_mail.members import imports
from gll_mail.models import ImportStatus
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, error, message_of, render, with_scripts
from gll_mail.web.security import check_csrf

bp = blueprint("console_imports")
log = logging.getLogger(__name__)
UPLOAD_LIMIT = 20 * 1024 * 1024
RUNNING: dict[int, threading.Thread] = {}  # job id → its thread (tests join it; never a sleep)
BUSY = (ImportStatus.CHECKING, ImportStatus.RUNNING)


def upload_folder() -> Path:
    """Uploaded lists are kept in ``GLL_MAIL_IMPORTS_DIR`` (default: ``imports/`` beside the resources)."""
    return context.settings().import_folder


def _run(engine: Engine, job_id: int, dry_run: bool) -> None:
    try:
        imports.run_import(engine, job_id, dry_run=dry_run)
    except Exception:  # the thread must not die silently: the job page says "failed" via the log
        log.exception("import %s stopped", job_id)
    finally:
        RUNNING.pop(job_id, None)


@bp.get("/imports")
@allowed("import.view")
def index():
    before = request.args.get("before", type=int)
    with context.session() as s:
        topics, pods = catalog.list_topics(s), catalog.list_pods(s)
        past, older = imports.list_imports(s, g.user, cursor=before)
    return render("imports.html", topics=topics, pods=pods, past=past, older=older)


@bp.post("/imports")
@allowed("import.run")
def upload():
    request.max_content_length = UPLOAD_LIMIT
    check_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV or Excel (.xlsx) file.", "error")
        return redirect(url_for(".index"))
    try:
        with context.session() as s:
            job = imports.create_import(
                s,
                g.user,
                folder=upload_folder(),
                filename=upload.filename,
                data=upload.read(),
                topics=request.form.getlist("topics"),
                pods=request.form.getlist("pods"),
                registered=request.form.get("registered") == "yes",
            )
            job_id = job.id
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".index"))
    return redirect(url_for(".job", job_id=job_id))


@bp.get("/imports/<int:job_id>")
@allowed("import.view")
def job(job_id: int):
    with context.session() as s:
        try:
            status = imports.job_status(s, g.user, job_id)
        except GllMailError:
            return error(404, f"There is no import {job_id}.")
        shown, problem = None, ""
        try:
            shown = imports.preview(s, g.user, job_id)
        except GllMailError as exc:
            problem = message_of(exc)
    with_scripts()
    busy = (status["status"] in BUSY and not status["interrupted"]) or job_id in RUNNING
    return render("import.html", job=status, shown=shown, problem=problem, busy=busy)


@bp.get("/imports/<int:job_id>.json")
@allowed("import.view")
def job_json(job_id: int):
    with context.session() as s:
        try:
            status = imports.job_status(s, g.user, job_id)
        except GllMailError:
            return {"error": f"no import {job_id}"}, 404
    return {k: v for k, v in status.items() if k not in ("problems", "warnings")}


@bp.post("/imports/<int:job_id>/mapping")
@allowed("import.run")
def mapping(job_id: int):
    """The fields chosen per column (``col-N`` for the N-th column of the header)."""
    check_csrf()
    try:
        with context.session() as s:
            header = imports.preview(s, g.user, job_id, rows=0)["header"]
            chosen = {h: request.form.get(f"col-{i}") or None for i, h in enumerate(header)}
            imports.set_mapping(s, g.user, job_id, chosen)
        flash("Columns saved. Check the file (dry run) next.", "notice")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    return redirect(url_for(".job", job_id=job_id))


@bp.post("/imports/<int:job_id>/run")
@allowed("import.run")
def run(job_id: int):
    """``action`` = check (the dry run) or import; either runs in a background thread."""
    check_csrf()
    dry_run = request.form.get("action") != "import"
    with context.session() as s:
        try:
            status = imports.job_status(s, g.user, job_id)
        except GllMailError:
            return error(404, f"There is no import {job_id}.")
    if (status["status"] in BUSY and not status["interrupted"]) or job_id in RUNNING:
        flash("This import is already running.", "error")
    elif status["status"] == ImportStatus.DONE:
        flash("This file is imported already; upload it again to import it again.", "error")
    else:
        thread = threading.Thread(
            target=_run, args=(context.engine(), job_id, dry_run), name=f"import-{job_id}", daemon=True
        )
        RUNNING[job_id] = thread
        thread.start()
        flash("Checking the file…" if dry_run else "Importing in the background: you may leave this page.", "notice")
    return redirect(url_for(".job", job_id=job_id))


@bp.get("/imports/<int:job_id>/rejected.csv")
@allowed("import.view")
def rejected(job_id: int):
    with context.session() as s:
        try:
            text = imports.rejected_csv(s, g.user, job_id)
        except GllMailError:
            return error(404, f"There is no import {job_id}.")
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-rejected.csv"'},
    )
