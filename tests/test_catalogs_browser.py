"""The pseudo-locale in Debian's chromium: every member page and email layout with every message about
40 % longer and accented (gll_mail/i18n/pseudo.py), at phone width, must not overflow sideways.

The pseudo catalog stands in for English (the members' and the pages' language here is ``en``).
Screenshots go to docs/screenshots/pseudo-<page>-phone.png: plain English in them is a word that
escaped the catalogs."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

import pytest
from conftest import REPO, need
from sqlmodel import select
from web_support import ARGS, CHROMIUM, add_member
from werkzeug.serving import make_server

from gll_mail import links
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, Recipient
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog
from gll_mail.i18n import catalogs
from gll_mail.i18n.pseudo import pseudo_translations
from gll_mail.models import Resource, utcnow
from gll_mail.web import create_app, pages

pytestmark = pytest.mark.browser

SHOTS = REPO / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.display === 'none' || style.visibility === 'hidden' || el.closest('.skip')) continue;
    if (box.width < 2 || box.height < 2) continue;
    if (box.right > width + 1 || box.left < -1) out.push(el.tagName + ' ' + (el.innerText || '').slice(0, 60));
  }
  return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 8)};
}"""


@pytest.fixture
def pseudo_english():
    catalogs.use("en", pseudo_translations())
    yield
    catalogs.forget()


@pytest.fixture
def site(settings, engine, session, smtp_server, pseudo_english):
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live = settings.replace(base_url=base, smtp_url=smtp_server.url)
    seed_catalog(session, live.resources_dir)
    session.commit()
    holder["app"] = create_app(live, engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, base, holder["app"]
    server.shutdown()
    thread.join(5)


@pytest.fixture
def phone():
    if not Path(CHROMIUM).exists():
        need("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            viewport=PHONE, java_script_enabled=False, device_scale_factor=1, is_mobile=True, locale="en"
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def fits(page, name: str) -> None:
    """The page has no horizontal overflow at phone width; its screenshot is saved."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"pseudo-{name}-phone.png"), full_page=True)
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"] and not found["out"], (name, found)
    heading = page.locator("h1").first
    if heading.count():
        assert "[" in heading.inner_text(), (name, heading.inner_text())  # the pseudo catalog was used


def test_every_member_page_fits_a_phone_in_the_pseudo_locale(site, phone, session, smtp_server):
    settings, base, app = site
    page = phone
    newcomer = add_member(session, "newcomer@example.org", registered=False, name="")
    member = add_member(session, "member@example.org", name="Amina Haddad")

    page.goto(links.gate_url(settings, newcomer.public_id, "codevelopment-synthesis-report"))
    fits(page, "register-resource")
    page.goto(links.join_pod_url(settings, newcomer.public_id, "compassion"))
    fits(page, "register-pod")
    page.goto(base + "/register")
    page.click("button[type=submit]")  # nothing filled in: every error at once
    assert page.locator("p.error").count() >= 3
    fits(page, "register-errors")
    page.fill("#email", "visitor@example.org")
    page.fill("#name", "Amina Haddad")
    page.check("#consent")
    page.click("button[type=submit]")
    fits(page, "check-email")
    mail = _plain(sorted(Path(smtp_server.folder).glob("*.eml"))[-1].read_bytes().decode())
    assert mail.startswith("[Đééààŕ [Çööľľééààĝûûéé]")  # the confirmation email is pseudo-translated too
    confirm = re.search(r"/confirm/[A-Za-z0-9._-]+", mail).group(0)
    page.goto(base + confirm)
    fits(page, "confirm")
    page.click("button[type=submit]")
    fits(page, "confirmed")

    page.goto(links.gate_url(settings, member.public_id, "compassion-scoping-report"))
    fits(page, "join-pod")
    page.click("button[value=join]")
    page.goto(links.join_pod_url(settings, member.public_id, "compassion"))
    fits(page, "in-pod")
    page.goto(links.manage_url(settings, member.public_id))
    page.fill("#name", "")
    page.uncheck("#topic-announcements") if page.is_checked("#topic-announcements") else None
    page.click("button[value=profile]")
    fits(page, "manage-errors")
    page.goto(links.manage_url(settings, member.public_id))
    page.click("button[value=pause]")
    fits(page, "manage-paused")
    page.goto(links.unsubscribe_url(settings, member.public_id))
    fits(page, "unsubscribe")
    page.click("main button[type=submit]")
    fits(page, "unsubscribed")
    page.goto(links.manage_url(settings, member.public_id))
    page.click("button[value=delete-ask]")
    fits(page, "delete-confirm")
    page.click("button[value=delete]")
    fits(page, "deleted")

    resource = session.exec(select(Resource).where(Resource.slug == "compassion-tools")).one()
    resource.archived_at, resource.moved_to = utcnow(), "https://www.who.int/publications"
    session.add(resource)
    session.commit()
    other = add_member(session, "other@example.org")
    page.goto(links.gate_url(settings, other.public_id, "compassion-tools"))
    fits(page, "archived")

    # the pages a browser reaches only by a failure: rendered by the app, shown from the site's origin
    shown = {}
    with app.test_request_context(base + "/", headers={"Accept-Language": "en"}):
        for kind, status in [("400", 400), ("wrong", 400), ("404", 404), ("410", 410), ("405", 405)]:
            shown[f"error-{kind}"] = pages.error_page(status, kind).get_data(as_text=True)
        for kind, status in [("413", 413), ("429", 429), ("500", 500), ("csrf", 403)]:
            shown[f"error-{kind}"] = pages.error_page(status, kind).get_data(as_text=True)
        shown["send-failed"] = pages.page("message.html", 503, message="send-failed").get_data(as_text=True)
    for name, html in shown.items():
        page.goto(base + "/register")
        page.set_content(html)
        fits(page, name)


def _plain(raw: str) -> str:
    from email import message_from_string, policy

    return message_from_string(raw, policy=policy.default).get_body(("plain",)).get_content()


@pytest.mark.parametrize("layout", ["report-release", "announcement", "event", "corrigendum"])
def test_every_email_layout_fits_a_phone_in_the_pseudo_locale(settings, session, phone, pseudo_english, layout):
    seed_catalog(session, settings.resources_dir)
    original = load_source(REPO / "campaigns" / "2019-06-compassion-reports.md")
    sync_campaign(session, original)
    session.commit()
    if layout == "corrigendum":
        source = load_source(REPO / "campaigns" / "2019-06-18-corrigendum.md")
    else:
        source = dataclasses.replace(original, template=layout, kind=layout)
    message = CampaignRenderer(settings, session, source).render(
        Recipient("PseudoPublicId0001", "amina@example.org", "Amina Haddad", "en")
    )
    page = phone
    page.route("**/*", lambda route: route.abort())  # an email must not need the network
    page.set_content(message.html)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"pseudo-email-{layout}-phone.png"), full_page=True)
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"] and not found["out"], (layout, found)
    assert "[Ţĥéé ĜĽĽ Ţééààɱ" in message.html and "[Ţĥéé ĜĽĽ Ţééààɱ" in message.text
