"""Shared fixtures: real SQLite and PostgreSQL databases, a real SMTP server, settings, CLI runner.

PostgreSQL: ``GLL_MAIL_TEST_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test). Each
pytest-xdist worker gets its own throw-away database, so tests run in parallel safely. With
``CI=true`` an unreachable server fails the run; locally those tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gll_mail.db import make_engine, migrate, session_scope
from gll_mail.settings import Settings
from gll_mail.smtp.sink import LocalSMTPServer

pytest_plugins = ["web_support", "console_support"]  # the member web fixtures: web_settings, app, client

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("GLL_MAIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_KEY = "test-secret-key-0123456789abcdefghijklmnop"


def need(reason: str):
    """Skip locally, fail in CI: CI must run every test."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'subscribers.db'}",
        base_url="https://gll.example.org",
        secret_keys=(TEST_KEY,),
        smtp_url="smtp://127.0.0.1:25",
        campaigns_dir=REPO / "campaigns",
        templates_dir=REPO / "templates" / "emails",
        resources_dir=tmp_path / "resources",
    )


@pytest.fixture
def engine(settings: Settings):
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with session_scope(engine) as session:
        yield session


@pytest.fixture(scope="session")
def postgres_server_url():
    """A fresh database on the real PostgreSQL server for this test process."""
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        need(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}")
    name = f"gll_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(postgres_server_url):
    engine = make_engine(postgres_server_url)
    migrate(engine)
    yield engine
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request):
    """The same test on the embedded SQLite default and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("engine")
    return request.getfixturevalue("pg_engine")


@pytest.fixture
def team_settings(settings, tmp_path):
    """Settings whose campaigns and layouts folders are this test's own (the team console tests)."""
    templates = tmp_path / "layouts"
    shutil.copytree(REPO / "templates" / "emails", templates)
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    return settings.replace(campaigns_dir=campaigns, templates_dir=templates)


@pytest.fixture
def smtp_server(tmp_path: Path):
    with LocalSMTPServer(tmp_path / "outbox") as server:
        yield server


@pytest.fixture
def runner(settings: Settings, monkeypatch, tmp_path: Path) -> CliRunner:
    """A CLI runner whose GLL_MAIL_* environment points at this test's database."""
    for name in list(os.environ):
        if name.startswith("GLL_MAIL_"):
            monkeypatch.delenv(name)
    env = {
        "GLL_MAIL_ENV": "test",
        "GLL_MAIL_DATABASE_URL": settings.database_url,
        "GLL_MAIL_BASE_URL": settings.base_url,
        "GLL_MAIL_SECRET_KEYS": TEST_KEY,
        "GLL_MAIL_CAMPAIGNS_DIR": str(settings.campaigns_dir),
        "GLL_MAIL_TEMPLATES_DIR": str(settings.templates_dir),
        "GLL_MAIL_RESOURCES_DIR": str(settings.resources_dir),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return CliRunner()
