"""The console's API tokens page: admins create (the secret shown once) and revoke tokens; nobody else
sees the page. And in chromium: the page, desktop and phone, with the accessibility check."""

from __future__ import annotations

import pytest
from console_support import post, signed_in
from sqlmodel import Session, select
from test_console_browser import SHOTS, console_site, shot, sign_in  # noqa: F401 - fixtures
from test_web_browser import browser  # noqa: F401 - the browser fixture

from gll_mail.models import ApiToken


def test_admins_create_and_revoke_tokens_in_the_console(console):
    settings, app = console
    ada = signed_in(app, "ada")
    page = ada.get("/admin/api-tokens")
    assert page.status_code == 200 and b"No tokens yet" in page.data
    made = post(ada, "/admin/api-tokens", "/admin/api-tokens", action="create", name="sync", role="editor", user="eve")
    text = made.get_data(as_text=True)
    assert made.status_code == 200 and "not shown again" in text
    secret = text.split('id="new-secret" class="secret" value="')[1].split('"')[0]
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}", "Host": "gll.example.org"}
    assert api.get("/api/v1/subscribers", headers=headers).status_code == 200
    assert secret not in ada.get("/admin/api-tokens").get_data(as_text=True)
    too_much = post(
        ada, "/admin/api-tokens", "/admin/api-tokens", action="create", name="boss", role="admin", user="eve"
    )
    assert too_much.status_code == 302
    assert "at most editor" in ada.get("/admin/api-tokens").get_data(as_text=True)
    post(ada, "/admin/api-tokens", "/admin/api-tokens", action="revoke", name="sync")
    assert api.get("/api/v1/subscribers", headers=headers).status_code == 401
    with Session(app.extensions["gll_mail"].engine) as session:
        assert session.exec(select(ApiToken).where(ApiToken.name == "sync")).one().revoked_at is not None


@pytest.mark.parametrize("username", ["eve", "abe", "vic"])
def test_only_admins_see_the_tokens_page(console, username):
    _settings, app = console
    client = signed_in(app, username)
    assert client.get("/admin/api-tokens").status_code == 403
    assert b"API tokens" not in client.get("/admin/campaigns").data


@pytest.mark.browser
def test_tokens_page_in_the_browser(console_site, browser):  # noqa: F811
    _live, base = console_site
    for viewport in ("desktop", "phone"):
        ada = sign_in(browser, base, "ada", viewport)
        ada.goto(base + "/admin/api-tokens")
        if viewport == "desktop":
            ada.fill("#token-name", "platform-sync")
            ada.select_option("#token-role", "editor")
            ada.select_option("#token-user", "eve")
            ada.click("button:has-text('Create the token')")
            ada.wait_for_selector("#new-secret")
            ada.screenshot(path=str(SHOTS / "console-api-tokens-new-desktop.png"), full_page=True)
        shot(ada, "api-tokens", viewport, base + "/admin/api-tokens")
        ada.context.close()
