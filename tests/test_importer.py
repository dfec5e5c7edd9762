"""CSV import: valid rows land, every bad row is reported with its line and reason, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from gll_mail import catalog
from gll_mail.db import session_scope
from gll_mail.importer import ImportFailed, import_csv
from gll_mail.models import (
    Event,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from gll_mail.suppressions import suppress


def write(tmp_path: Path, text: str | bytes, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture
def with_catalog(any_engine):
    with session_scope(any_engine) as session:
        catalog.create_topic(session, slug="announcements", name="GLL announcements")
        catalog.create_pod(session, slug="ipc", name="IPC")
    return any_engine


def test_imports_valid_rows_and_reports_each_bad_one(with_catalog, tmp_path):
    path = write(tmp_path, (
        "Email,Name,Language,Country,Organisation,Discipline\n"
        "Ana.Silva@Example.ORG,Ana Silva,Português,Brazil,,\n"     # line 2: unknown language
        "amina@example.org,Amina Haddad,ar,Jordan,MoH,Policy-maker\n"
        "not-an-address,Nobody,en,,,\n"                              # line 4: bad address
        "\n"
        "AMINA@example.org,Amina again,fr,,,\n"                      # line 6: duplicate of line 3
        "wei@example.org,Wei,zh,China,,Academic\n"
        "li@example.org,Li,English,China,,,extra\n"                  # line 8: too many fields
    ))
    report = import_csv(with_catalog, path, topics=["announcements"], pods=["ipc"], registered=True)
    assert (report.imported, report.updated, report.skipped) == (2, 0, 4)
    reasons = {p.line: p.reason for p in report.problems}
    assert set(reasons) == {2, 4, 6, 8}
    assert "unknown language" in reasons[2]
    assert "bad address" in reasons[4]
    assert reasons[6] == "duplicate of line 3"
    assert "fields" in reasons[8]
    with session_scope(with_catalog) as session:
        members = {s.email: s for s in session.exec(select(Subscriber))}
        assert set(members) == {"amina@example.org", "wei@example.org"}
        amina = members["amina@example.org"]
        assert (amina.name, amina.language, amina.organization, amina.role) == ("Amina Haddad", "ar", "MoH", "Policy-maker")
        assert amina.registered_at is not None and amina.consent_source == "import"
        assert len(session.exec(select(Subscription)).all()) == 2
        assert len(session.exec(select(PodMembership)).all()) == 2
        assert {e.type for e in session.exec(select(Event))} == {"imported"}


def test_reimport_updates_without_resubscribing_or_duplicating(with_catalog, tmp_path):
    first = write(tmp_path, "email,name\nana@example.org,Ana\nbo@example.org,Bo\n", "a.csv")
    import_csv(with_catalog, first, topics=["announcements"])
    with session_scope(with_catalog) as session:
        bo = session.exec(select(Subscriber).where(Subscriber.email == "bo@example.org")).one()
        bo.status = SubscriberStatus.UNSUBSCRIBED
        session.add(bo)
    second = write(tmp_path, "email,name,country\nana@example.org,Ana,Peru\nbo@example.org,Bo,\n", "b.csv")
    report = import_csv(with_catalog, second, topics=["announcements"])
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 1)
    with session_scope(with_catalog) as session:
        members = {s.email: s for s in session.exec(select(Subscriber))}
        assert members["ana@example.org"].country == "Peru"
        assert members["bo@example.org"].status == SubscriberStatus.UNSUBSCRIBED
        assert len(session.exec(select(Subscription)).all()) == 2


def test_suppressed_addresses_are_never_re_added(with_catalog, tmp_path):
    with session_scope(with_catalog) as session:
        suppress(session, "gone@example.org", reason="deleted", keep_address=False)
    report = import_csv(with_catalog, write(tmp_path, "email\ngone@example.org\nnew@example.org\n"))
    assert report.imported == 1
    assert [(p.line, "suppression" in p.reason) for p in report.problems] == [(2, True)]


def test_wrong_encoding_is_reported_per_line(engine, tmp_path):
    data = "email,name\nana@example.org,Ana\n".encode() + "jose@example.org,José\n".encode("latin-1")
    report = import_csv(engine, write(tmp_path, data))
    assert report.imported == 1
    assert report.problems[0].line == 3 and "UTF-8" in report.problems[0].reason


def test_quoted_multiline_field_keeps_line_numbers(engine, tmp_path):
    path = write(tmp_path, 'email,organization\nana@example.org,"Ministry\nof Health"\nbad,\n')
    report = import_csv(engine, path)
    assert report.imported == 1
    assert report.problems[0].line == 4
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber.organization)).one() == "Ministry of Health"


def test_bom_and_header_aliases(engine, tmp_path):
    report = import_csv(engine, write(tmp_path, "\ufeffE-mail,Full name,Lang\nana@example.org,Ana,Français\n"))
    assert report.imported == 1
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber.language)).one() == "fr"


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    ("name,country\nAna,Peru\n", "'email' column"),
])
def test_whole_file_problems(engine, tmp_path, content, message):
    with pytest.raises(ImportFailed, match=message):
        import_csv(engine, write(tmp_path, content))


def test_unknown_topic_or_pod_stops_before_writing(engine, tmp_path):
    with pytest.raises(ImportFailed, match="unknown topic: nope"):
        import_csv(engine, write(tmp_path, "email\nana@example.org\n"), topics=["nope"])
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber)).all() == []


def test_a_failing_batch_is_rolled_back_whole(engine, tmp_path, monkeypatch):
    """A database error in one batch leaves nothing of it behind; other batches still land."""
    import gll_mail.importer as importer

    rows = "".join(f"m{i}@example.org\n" for i in range(6))
    calls = {"n": 0}
    real = importer._link

    def flaky(conn, table, *args, **kwargs):
        if table is importer.SUB:
            calls["n"] += 1
            if calls["n"] == 2:
                from sqlalchemy.exc import OperationalError

                raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(conn, table, *args, **kwargs)

    with session_scope(engine) as session:
        catalog.create_topic(session, slug="announcements", name="GLL announcements")
    monkeypatch.setattr(importer, "_link", flaky)
    report = import_csv(engine, write(tmp_path, "email\n" + rows), topics=["announcements"], batch_size=2)
    assert report.imported == 4
    assert [p.line for p in report.problems] == [4, 5]
    assert all("rolled back" in p.reason for p in report.problems)
    with session_scope(engine) as session:
        emails = set(session.exec(select(Subscriber.email)))
        assert "m2@example.org" not in emails and "m3@example.org" not in emails
        assert len(emails) == 4 and len(session.exec(select(Subscription)).all()) == 4
