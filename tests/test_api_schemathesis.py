"""Schemathesis against the live OpenAPI document of a running `gll-mail serve` (gunicorn): no answer
is a 5xx, and every answer conforms to the document (status, content type, body schema)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import schemathesis
from conftest import TEST_KEY
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_cli_serve import BIN, free_port, wait_for

from gll_mail.db import session_scope
from gll_mail.team.api_tokens import create_token
from gll_mail.team.audit import COMMAND_LINE

MAX_EXAMPLES = 3
# no 5xx, and status, content type, headers and body as the document says; a 4xx for a request the
# schema allows is fine here (an unknown pod, a refused address: the domain's rules are not in the schema)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def live_api(team_settings, any_engine, tmp_path):
    """(base URL, an admin's token) of `gll-mail serve` on SQLite or PostgreSQL."""
    from team_support import seed_catalog, team

    engine = any_engine
    team_settings = team_settings.replace(database_url=engine.url.render_as_string(hide_password=False))

    with session_scope(engine) as session:
        seed_catalog(session, team_settings)
        team(session)
    with session_scope(engine) as session:
        secret = create_token(session, COMMAND_LINE, "fuzz", "admin", username="ada")[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    env.update(
        GLL_MAIL_ENV="test",
        GLL_MAIL_DATABASE_URL=team_settings.database_url,
        GLL_MAIL_SECRET_KEYS=TEST_KEY,
        GLL_MAIL_BASE_URL=f"http://127.0.0.1:{port}",
        GLL_MAIL_CAMPAIGNS_DIR=str(team_settings.campaigns_dir),
        GLL_MAIL_TEMPLATES_DIR=str(team_settings.templates_dir),
        GLL_MAIL_RESOURCES_DIR=str(tmp_path / "resources"),
        GLL_MAIL_API_RATE_LIMIT="0",
    )
    log = (tmp_path / "serve.log").open("wb")  # the server's tracebacks, shown when the test fails
    proc = subprocess.Popen(
        [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", timeout=90)  # gunicorn starts slowly on a loaded machine
        yield f"http://127.0.0.1:{port}", secret, tmp_path / "serve.log"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()


def _checker(operation, base: str, secret: str, failures: list[str]):
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=20)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis reports every failed check together (a group)
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")

    return run


@pytest.mark.slow
def test_the_live_api_conforms_to_its_document(live_api):
    base, secret, log = live_api
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    failures: list[str] = []
    checked = 0
    for operation in schema.get_all_operations():
        _checker(operation.ok(), base, secret, failures)()
        checked += 1
    assert checked >= 45
    tracebacks = log.read_text(errors="replace").split("Traceback")[1:4]
    assert not failures, "\n".join(sorted(set(failures))[:12]) + "\n\nserver:\n" + "\nTraceback".join(tracebacks)
