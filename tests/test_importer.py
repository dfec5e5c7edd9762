"""CSV import: valid rows land, every bad row is reported with its line and reason, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from gll_mail import catalog
from gll_mail.db import session_scope
from gll_mail.importer import import_csv
from gll_mail.models import (
    Event,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from gll_mail.spreadsheets import ImportFailed
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
    path = write(
        tmp_path,
        (
            "Email,Name,Language,Country,Organisation,Discipline\n"
            "Ana.Silva@Example.ORG,Ana Silva,Português,Brazil,,\n"  # line 2: unknown language
            "amina@example.org,Amina Haddad,ar,Jordan,MoH,Policy-maker\n"
            "not-an-address,Nobody,en,,,\n"  # line 4: bad address
            "\n"
            "AMINA@example.org,Amina again,fr,,,\n"  # line 6: duplicate of line 3
            "wei@example.org,Wei,zh,China,,Academic\n"
            "li@example.org,Li,English,China,,,extra\n"  # line 8: too many fields
        ),
    )
    report = import_csv(with_catalog, path, topics=["announcements"], pods=["ipc"], registered=True)
    assert (report.imported, report.updated, report.skipped) == (3, 0, 3)
    reasons = {p.line: p.reason for p in report.problems}
    assert set(reasons) == {4, 6, 8}
    [warning] = report.warnings
    assert warning.line == 2 and "'Português' is not one of ar, zh, en, fr, ru, es" in warning.reason
    assert "bad address" in reasons[4]
    assert reasons[6] == "duplicate of line 3"
    assert "fields" in reasons[8]
    with session_scope(with_catalog) as session:
        members = {s.email: s for s in session.exec(select(Subscriber))}
        assert set(members) == {"ana.silva@example.org", "amina@example.org", "wei@example.org"}
        assert members["ana.silva@example.org"].language == "en"
        amina = members["amina@example.org"]
        assert (amina.name, amina.language, amina.organization, amina.role) == (
            "Amina Haddad",
            "ar",
            "MoH",
            "Policy-maker",
        )
        assert amina.registered_at is not None and amina.consent_source == "import"
        assert len(session.exec(select(Subscription)).all()) == 3
        assert len(session.exec(select(PodMembership)).all()) == 3
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


def test_unsupported_language_keeps_an_existing_members_language(engine, tmp_path):
    import_csv(engine, write(tmp_path, "email,language\nana@example.org,fr\n", "a.csv"))
    report = import_csv(engine, write(tmp_path, "email,language,country\nana@example.org,pt-BR,Peru\n", "b.csv"))
    assert report.updated == 1 and report.warnings[0].line == 2
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber.language)).one() == "fr"


ROWS = [("ana@example.org", "Ana Peña", "es", "Perú"), ("zoe@example.org", "Zoë Müller", "fr", "Suisse")]


@pytest.mark.parametrize(
    "encoding,bom,separator,source",
    [
        ("utf-8", b"", ",", "UTF-8 text, separated by ','"),
        ("utf-8", b"\xef\xbb\xbf", ";", "UTF-8 (with BOM) text, separated by ';'"),
        ("utf-16-le", b"\xff\xfe", "\t", "UTF-16 text, separated by tab"),
        ("utf-16-be", b"\xfe\xff", ";", "UTF-16 text, separated by ';'"),
        ("cp1252", b"", ";", "Windows-1252 (Latin-1) text, separated by ';'"),
        ("latin-1", b"", ",", "Windows-1252 (Latin-1) text, separated by ','"),
    ],
)
def test_encodings_and_separators_are_found_and_named(engine, tmp_path, encoding, bom, separator, source):
    lines = [separator.join(("E-mail", "Nom", "Langue", "Pays"))] + [separator.join(r) for r in ROWS]
    report = import_csv(engine, write(tmp_path, bom + "".join(line + "\r\n" for line in lines).encode(encoding)))
    assert (report.imported, report.skipped, report.source) == (2, 0, source)
    with session_scope(engine) as session:
        stored = {(s.email, s.name, s.language, s.country) for s in session.exec(select(Subscriber))}
    assert stored == set(ROWS)


def test_a_file_that_does_not_decode_is_refused_whole(engine, tmp_path):
    # 0x81 is undefined in Windows-1252 and, after "é" in Latin-1, not UTF-8 either
    data = b"email,name\nana@example.org,Ana\n" + b"jose@example.org,Jos\xe9\x81\n"
    with pytest.raises(ImportFailed, match=r"neither UTF-8 nor Windows-1252 .*line 3.*nothing imported"):
        import_csv(engine, write(tmp_path, data))
    with pytest.raises(ImportFailed, match="UTF-16 text without a byte-order mark"):
        import_csv(engine, write(tmp_path, "email\nana@example.org\n".encode("utf-16-le"), "u16.csv"))
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber)).all() == []


def test_an_unclosed_quote_is_reported_and_the_rows_after_it_still_land(engine, tmp_path):
    path = write(
        tmp_path,
        (
            "email,name,language,country\n"
            "good5@example.org,Five,en,Chile\n"
            'good6@example.org,"Unclosed quote,en,Chile\n'
            "good7@example.org,Seven,en,Chile\n"
            'good8@example.org,"Eight, ""the"" eighth",en,"Chile\nSantiago"\n'
            "good9@example.org,Nine,en,Chile\n"
        ),
    )
    report = import_csv(engine, path)
    [problem] = report.problems
    assert problem.line == 3 and "quote opened on this line is not closed" in problem.reason
    with session_scope(engine) as session:
        members = {s.email: s for s in session.exec(select(Subscriber))}
    assert set(members) == {"good5@example.org", "good7@example.org", "good8@example.org", "good9@example.org"}
    assert members["good7@example.org"].name == "Seven"
    assert (members["good8@example.org"].name, members["good8@example.org"].country) == (
        'Eight, "the" eighth',
        "Chile Santiago",
    )


def test_an_unclosed_quote_at_the_end_of_the_file(engine, tmp_path):
    report = import_csv(engine, write(tmp_path, 'email;name\nana@example.org;"Ana\nbo@example.org;Bo\n'))
    assert [p.line for p in report.problems] == [2] and report.imported == 1


def test_a_quote_running_past_the_field_size_limit_loses_no_other_row(engine, tmp_path):
    import csv

    rows = "".join(f"m{i}@example.org,Member {i}\n" for i in range(20))
    path = write(tmp_path, 'email,name\nbad@example.org,"Never closed\n' + rows)
    limit = csv.field_size_limit(100)
    try:
        report = import_csv(engine, path)
    finally:
        csv.field_size_limit(limit)
    assert [p.line for p in report.problems] == [2] and "malformed CSV" in report.problems[0].reason
    assert report.imported == 20


@pytest.mark.parametrize(
    "header",
    [
        "Email address,Full name,Preferred language,Country,Organisation,Role",
        "Courriel,Nom,Langue,Pays,Organisation,Fonction",
        "ADRESSE E-MAIL , nom complet,LANGUE,pays,organisation,rôle",
        "Correo electrónico,Nombre,Idioma,País,Organización,Cargo",
        "correo electronico,NOMBRE,idioma,pais,organizacion,rol",
        "البريد الإلكتروني,الاسم,اللغة,البلد,المنظمة,الدور",
        "电子邮件,姓名,语言,国家,机构,职务",
        "邮箱,姓名,语言,国家,单位,角色",
        "Электронная почта,Имя,Язык,Страна,Организация,Должность",
    ],
)
def test_header_names_in_the_six_languages(engine, tmp_path, header):
    report = import_csv(engine, write(tmp_path, header + "\nana@example.org,Ana,es,Perú,MINSA,Nurse\n"))
    assert report.imported == 1 and report.problems == []
    with session_scope(engine) as session:
        ana = session.exec(select(Subscriber)).one()
    assert (ana.name, ana.language, ana.country, ana.organization, ana.role) == ("Ana", "es", "Perú", "MINSA", "Nurse")


def test_xlsx_workbook_is_imported_from_its_first_sheet(engine, tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Members"
    sheet.append(["E-mail", "Nom", "Langue", "Pays", "Organisation"])
    sheet.append(["ana@example.org", "Ana Peña", "Español", "Perú", 2024])
    sheet.append([None, None, None, None, None])
    sheet.append(["not-an-address", "Nobody", "en", None, None])
    sheet.append(["wei@example.org", "Wei\u202eZhang", "zh", "China", None])
    workbook.create_sheet("Notes").append(["not read"])
    path = tmp_path / "members.xlsx"
    workbook.save(path)
    report = import_csv(engine, path)
    assert (report.imported, report.source) == (2, 'sheet "Members" of the workbook (its 1 other sheet not read)')
    assert [(p.line, "bad address" in p.reason) for p in report.problems] == [(4, True)]
    with session_scope(engine) as session:
        members = {s.email: s for s in session.exec(select(Subscriber))}
    assert (members["ana@example.org"].name, members["ana@example.org"].organization) == ("Ana Peña", "2024")
    assert members["wei@example.org"].name == "WeiZhang"


def test_a_bad_workbook_is_refused(engine, tmp_path):
    with pytest.raises(ImportFailed, match="old Excel .xls workbook"):
        import_csv(engine, write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls"))
    with pytest.raises(ImportFailed, match="not a readable .xlsx workbook"):
        import_csv(engine, write(tmp_path, b"PK\x03\x04broken", "broken.xlsx"))


def test_control_characters_are_removed_and_cost_no_other_row(any_engine, tmp_path):
    """A NUL used to roll back the whole batch on PostgreSQL; now it is cleaned away on both."""
    rows = [f"m{i}@example.org,Member {i},en\n" for i in range(5)]
    rows[2] = "m2@example.org,Nu\x00ll \u202eEvil\u202c\u200b Name\x7f,en\n"
    rows[3] = "m3\x00@example.org,Three,en\n"
    report = import_csv(any_engine, write(tmp_path, "email,name,language\n" + "".join(rows)), batch_size=10)
    assert report.imported == 4
    assert [(p.line, "bad address" in p.reason) for p in report.problems] == [(5, True)]
    with session_scope(any_engine) as session:
        names = dict(session.exec(select(Subscriber.email, Subscriber.name)).all())
    assert names["m2@example.org"] == "Null Evil Name" and len(names) == 4


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


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "empty"),
        ("name,country\nAna,Peru\n", "'email' column"),
    ],
)
def test_whole_file_problems(engine, tmp_path, content, message):
    with pytest.raises(ImportFailed, match=message):
        import_csv(engine, write(tmp_path, content))


def test_unknown_topic_or_pod_stops_before_writing(engine, tmp_path):
    with pytest.raises(ImportFailed, match="unknown topic: nope"):
        import_csv(engine, write(tmp_path, "email\nana@example.org\n"), topics=["nope"])
    with session_scope(engine) as session:
        assert session.exec(select(Subscriber)).all() == []


def test_a_row_the_database_refuses_costs_only_itself(any_engine, tmp_path, monkeypatch):
    """The batch is written again row by row, each in a SAVEPOINT, on SQLite and PostgreSQL."""
    from sqlalchemy.exc import OperationalError

    import gll_mail.importer as importer

    real = importer._link

    def flaky(conn, table, column, subscriber_ids, *args, **kwargs):
        refused = conn.execute(select(Subscriber.id).where(Subscriber.email == "m3@example.org")).scalar()
        if table is importer.SUB and refused in subscriber_ids:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(conn, table, column, subscriber_ids, *args, **kwargs)

    with session_scope(any_engine) as session:
        catalog.create_topic(session, slug="announcements", name="GLL announcements")
    monkeypatch.setattr(importer, "_link", flaky)
    rows = "".join(f"m{i}@example.org\n" for i in range(6))
    report = import_csv(any_engine, write(tmp_path, "email\n" + rows), topics=["announcements"], batch_size=4)
    assert report.imported == 5
    assert [(p.line, p.email) for p in report.problems] == [(5, "m3@example.org")]
    assert "the database refused it: OperationalError" in report.problems[0].reason
    with session_scope(any_engine) as session:
        emails = set(session.exec(select(Subscriber.email)))
        assert "m3@example.org" not in emails and len(emails) == 5
        assert len(session.exec(select(Subscription)).all()) == 5
        assert len(session.exec(select(Event)).all()) == 5


def test_dry_run_reports_everything_and_writes_nothing(any_engine, tmp_path):
    import_csv(any_engine, write(tmp_path, "email,name\nold@example.org,Old\n", "a.csv"))
    path = write(tmp_path, "email,name,language\nold@example.org,Renamed,en\nnew@example.org,New,de\nbad,,\n")
    report = import_csv(any_engine, path, dry_run=True)
    assert (report.imported, report.updated, report.skipped, len(report.warnings)) == (1, 1, 1, 1)
    with session_scope(any_engine) as session:
        assert dict(session.exec(select(Subscriber.email, Subscriber.name)).all()) == {"old@example.org": "Old"}
        assert len(session.exec(select(Event)).all()) == 1


def test_cli_dry_run_lists_every_problem_by_line(runner, engine, tmp_path):
    from gll_mail.cli import main

    path = write(tmp_path, "email;nom;langue\nana@example.org;Ana;pt\n" + "".join(f"bad{i};X;en\n" for i in range(250)))
    result = runner.invoke(main, ["subscribers", "import", str(path), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{path}: read as UTF-8 text, separated by ';'." in result.stdout
    assert (
        "Dry run, nothing written: would import 1, update 0, leave 0 unchanged, skip 250. 1 warning(s)."
        in result.stdout
    )
    assert f"{path}:2: <ana@example.org> warning: language 'pt' is not one of" in result.stderr
    assert f"{path}:252: <bad249> skipped: bad address" in result.stderr
    assert result.stderr.count("skipped: bad address") == 250
    shown = runner.invoke(main, ["subscribers", "show", "ana@example.org"])
    assert shown.exit_code == 1 and "no subscriber" in shown.output


def test_cli_refuses_an_undecodable_file_in_one_line(runner, engine, tmp_path):
    from gll_mail.cli import main

    result = runner.invoke(main, ["subscribers", "import", str(write(tmp_path, b"email\n\x81\x8d@x.org\n"))])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 and "nothing imported" in result.output


def test_csv_export_neutralises_formulas(runner, engine, tmp_path):
    import csv
    import io

    from gll_mail.cli import main

    path = write(
        tmp_path,
        "email,name,organization,country,role\n"
        'ana@example.org,"=HYPERLINK(""http://evil.example"",""x"")",+1 MoH,-Peru,@SUM(A1)\n',
    )
    assert runner.invoke(main, ["subscribers", "import", str(path)], catch_exceptions=False).exit_code == 0
    exported = runner.invoke(main, ["subscribers", "export"], catch_exceptions=False).output
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (row["organization"], row["country"], row["role"]) == ("'+1 MoH", "'-Peru", "'@SUM(A1)")
    assert row["email"] == "ana@example.org"
