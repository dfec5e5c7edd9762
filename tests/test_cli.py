"""The foundation's commands through Click's runner, on a real SQLite database."""

from __future__ import annotations

import csv
import io
import json

import pytest

from gll_mail.cli import main


def invoke(runner, *args, **kw):
    return runner.invoke(main, list(args), catch_exceptions=False, **kw)


@pytest.fixture
def team(runner):
    """The runner once `gll-mail init` has created the database (no other command creates one)."""
    assert invoke(runner, "init").exit_code == 0
    return runner


def test_init_creates_then_reports_up_to_date(runner):
    first = invoke(runner, "init")
    assert first.exit_code == 0 and "migrated from empty" in first.output
    again = invoke(runner, "init")
    assert again.exit_code == 0 and "up to date" in again.output


def test_catalog_commands(team):
    assert invoke(team, "topics", "create", "announcements", "--name", "GLL announcements").exit_code == 0
    assert "GLL announcements" in invoke(team, "topics", "list").output
    assert invoke(team, "pods", "create", "compassion", "--name", "Compassion").exit_code == 0
    assert "compassion" in invoke(team, "pods", "list").output
    added = invoke(
        team,
        "resources",
        "add",
        "scoping",
        "--title",
        "Scoping report",
        "--url",
        "https://www.who.int/r",
        "--access",
        "pod:compassion",
    )
    assert added.exit_code == 0, added.output
    listing = invoke(team, "resources", "list").output
    assert "scoping" in listing and "pod:compassion" in listing


def test_domain_errors_are_one_line_messages(team):
    result = team.invoke(
        main, ["resources", "add", "x", "--title", "X", "--url", "https://who.int/x", "--access", "pod:nope"]
    )
    assert result.exit_code == 1
    assert "Error: no learning pod 'nope'" in result.output
    assert "Traceback" not in result.output
    shown = team.invoke(main, ["subscribers", "show", "nobody@example.org"])
    assert shown.exit_code == 1 and "no subscriber" in shown.output


def test_import_show_export_and_pods(team, tmp_path):
    invoke(team, "topics", "create", "announcements", "--name", "GLL announcements")
    invoke(team, "pods", "create", "ipc", "--name", "IPC")
    path = tmp_path / "m.csv"
    path.write_text("email,name,language\nana@example.org,Ana,es\nbroken,,\n", encoding="utf-8")
    result = invoke(team, "subscribers", "import", str(path), "--topic", "announcements", "--registered")
    assert result.exit_code == 0
    assert "Imported 1, updated 0, unchanged 0, skipped 1." in result.stdout
    assert f"{path}:3: <broken> skipped: bad address" in result.stderr

    assert "added to ipc" in invoke(team, "pods", "add", "ipc", "ANA@example.org").output
    shown = json.loads(invoke(team, "subscribers", "show", "ana@example.org", "--json").output)
    assert shown["language"] == "es" and shown["topics"] == ["announcements"] and shown["pods"] == ["ipc"]
    assert shown["registered_at"] and [e["type"] for e in shown["events"]] == ["pod-joined", "imported"]
    assert "Ana" in invoke(team, "subscribers", "show", "ana@example.org").output

    rows = list(csv.DictReader(io.StringIO(invoke(team, "subscribers", "export").output)))
    assert [(r["email"], r["topics"], r["pods"]) for r in rows] == [("ana@example.org", "announcements", "ipc")]
    as_json = json.loads(invoke(team, "subscribers", "export", "--format", "json").output)
    assert as_json[0]["email"] == "ana@example.org"
    assert "removed from ipc" in invoke(team, "pods", "remove", "ipc", "ana@example.org").output


def test_import_exits_non_zero_only_when_nothing_imported(team, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnope\nalso-nope\n", encoding="utf-8")
    result = team.invoke(main, ["subscribers", "import", str(bad)])
    assert result.exit_code == 1 and "nothing could be imported" in result.output
    missing = team.invoke(main, ["subscribers", "import", str(tmp_path / "missing.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_production_settings_refused_with_a_clear_message(runner, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_ENV", "production")
    monkeypatch.setenv("GLL_MAIL_SECRET_KEYS", "dev-only-insecure-secret-change-me")
    result = runner.invoke(main, ["topics", "list"])
    assert result.exit_code == 1 and "placeholder" in result.output and "Traceback" not in result.output


def test_every_command_has_help(runner):
    def walk(group, path):
        for name, command in group.commands.items():
            result = invoke(runner, *path, name, "--help")
            assert result.exit_code == 0 and "Usage:" in result.output
            assert command.help or command.short_help, f"{' '.join(path + [name])} has no help text"
            if hasattr(command, "commands"):
                walk(command, path + [name])

    walk(main, [])
