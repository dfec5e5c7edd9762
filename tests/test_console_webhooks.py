"""Webhooks in the console: admins only; add (the secret shown once), send a test event to a real
receiver, rotate, remove after a confirmation, the delivery log; and the pages in chromium."""

from __future__ import annotations

import re
import threading

import pytest
from console_support import signed_in
from playwright.sync_api import expect
from sqlmodel import select
from team_support import seed_catalog, team
from test_console_browser import shot, sign_in
from test_web_browser import browser  # noqa: F401 - the browser fixture
from web_support import csrf
from webhook_support import Receiver
from werkzeug.serving import make_server

from gll_mail.models import AuditEntry, WebhookEndpoint
from gll_mail.web import create_app
from gll_mail.webhooks.sender import deliver_all

PAGE = "/admin/webhooks"


def post(client, **data):
    """POST the webhooks form with the page's CSRF token."""
    return client.post(PAGE, data={"csrf_token": csrf(client.get("/admin/campaigns")), **data})


def test_only_admins_see_and_change_webhooks(console):
    _, app = console
    for username in ("vic", "eve", "abe"):
        client = signed_in(app, username)
        assert client.get(PAGE).status_code == 403
        assert client.get(PAGE + "/deliveries").status_code == 403
        assert "Webhooks" not in client.get("/admin/campaigns").get_data(as_text=True)
        assert post(client, action="add", url="http://127.0.0.1:9/x", events="pod.joined").status_code == 403
    assert app.test_client().get(PAGE).status_code == 302  # to the sign-in
    ada = signed_in(app, "ada")
    assert 'href="/admin/webhooks"' in ada.get("/admin/campaigns").get_data(as_text=True)
    assert ada.post(PAGE, data={"action": "add", "url": "http://127.0.0.1:9/x", "events": "all"}).status_code in (
        400,
        403,
    )  # no CSRF token


def test_add_test_rotate_remove_and_the_log(console, engine, session):
    settings, app = console
    ada = signed_in(app, "ada")
    with Receiver() as receiver:
        added = post(ada, action="add", url=receiver.url, events=["pod.joined", "pod.left"], description="Forum")
        html = added.get_data(as_text=True)
        assert added.status_code == 200
        secret = re.search(r"<code>(whsec_[^<]+)</code>", html).group(1)
        assert secret not in ada.get(PAGE).get_data(as_text=True)  # shown once
        endpoint = session.exec(select(WebhookEndpoint)).one()
        assert endpoint.events == ["pod.joined", "pod.left"] and endpoint.created_by == "ada"
        tested = post(ada, action="test", endpoint=endpoint.public_id)
        assert tested.status_code == 302 and "/admin/webhooks/deliveries" in tested.headers["Location"]
        deliver_all(engine, settings)
        ((_, payload),) = receiver.events(secret)
        assert payload["type"] == "webhook.test"
    log = ada.get(PAGE + "/deliveries?hook=" + endpoint.public_id).get_data(as_text=True)
    assert "webhook.test" in log and "delivered" in log and "204" in log and "1 delivered" in log
    rotated = post(ada, action="rotate", endpoint=endpoint.public_id).get_data(as_text=True)
    assert re.search(r"<code>whsec_", rotated) and secret not in rotated
    refused = post(ada, action="remove", endpoint=endpoint.public_id)
    assert refused.status_code == 400 and "tick the box" in refused.get_data(as_text=True)
    bad = post(ada, action="add", url="ftp://x.example/", events=["complaint"])
    assert bad.status_code == 400 and "http:// or https://" in bad.get_data(as_text=True)
    assert post(ada, action="remove", endpoint=endpoint.public_id, confirm="yes").status_code == 302
    session.expire_all()
    assert session.exec(select(WebhookEndpoint)).all() == []
    actions = [a.action for a in session.exec(select(AuditEntry).where(AuditEntry.object_type == "webhook"))]
    assert actions == ["webhook.add", "webhook.test", "webhook.rotate-secret", "webhook.remove"]
    assert all(a.username == "ada" for a in session.exec(select(AuditEntry).where(AuditEntry.object_type == "webhook")))


@pytest.fixture
def webhooks_site(team_settings, engine, session):
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live = team_settings.replace(base_url=base)
    seed_catalog(session, live)
    team(session)
    session.commit()
    holder["app"] = create_app(live, engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, base
    server.shutdown()
    thread.join(5)


@pytest.mark.browser
def test_the_webhooks_pages_in_a_browser(webhooks_site, browser, engine):  # noqa: F811
    settings, base = webhooks_site
    with Receiver(plan=[503]) as receiver:
        for viewport in ("desktop", "phone"):
            page = sign_in(browser, base, "ada", viewport)
            page.goto(base + PAGE)
            if viewport == "desktop":
                page.fill("#w-url", receiver.url)
                page.check("label:has-text('subscriber.created')")
                page.check("label:has-text('subscriber.unsubscribed')")
                page.fill("#w-description", "GLL community platform: members and consent")
                page.click("button:has-text('Add the endpoint')")
                expect(page.locator("p.notice")).to_contain_text("whsec_")
                page.click("button:has-text('Send test event')")
                expect(page.locator("h1")).to_have_text("Webhook deliveries")
                deliver_all(engine, settings)  # the receiver answers 503 first: a retry is scheduled
                page.reload()
                expect(page.locator("table")).to_contain_text("503")
            shot(page, "webhooks", viewport, base + PAGE)
            shot(page, "webhook-deliveries", viewport, base + PAGE + "/deliveries")
            page.context.close()
