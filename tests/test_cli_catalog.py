"""CLI parity with the console: catalog updates and archives, names in six languages, pod rosters,
member updates, unsubscribe and erase; one-line errors; --as checks the account's role."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select
from team_support import team

from gll_mail.cli import main
from gll_mail.db import make_engine, session_scope
from gll_mail.models import AuditEntry, Subscriber, Topic


def run(runner, *args, **kw):
    return runner.invoke(main, list(args), **kw)


@pytest.fixture
def cli(runner, settings):
    assert run(runner, "init").exit_code == 0
    (settings.resources_dir).mkdir(parents=True, exist_ok=True)
    (settings.resources_dir / "a.html").write_text("<p>a</p>")
    for args in (
        ("topics", "create", "announcements", "--name", "GLL announcements", "--name-ar", "إعلانات"),
        ("pods", "create", "ipc", "--name", "IPC", "--description-fr", "La PCI"),
        ("resources", "add", "dec-report", "--title", "Report", "--url", "https://www.who.int/a", "--title-zh", "报告"),
    ):
        result = run(runner, *args)
        assert result.exit_code == 0, result.output
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        session.add(Subscriber(email="ana@example.org", name="Ana", registered_at=None))
        team(session)
    yield runner
    engine.dispose()


def test_topics_and_pods_update_archive_in_six_languages(cli, settings):
    result = run(cli, "topics", "update", "announcements", "--name-fr", "Annonces du GLL", "--name-ar", "")
    assert result.exit_code == 0 and "Updated topic announcements: names." in result.output
    result = run(cli, "topics", "list")
    assert "fr" in result.output and "ar" not in result.output.split("GLL announcements")[1].split("\n")[0]
    assert run(cli, "pods", "update", "ipc", "--name", "IPC pod", "--as", "eve").exit_code == 0
    assert "Pod ipc archived." in run(cli, "pods", "archive", "ipc").output
    assert "(archived)" in run(cli, "pods", "list").output
    assert "Pod ipc restored." in run(cli, "pods", "archive", "ipc", "--restore").output
    denied = run(cli, "topics", "archive", "announcements", "--as", "vic")
    assert denied.exit_code == 1 and "vic is a viewer; catalog.edit needs the role editor" in denied.output
    assert len(denied.output.strip().splitlines()) == 1
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        topic = session.exec(select(Topic)).one()
        assert topic.names == {"fr": "Annonces du GLL"} and topic.archived_at is None
        log = [(e.username, e.action) for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    engine.dispose()
    assert ("(command line)", "topic.update") in log and ("eve", "pod.update") in log


def test_resources_update_archive_delete(cli):
    result = run(cli, "resources", "update", "dec-report", "--url", "https://www.who.int/b", "--title-ru", "Доклад")
    assert result.exit_code == 0 and "url" in result.output and "titles" in result.output
    bad = run(cli, "resources", "update", "dec-report", "--url", "ftp://x")
    assert bad.exit_code == 1 and "absolute http(s) URL" in bad.output
    assert "archived" in run(cli, "resources", "archive", "dec-report", "--moved-to", "https://www.who.int/c").output
    assert "(archived)" in run(cli, "resources", "list").output
    assert run(cli, "resources", "delete", "dec-report").exit_code == 0
    missing = run(cli, "resources", "delete", "dec-report")
    assert missing.exit_code == 1 and "no resource 'dec-report'" in missing.output


def test_pod_roster_as_a_table_and_csv(cli):
    assert run(cli, "subscribers", "update", "ana@example.org", "--add-pod", "ipc", "--country", "Chad").exit_code == 0
    assert "ana@example.org" in run(cli, "pods", "roster", "ipc").output
    rows = list(csv.DictReader(io.StringIO(run(cli, "pods", "roster", "ipc", "--csv").output)))
    assert rows[0]["email"] == "ana@example.org" and rows[0]["country"] == "Chad" and rows[0]["joined_at"]


def test_subscribers_update_search_unsubscribe_erase(cli):
    result = run(cli, "subscribers", "update", "ana@example.org", "--name", "Ana Lima", "--add-topic", "announcements")
    assert result.exit_code == 0 and "name, topic +announcements" in result.output
    assert "Ana Lima" in run(cli, "subscribers", "search", "lima").output
    assert "Unsubscribed ana@example.org." in run(cli, "subscribers", "unsubscribe", "ana@example.org").output
    denied = run(cli, "subscribers", "erase", "ana@example.org", "--yes", "--as", "eve")
    assert denied.exit_code == 1 and "member.erase needs the role admin" in denied.output
    refused = run(cli, "subscribers", "erase", "ana@example.org", input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    erased = run(cli, "subscribers", "erase", "ana@example.org", "--yes", "--as", "ada", "--reason", "asked")
    assert erased.exit_code == 0 and "only a hash of the address stays" in erased.output
    gone = run(cli, "subscribers", "erase", "ana@example.org", "--yes")
    assert gone.exit_code == 1 and "no subscriber with address" in gone.output
