"""Helpers for the console tests: an app on this test's own campaigns folder, with the catalog and the
team of tests/team_support.py, and signing in as one of them."""

from __future__ import annotations

import pytest
from team_support import PASSWORD, seed_catalog, team
from web_support import csrf

from gll_mail.web import create_app


@pytest.fixture
def console(team_settings, engine, session):
    """(settings, app) with the catalog and one account per role (ada admin, eve editor, abe and amy
    approvers, vic viewer)."""
    seed_catalog(session, team_settings)
    team(session)
    session.commit()
    return team_settings, create_app(team_settings, engine)


def signed_in(app, username: str):
    client = app.test_client()
    token = csrf(client.get("/admin/login"))
    r = client.post("/admin/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


def post(client, url: str, page_url: str | None = None, **data):
    """POST a console form with the CSRF token of the page it is on (``page_url``, else the campaigns page)."""
    token = csrf(client.get(page_url or "/admin/campaigns"))
    return client.post(url, data={"csrf_token": token, **data})
