"""Every infrastructure failure is one line that says what to do, for every command.

Real components only: the real PostgreSQL server (a missing database, an unknown user), closed
ports for a server that is down, real SQLite files; no command but `init` and `demo` creates a database.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, TEST_KEY, need
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gll_mail.cli import main
from gll_mail.db import engine_for, head_revisions, make_engine, migrate

GLL_MAIL = Path(sys.executable).with_name("gll-mail")


@pytest.fixture(autouse=True)
def fresh_engines():
    """The CLI shares one engine per URL within a process; the relative sqlite:///subscribers.db must
    not reach the folder of an earlier test."""
    engine_for.cache_clear()
    yield
    engine_for.cache_clear()


def closed_port() -> int:
    """A port nothing listens on: bound for a moment, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """The real PostgreSQL server's URL (its own database stays untouched)."""
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        need(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}")
    finally:
        engine.dispose()
    return make_url(POSTGRES_URL)


def broken_url(case: str, postgres_url, tmp_path: Path) -> tuple[str, str]:
    """(GLL_MAIL_DATABASE_URL, what the one line must say) for each way a database can be unusable."""
    missing = f"gll_missing_{uuid.uuid4().hex[:8]}"
    stranger = f"gll_nobody_{uuid.uuid4().hex[:8]}"
    return {
        "unparseable": ("not a url at all", "GLL_MAIL_DATABASE_URL is not a database URL"),
        "missing driver": ("mysql://gll:s3cret@db.example.org/gll", "asks for a mysql database"),
        "server down": (
            f"postgresql://postgres@127.0.0.1:{closed_port()}/gll",
            "cannot reach the database server at 127.0.0.1:",
        ),
        "missing database": (
            postgres_url.set(database=missing).render_as_string(hide_password=False),
            f"the database '{missing}' does not exist on the PostgreSQL server",
        ),
        "wrong user": (
            postgres_url.set(username=stranger, password="s3cret").render_as_string(hide_password=False),
            f"refused user '{stranger}'",
        ),
        "sqlite folder missing": (
            f"sqlite:///{tmp_path / 'no-such-folder' / 'subscribers.db'}",
            f"the folder {tmp_path / 'no-such-folder'} of the SQLite database",
        ),
    }[case]


CASES = ["unparseable", "missing driver", "server down", "missing database", "wrong user", "sqlite folder missing"]
COMMANDS = [
    ["campaign", "list"],
    ["init"],
    ["serve", "--dev", "--port", "1"],
    ["worker"],
    ["subscribers", "export"],
    ["demo", "--no-serve"],
]


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_that_cannot_be_used_is_one_line(runner, postgres, tmp_path, monkeypatch, case, command):
    url, says = broken_url(case, postgres, tmp_path)
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", url)
    result = runner.invoke(main, command)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert says in result.output and "GLL_MAIL_DATABASE_URL" in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    env.update(GLL_MAIL_SECRET_KEYS=TEST_KEY, **values)
    return env


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_line_and_debug_shows_the_traceback(postgres, tmp_path):
    missing = postgres.set(database=f"gll_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    plain = subprocess.run(
        [str(GLL_MAIL), "topics", "list"],
        env=_env(GLL_MAIL_DATABASE_URL=missing),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.count("\n") == 1 and "does not exist on the PostgreSQL server" in plain.stderr
    flag = subprocess.run(
        [str(GLL_MAIL), "--debug", "topics", "list"],
        env=_env(GLL_MAIL_DATABASE_URL=missing),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    variable = subprocess.run(
        [str(GLL_MAIL), "topics", "list"],
        env=_env(GLL_MAIL_DATABASE_URL=missing, GLL_MAIL_DEBUG="1"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for shown in (flag, variable):
        assert shown.returncode == 1
        assert "Traceback (most recent call last)" in shown.stderr and "OperationalError" in shown.stderr


def test_debug_lets_the_exception_through(runner, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/gll")
    result = runner.invoke(main, ["--debug", "campaign", "list"])
    assert isinstance(result.exception, OperationalError)


# --- no silent new database -------------------------------------------------------------------------

DATABASE_COMMANDS = [
    ["campaign", "list"],
    ["campaign", "status", "x"],
    ["topics", "list"],
    ["subscribers", "export"],
    ["suppressions", "list"],
    ["admin", "list"],
    ["bounces", "retry"],
    ["worker"],
    ["serve", "--dev", "--port", "1"],
]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_run_from_the_wrong_folder_no_command_creates_a_database(runner, tmp_path, monkeypatch, command):
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", "sqlite:///subscribers.db")  # the default, relative
    result = runner.invoke(main, command)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"no database at {tmp_path / 'subscribers.db'}" in result.output
    assert "GLL_MAIL_DATABASE_URL" in result.output and "gll-mail init" in result.output
    assert "No campaigns yet" not in result.output
    assert list(tmp_path.glob("subscribers.db*")) == []


def test_init_creates_the_database_the_others_refused(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", "sqlite:///subscribers.db")
    assert runner.invoke(main, ["campaign", "list"]).exit_code == 1
    created = runner.invoke(main, ["init"])
    assert created.exit_code == 0 and f"Database {tmp_path / 'subscribers.db'} migrated" in created.output
    assert "No campaigns yet" in runner.invoke(main, ["campaign", "list"]).output


def test_an_empty_sqlite_file_asks_for_init(runner, settings):
    sqlite3.connect(make_url(settings.database_url).database).close()  # a file with no tables
    result = runner.invoke(main, ["topics", "list"])
    assert result.exit_code == 1
    assert "has no gll-mail tables yet: run `gll-mail init`" in result.output


def test_a_database_behind_on_migrations_asks_for_init(runner, settings):
    engine = make_engine(settings.database_url)
    migrate(engine, "0008")
    engine.dispose()
    result = runner.invoke(main, ["topics", "list"])
    assert result.exit_code == 1
    (newest,) = head_revisions()
    assert f"is at schema 0008, this gll-mail needs {newest}: run `gll-mail init` to migrate it" in result.output
    assert "migrated from 0008" in runner.invoke(main, ["init"]).output
    assert runner.invoke(main, ["topics", "list"]).exit_code == 0


@pytest.mark.postgres
def test_an_empty_postgres_database_asks_for_init(runner, postgres, monkeypatch):
    name = f"gll_empty_{uuid.uuid4().hex[:8]}"
    admin = make_engine(postgres.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres.set(database=name).render_as_string(hide_password=False)
    try:
        monkeypatch.setenv("GLL_MAIL_DATABASE_URL", url)
        result = runner.invoke(main, ["campaign", "list"])
        assert result.exit_code == 1 and "has no gll-mail tables yet: run `gll-mail init`" in result.output
        assert runner.invoke(main, ["init"]).exit_code == 0
        assert "No campaigns yet" in runner.invoke(main, ["campaign", "list"]).output
    finally:
        engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- SMTP ---------------------------------------------------------------------------------------------


def test_a_worker_with_no_smtp_server_is_one_line_naming_the_setting(runner, engine, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", f"smtp://gll:s3cret@127.0.0.1:{port}")
    result = runner.invoke(main, ["worker"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"cannot reach the SMTP server at 127.0.0.1:{port}" in result.output
    assert "GLL_MAIL_SMTP_URL" in result.output and "s3cret" not in result.output


def test_a_test_send_with_no_smtp_server_names_the_setting(runner, engine, tmp_path, monkeypatch):
    from delivery_support import add_subscribers, write_campaign

    add_subscribers(engine, 2)
    write_campaign(tmp_path / "campaigns")
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(tmp_path / "campaigns"))
    port = closed_port()
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    result = runner.invoke(main, ["campaign", "test", "note", "--to", "lead@example.org", "--force"])
    assert result.exit_code == 1, result.output
    assert f"cannot reach the SMTP server at 127.0.0.1:{port}" in result.output
    assert "GLL_MAIL_SMTP_URL" in result.output and "Traceback" not in result.output


# --- settings -----------------------------------------------------------------------------------------


def test_settings_shows_values_with_secrets_masked_and_the_resolved_database(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", "sqlite:///data/subscribers.db")
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", "smtp://mailer:smtp-pa55@mail.example.org:587?starttls=true")
    monkeypatch.setenv("GLL_MAIL_SECRET_KEYS", TEST_KEY + ",an-older-key-0123456789abcdefghijklmnop")
    result = runner.invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "GLL_MAIL_SMTP_URL = smtp://mailer:***@mail.example.org:587?starttls=true" in out
    assert "smtp-pa55" not in out and TEST_KEY not in out and "GLL_MAIL_SECRET_KEYS = *** (2 keys)" in out
    assert "GLL_MAIL_DATABASE_URL = sqlite:///data/subscribers.db\n" in out
    assert f"database file {tmp_path / 'data' / 'subscribers.db'} (does not exist" in out
    assert "GLL_MAIL_RATE_PER_SECOND = 0.0  (default)" in out and "GLL_MAIL_DEBUG = false  (default)" in out
    assert not (tmp_path / "data").exists()


def test_settings_masks_the_password_of_a_postgres_url(runner, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_DATABASE_URL", "postgresql://gll:db-pa55@db.example.org/gll")
    out = runner.invoke(main, ["settings"]).output
    assert "GLL_MAIL_DATABASE_URL = postgresql://gll:***@db.example.org/gll" in out and "db-pa55" not in out
