"""Imports from the console: stored file, preview with the detected encoding and separator, column
mapping, dry run listing every problem, the run with its progress kept in the database."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import func, select
from team_support import Clock, team

from gll_mail import catalog
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.members import imports
from gll_mail.models import ImportStatus, PodMembership, Subscriber
from gll_mail.team.audit import entries
from gll_mail.team.roles import PermissionDenied


def french_excel() -> bytes:
    text = (
        "Courriel pro;Nom;Pays;Établissement\r\n"
        "amelie@hopital.example.fr;Amélie Dupré;France;CHU de Lyon\r\n"
        "pas-une-adresse;Jean;France;\r\n"
        "bruno@example.fr;Bruno Lefèvre;Côte d'Ivoire;Ministère de la Santé\r\n"
    )
    return text.encode("cp1252")


def test_preview_map_dry_run_then_import_in_the_background(any_engine, tmp_path):
    clock = Clock()
    with session_scope(any_engine) as session:
        users = team(session)
        catalog.create_pod(session, slug="ipc", name="IPC")
        with pytest.raises(PermissionDenied):
            imports.create_import(session, users["vic"], folder=tmp_path, filename="x.csv", data=b"email\n")
        job = imports.create_import(
            session,
            users["eve"],
            folder=tmp_path,
            filename="C:\\Users\\me\\membres.csv",
            data=french_excel(),
            pods=["ipc"],
        )
        job_id = job.id
        shown = imports.preview(session, users["vic"], job_id)
        assert shown["source"] == "Windows-1252 (Latin-1) text, separated by ';'"
        assert shown["header"] == ["Courriel pro", "Nom", "Pays", "Établissement"]
        assert shown["mapping"] == {
            "Courriel pro": None,
            "Nom": "name",
            "Pays": "country",
            "Établissement": None,
        }
        assert shown["rows"][0][1] == "Amélie Dupré"
        with pytest.raises(GllMailError, match="map one column to email"):
            imports.set_mapping(session, users["eve"], job_id, shown["mapping"])
        imports.set_mapping(
            session,
            users["eve"],
            job_id,
            {**shown["mapping"], "Courriel pro": "email", "Établissement": "organization"},
        )

    checked = imports.run_import(any_engine, job_id, dry_run=True, clock=clock)
    assert checked.status == ImportStatus.CHECKED and checked.imported == 2 and checked.skipped == 1
    with session_scope(any_engine) as session:
        assert session.exec(select(func.count()).select_from(Subscriber)).one() == 0  # a dry run writes nothing
        status = imports.job_status(session, users_of(session)["vic"], job_id)
        assert status["problems"][0][0] == 3 and "bad address" in status["problems"][0][2]

    clock.advance(minutes=1)
    done = imports.run_import(any_engine, job_id, dry_run=False, clock=clock)
    assert done.status == ImportStatus.DONE and (done.imported, done.skipped) == (2, 1)
    with session_scope(any_engine) as session:  # another session: what a reloaded page sees
        status = imports.job_status(session, users_of(session)["vic"], job_id)
        assert status["percent"] == 100 and status["processed"] == 3 and status["file"] == "membres.csv"
        amelie = session.exec(select(Subscriber).where(Subscriber.email == "amelie@hopital.example.fr")).one()
        assert amelie.name == "Amélie Dupré" and amelie.organization == "CHU de Lyon"
        assert session.exec(select(func.count()).select_from(PodMembership)).one() == 2
        rejected = list(csv.reader(io.StringIO(imports.rejected_csv(session, users_of(session)["vic"], job_id))))
        assert rejected[0] == ["Courriel pro", "Nom", "Pays", "Établissement", "line", "reason"]
        assert rejected[1][:5] == ["pas-une-adresse", "Jean", "France", "", "3"] and "bad address" in rejected[1][5]
        assert [e.action for e in entries(session, object="import")] == ["import.create"]
    with pytest.raises(GllMailError, match="is done"):
        imports.run_import(any_engine, job_id, dry_run=False)


def users_of(session):
    from gll_mail.models import AdminUser

    return {u.username: u for u in session.exec(select(AdminUser))}


def test_a_file_that_cannot_be_read_fails_the_job_with_the_reason(any_engine, tmp_path):
    with session_scope(any_engine) as session:
        job = imports.create_import(
            session, "(command line)", folder=tmp_path, filename="old.xls", data=b"\xd0\xcf\x11\xe0rest"
        )
        job_id = job.id
    failed = imports.run_import(any_engine, job_id, dry_run=True)
    assert failed.status == ImportStatus.FAILED and "old Excel .xls workbook" in failed.error


def test_rejected_rows_keep_their_cells_whatever_refused_them(engine, tmp_path):
    """Refused by the reader (a bad address), by the suppression list (at the write), or malformed:
    each rejected row comes back as it was in the file, with its line and reason, safe to open."""
    from gll_mail.suppressions import suppress

    data = (
        b"email,name,country\n"
        b"ok@example.org,Ok,Chad\n"
        b"gone@example.org,=HYPERLINK(1),Peru\n"
        b"not-an-address,Nadia,Chad,extra\n"
    )
    with session_scope(engine) as session:
        suppress(session, "gone@example.org", reason="manual", source="cli")
        job_id = imports.create_import(session, "(command line)", folder=tmp_path, filename="l.csv", data=data).id
    done = imports.run_import(engine, job_id, dry_run=False)
    assert (done.imported, done.skipped) == (1, 2)
    with session_scope(engine) as session:
        rows = list(csv.reader(io.StringIO(imports.rejected_csv(session, "(command line)", job_id))))
    assert rows[0] == ["email", "name", "country", "", "line", "reason"]
    assert rows[1][:5] == ["gone@example.org", "'=HYPERLINK(1)", "Peru", "", "3"] and "suppression" in rows[1][5]
    assert rows[2][:5] == ["not-an-address", "Nadia", "Chad", "extra", "4"]


def test_an_import_whose_process_stopped_is_listed_interrupted_and_resumed(any_engine, tmp_path):
    """A run holds a lease renewed after every batch. A process that stops (a restart) leaves the job
    running with its lease running out: the list says interrupted, and resume_interrupted (what
    `gll-mail worker` calls every minute) runs it again from the kept upload, to the same result."""
    from sqlalchemy import update

    from gll_mail.models import ImportJob

    clock = Clock()
    data = b"email,name\n" + b"".join(f"m{i}@example.org,M {i}\n".encode() for i in range(30))
    with session_scope(any_engine) as session:
        job_id = imports.create_import(session, "(command line)", folder=tmp_path, filename="l.csv", data=data).id
    imports.run_import(any_engine, job_id, dry_run=False, batch_size=10, clock=clock)
    with session_scope(any_engine) as session:  # as a stopped process leaves it: running, 10 rows written
        session.exec(select(Subscriber).where(Subscriber.email == "m29@example.org")).one()
        session.connection().execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status=ImportStatus.RUNNING, processed_rows=10, finished_at=None, lease_until=clock() + imports.LEASE
            )
        )
    assert imports.resume_interrupted(any_engine, clock=clock) == []  # the lease is still out: it may be running
    with pytest.raises(GllMailError, match="already running"):
        imports.run_import(any_engine, job_id, dry_run=False, clock=clock)
    clock.advance(minutes=3)
    with session_scope(any_engine) as session:
        listed, _cursor = imports.list_imports(session, "(command line)", clock=clock)
        assert [(r["id"], r["status"]) for r in listed] == [(job_id, "interrupted")]
    assert imports.resume_interrupted(any_engine, clock=clock) == [job_id]
    assert imports.resume_interrupted(any_engine, clock=clock) == []
    with session_scope(any_engine) as session:
        status = imports.job_status(session, "(command line)", job_id)
        assert (status["status"], status["resumed"], status["processed"]) == ("done", 1, 30)
        assert status["imported"] + status["unchanged"] == 30 and not status["interrupted"]
        assert session.exec(select(func.count()).select_from(Subscriber)).one() == 30


def test_cli_lists_imports_writes_rejected_rows_and_resumes(runner, engine, settings, tmp_path):
    from sqlalchemy import update

    from gll_mail.cli import main
    from gll_mail.models import ImportJob

    assert "No imports yet." in runner.invoke(main, ["subscribers", "imports"]).output
    data = b"email,name\nok@example.org,Ok\nnope,Nadia\n"
    with session_scope(engine) as session:
        job_id = imports.create_import(session, "(command line)", folder=tmp_path, filename="l.csv", data=data).id
    imports.run_import(engine, job_id, dry_run=False)
    out = runner.invoke(main, ["subscribers", "imports"])
    assert out.exit_code == 0 and "l.csv" in out.output and "done" in out.output, out.output
    out = runner.invoke(main, ["subscribers", "imports", "--rejected", str(job_id)])
    assert out.output.splitlines()[:2] == [
        "email,name,line,reason",
        f"nope,Nadia,3,{out.output.split(',3,')[1].splitlines()[0]}",
    ]
    with session_scope(engine) as session:
        session.connection().execute(update(ImportJob).where(ImportJob.id == job_id).values(status="running"))
    assert "interrupted" in runner.invoke(main, ["subscribers", "imports"]).output
    out = runner.invoke(main, ["subscribers", "imports", "--resume", str(job_id)])
    assert out.exit_code == 0 and "done; new 0, updated 0, unchanged 1, rejected 1" in out.output, out.output


def test_a_job_interrupted_again_and_again_is_failed_not_resumed(engine, tmp_path):
    from sqlalchemy import update

    from gll_mail.models import ImportJob

    with session_scope(engine) as session:
        job_id = imports.create_import(session, "(command line)", folder=tmp_path, filename="l.csv", data=b"email\n").id
        session.connection().execute(
            update(ImportJob).where(ImportJob.id == job_id).values(status="running", resumed=imports.MAX_RESUMES)
        )
    assert imports.resume_interrupted(engine) == []
    with session_scope(engine) as session:
        status = imports.job_status(session, "(command line)", job_id)
    assert status["status"] == "failed" and "not resumed again" in status["error"]
