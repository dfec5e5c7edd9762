"""End to end in Debian's headless chromium, JavaScript off: from a real captured .eml to the resource.

A live server (werkzeug, threaded, ephemeral port) runs the member web on this test's database; a
real local SMTP server captures the campaign email we send and the confirmation email the site
sends. Screenshots of every page go to docs/screenshots/ (desktop and phone, English and Arabic), and
every screenshotted page passes an accessibility check (labels, names, contrast, keyboard focus order).
"""

from __future__ import annotations

import re
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import REPO, need
from sqlmodel import select
from web_support import ARGS, CHROMIUM, add_member, check_accessibility
from werkzeug.serving import make_server

from gll_mail import links
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, Recipient
from gll_mail.campaigns.sources import load_source
from gll_mail.catalog import display_name
from gll_mail.demo.data import seed_catalog
from gll_mail.i18n import translator
from gll_mail.models import (
    Pod,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)
from gll_mail.smtp.client import SmtpConfig, send_one
from gll_mail.tokens import read_token
from gll_mail.web import create_app

SHOTS = REPO / "docs" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
VARIANTS = [("en", "desktop"), ("en", "phone"), ("ar", "desktop"), ("ar", "phone")]
CAMPAIGN = REPO / "campaigns" / "2019-06-compassion-reports.md"

pytestmark = pytest.mark.browser


@pytest.fixture
def site(settings, engine, session, smtp_server):
    """(settings, base URL) of a live member web whose links and confirmation mail point at itself."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live = settings.replace(base_url=base, smtp_url=smtp_server.url)
    seed_catalog(session, live.resources_dir)
    session.commit()
    holder["app"] = create_app(live, engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, base
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        need("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(viewport: str, locale: str | None = None):
        """A page in a fresh context; ``locale`` sets the browser language (Accept-Language)."""
        context = browser.new_context(
            viewport=VIEWPORTS[viewport],
            java_script_enabled=False,
            locale=locale,
            device_scale_factor=1,
            is_mobile=viewport == "phone",
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shot(page, name: str, language: str, viewport: str) -> None:
    """Save docs/screenshots/<name>-<language>-<viewport>.png, then check the page's accessibility."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{language}-{viewport}.png"), full_page=True)
    check_accessibility(page, language)


def mail_campaign(settings, session, smtp_server, member: Subscriber) -> None:
    """Render the real campaign for ``member`` and send it through the SMTP server (which keeps a .eml)."""
    source = load_source(CAMPAIGN)
    campaign = sync_campaign(session, source)
    session.commit()
    rendered = CampaignRenderer(settings, session, source, campaign).render(
        Recipient(member.public_id, member.email, member.name, member.language)
    )
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.from_address, member.email, rendered.subject
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    errors = []

    def send():  # Playwright's sync API runs an event loop in this thread; asyncio.run needs its own
        try:
            send_one(SmtpConfig.from_url(smtp_server.url), message)
        except Exception as exc:
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(30)
    assert not errors, errors


def captured(smtp_server, number: int):
    """The ``number``-th .eml the SMTP server wrote (1-based), parsed from disk."""
    files = sorted(Path(smtp_server.folder).glob("*.eml"))
    assert len(files) >= number, files
    return message_from_bytes(files[number - 1].read_bytes(), policy=policy.default)


def link_in_html(message, base: str, path: str, settings=None, purpose=None, resource=None) -> str:
    html = message.get_body(("html",)).get_content()
    for href in re.findall(r'href="(' + re.escape(base + path) + r'[^"]+)"', html):
        if resource is None or read_token(settings, purpose, href.rsplit("/", 1)[1]).extra.get("r") == resource:
            return href
    raise AssertionError(f"no {path} link for {resource} in the email")


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_non_member_registers_from_the_email_and_lands_on_the_resource(
    site, new_page, session, smtp_server, language, viewport
):
    settings, base = site
    newcomer = add_member(session, f"newcomer-{language}@example.org", registered=False, name="", language=language)
    mail_campaign(settings, session, smtp_server, newcomer)
    link = link_in_html(captured(smtp_server, 1), base, "/r/", settings, "gate", "codevelopment-synthesis-report")

    page = new_page(viewport)
    page.goto(link)
    assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "ar" else "ltr")
    assert newcomer.email in page.inner_text("main")
    shot(page, "register", language, viewport)
    page.fill("#name", "Amina Haddad")
    page.fill("#country", "Jordan")
    page.fill("#organization", "Al Bashir Hospital")
    page.fill("#role", "Nurse")
    page.check("#consent")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() in ("Check your email", "تحقّق من بريدك الإلكتروني")
    shot(page, "check-email", language, viewport)

    confirmation = captured(smtp_server, 2)
    assert confirmation["To"] == newcomer.email
    confirm = re.search(re.escape(base) + r"/confirm/\S+", confirmation.get_body(("plain",)).get_content()).group(0)
    page.goto(confirm)
    shot(page, "confirm", language, viewport)
    page.click("button[type=submit]")
    assert "GLL co-development call synthesis report" in page.inner_text("body")
    assert page.url.startswith(base + "/r/")
    session.expire_all()
    member = session.get(Subscriber, newcomer.id)
    assert member.is_registered and member.name == "Amina Haddad" and member.consent_ip == "127.0.0.1"


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_member_joins_a_pod_through_a_gated_link(site, new_page, session, smtp_server, language, viewport):
    settings, base = site
    member = add_member(session, f"member-{language}@example.org", language=language)
    mail_campaign(settings, session, smtp_server, member)
    link = link_in_html(captured(smtp_server, 1), base, "/r/", settings, "gate", "compassion-scoping-report")
    page = new_page(viewport)
    page.goto(link)
    shot(page, "join-pod", language, viewport)
    page.click("button[type=submit]")
    assert "Scoping report on compassion and quality of care" in page.inner_text("body")
    session.expire_all()
    assert session.exec(select(PodMembership).where(PodMembership.subscriber_id == member.id)).one()


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_member_unsubscribes_through_the_manage_page(site, new_page, session, smtp_server, language, viewport):
    settings, base = site
    member = add_member(session, f"leaver-{language}@example.org", language=language, pods=["compassion"])
    mail_campaign(settings, session, smtp_server, member)
    email = captured(smtp_server, 1)
    page = new_page(viewport)
    page.goto(link_in_html(email, base, "/u/"))
    shot(page, "unsubscribe", language, viewport)
    page.goto(link_in_html(email, base, "/m/"))
    shot(page, "manage", language, viewport)
    page.click("button[value=unsubscribe]")
    assert page.url.endswith("?done=saved")
    assert page.locator("#status").inner_text() in ("Unsubscribed", "أُلغي الاشتراك")
    shot(page, "manage-unsubscribed", language, viewport)
    session.expire_all()
    assert session.get(Subscriber, member.id).status == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_visitor_registers_on_the_public_form_in_the_browser_language(
    site, new_page, session, smtp_server, language, viewport
):
    settings, base = site
    s = translator(language)
    page = new_page(viewport, locale=language)  # someone arriving from the GLL website: no token, no member
    page.goto(base + "/register")
    assert page.locator("h1").inner_text() == s.gettext("Register with the Global Learning Laboratory")
    assert page.locator("#language").input_value() == language
    shot(page, "register-public", language, viewport)
    page.fill("#email", f"visitor-{language}@example.org")
    page.fill("#name", "Amina Haddad")
    page.check("#consent")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == s.gettext("Check your email")

    confirmation = captured(smtp_server, 1)
    assert confirmation["To"] == f"visitor-{language}@example.org"
    confirm = re.search(re.escape(base) + r"/confirm/\S+", confirmation.get_body(("plain",)).get_content()).group(0)
    page.goto(confirm)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == s.gettext("Welcome to the Global Learning Laboratory")
    shot(page, "confirmed", language, viewport)
    member = session.exec(select(Subscriber).where(Subscriber.email == f"visitor-{language}@example.org")).one()
    assert member.is_registered and member.language == language and member.status == SubscriberStatus.ACTIVE
    page.click("main a.button")
    assert page.locator("h1").inner_text() == s.gettext("Your GLL subscription")
    assert member.email in page.inner_text("main")


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_a_damaged_link_shows_an_error_page_in_the_browser_language(site, new_page, session, language, viewport):
    settings, base = site
    s = translator(language)
    member = add_member(session, f"member-{language}@example.org", language=language)
    link = links.gate_url(settings, member.public_id, "compassion-scoping-report")
    page = new_page(viewport, locale=language)
    response = page.goto(link[:-6])  # the end of the link lost when it was copied
    assert response.status == 400
    assert page.locator("h1").inner_text() == s.gettext("This link is damaged")
    assert s.gettext(
        "Part of the link may be missing. Copy the whole link from the email into your browser."
    ) in page.inner_text("main")
    shot(page, "error-bad-link", language, viewport)
    page.click("main a")
    assert page.url == base + "/register"
    assert page.locator("h1").inner_text() == s.gettext("Register with the Global Learning Laboratory")


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_member_joins_a_pod_then_deletes_their_account(site, new_page, session, smtp_server, language, viewport):
    settings, base = site
    s = translator(language)
    member = add_member(session, f"pod-{language}@example.org", language=language)
    member_id = member.id
    pod = session.exec(select(Pod).where(Pod.slug == "compassion")).one()
    page = new_page(viewport)
    page.goto(links.join_pod_url(settings, member.public_id, "compassion"))  # a pod link, as in the corrigendum
    page.click("button[value=join]")
    assert page.locator("h1").inner_text() == s.gettext(
        "You are a member of the %(pod)s learning pod", pod=display_name(pod, language)
    )  # the pod in the page language
    shot(page, "in-pod", language, viewport)
    session.expire_all()
    assert session.exec(select(PodMembership).where(PodMembership.subscriber_id == member_id)).one().pod_id == pod.id

    page.click("main a")
    manage_url = page.url
    assert page.locator("h1").inner_text() == s.gettext("Your GLL subscription")
    assert page.is_checked("#pod-compassion")
    page.click("button[value=delete-ask]")
    assert page.locator("h1").inner_text() == s.gettext("Delete your account?")
    shot(page, "delete-confirm", language, viewport)
    session.expire_all()
    assert session.get(Subscriber, member_id) is not None  # asking is not deleting
    page.click("button[value=delete]")
    assert page.locator("h1").inner_text() == s.gettext("Your account is deleted")
    shot(page, "deleted", language, viewport)
    session.expire_all()
    assert session.get(Subscriber, member_id) is None
    assert session.exec(select(Suppression).where(Suppression.reason == "deleted")).one().email is None
    assert page.goto(manage_url).status == 404  # the manage link no longer finds anyone


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_member_unsubscribes_with_the_button_on_the_unsubscribe_page(
    site, new_page, session, smtp_server, language, viewport
):
    settings, base = site
    s = translator(language)
    member = add_member(session, f"quitter-{language}@example.org", language=language, pods=["compassion"])
    mail_campaign(settings, session, smtp_server, member)
    page = new_page(viewport)
    page.goto(link_in_html(captured(smtp_server, 1), base, "/u/"))
    session.expire_all()
    assert session.get(Subscriber, member.id).status == SubscriberStatus.ACTIVE  # GET changes nothing
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == s.gettext("You are unsubscribed")
    shot(page, "unsubscribed", language, viewport)
    session.expire_all()
    assert session.get(Subscriber, member.id).status == SubscriberStatus.UNSUBSCRIBED
    assert page.locator("main a").get_attribute("href").startswith("/m/")  # on to the manage page
    page.click("button[value=resubscribe]")  # undo
    assert page.locator("h1").inner_text() == s.gettext("Your GLL subscription")
    session.expire_all()
    assert session.get(Subscriber, member.id).status == SubscriberStatus.ACTIVE


@pytest.mark.parametrize("language,viewport", VARIANTS)
def test_saving_one_section_keeps_the_unsaved_edits_of_the_others(site, new_page, session, language, viewport):
    """Untick a topic, change the organization, press Save under language: only the language is
    applied, and the page after saving still shows the topic unticked and the organization typed."""
    settings, base = site
    s = translator(language)
    member = add_member(session, f"editor-{language}@example.org", language=language)
    topic = session.exec(select(Topic).where(Topic.slug == "announcements")).one()
    session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    session.commit()
    page = new_page(viewport)
    page.goto(links.manage_url(settings, member.public_id))
    page.uncheck("#topic-announcements")
    page.fill("#organization", "WHO EMRO")
    page.click("button[value=language]")
    assert page.url.endswith("?done=same")
    assert not page.is_checked("#topic-announcements") and page.input_value("#organization") == "WHO EMRO"
    assert page.locator("#topics-unsaved").inner_text() == s.gettext(
        "Changed here but not saved yet: press Save in this section to keep it."
    )
    shot(page, "manage-unsaved", language, viewport)
    session.expire_all()
    assert session.get(Subscriber, member.id).organization == ""
    assert session.exec(select(Subscription).where(Subscription.subscriber_id == member.id)).one()
    page.click("button[value=profile]")
    assert page.url.endswith("?done=saved") and not page.is_checked("#topic-announcements")
    session.expire_all()
    assert session.get(Subscriber, member.id).organization == "WHO EMRO"
    page.click("button[value=topics]")
    session.expire_all()
    assert session.exec(select(Subscription).where(Subscription.subscriber_id == member.id)).all() == []
    assert page.locator(".unsaved").count() == 0
