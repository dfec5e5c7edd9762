"""The team console in Debian's headless chromium, JavaScript on: the whole story of a campaign, from nothing to sent.

An approver-writer (amy) writes an English and Arabic announcement with a gated link, sees the
preflight's error beside its line, fixes it and previews the Arabic on a phone; asks for approval
and is refused her own; another approver (abe) approves; amy changes a word and the approval is
void; abe approves again; amy sends, and the progress view shows the sends arriving at a real SMTP
server (the worker's launch and drain run in this process). Screenshots of every console page,
desktop and phone, go to docs/screenshots/console-*.png, each checked for accessibility.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import REPO
from playwright.sync_api import expect
from sqlmodel import select
from team_support import PASSWORD, seed_catalog, team
from test_web_browser import ARGS, CHROMIUM, VIEWPORTS, browser  # noqa: F401 - the browser fixture
from web_support import add_member, check_accessibility
from werkzeug.serving import make_server

from gll_mail.delivery.drainer import Drainer
from gll_mail.delivery.scheduler import launch_due
from gll_mail.models import Subscription, Topic
from gll_mail.web import create_app

SHOTS = REPO / "docs" / "screenshots"
SLUG = "dec-news"
pytestmark = pytest.mark.browser

TYPO = "Dear {{ subscriber.name }},\n\nThe December report is out.\n\nRead the [new report](resource:dec-reprot)."
FIXED = TYPO.replace("dec-reprot", "dec-report")
ARABIC = "عزيزي العضو،\n\nصدر تقرير ديسمبر.\n\nاقرأ [التقرير الجديد](resource:dec-report)."


@pytest.fixture
def console_site(team_settings, engine, session, smtp_server):
    """(settings, base URL) of a live console needing one approval, on this test's database and SMTP server."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live = team_settings.replace(base_url=base, smtp_url=smtp_server.url, approvals_required=1)
    seed_catalog(session, live)
    team(session)
    topic = session.exec(select(Topic).where(Topic.slug == "announcements")).one()
    for email, language, name in (("amina@example.org", "ar", "Amina Haddad"), ("ben@example.org", "en", "Ben Ode")):
        member = add_member(session, email, language=language, name=name)
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    session.commit()
    holder["app"] = create_app(live, engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, base
    server.shutdown()
    thread.join(5)


def sign_in(browser, base: str, username: str, viewport: str = "desktop"):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1, is_mobile=viewport == "phone")
    page = context.new_page()
    page.goto(base + "/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("Campaigns")
    return page


def shot(page, name: str, viewport: str, url: str | None = None) -> None:
    """Load the page afresh (``url`` or a reload: the keyboard check starts from the top), save
    docs/screenshots/console-NAME-VIEWPORT.png, and check its accessibility."""
    page.goto(url) if url else page.reload()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}-{viewport}.png"), full_page=True)
    check_accessibility(page, "en")


def saved(page) -> None:
    expect(page.locator("#save-state")).to_contain_text("Saved · revision", timeout=15000)


def drain(engine, settings) -> None:
    """What `gll-mail worker` does: launch the due campaign, then send until nothing is left."""
    errors = []

    def run():
        try:
            launch_due(engine, settings)
            asyncio.run(Drainer(engine, settings).run(until_idle=True, retry_wait=0, poll=0.05))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not errors, errors


def test_from_nothing_to_sent_with_four_eyes(console_site, browser, engine, smtp_server):  # noqa: F811
    settings, base = console_site
    amy = sign_in(browser, base, "amy")

    # 1. a new announcement, English and Arabic, with a gated link (registered members only)
    amy.click("text=New campaign")
    amy.fill("#slug", SLUG)
    amy.fill("#subject", "The December report")
    amy.click("button:has-text('Create and open the editor')")
    expect(amy.locator("h1")).to_contain_text(SLUG)
    amy.check("#topic-announcements")
    expect(amy.locator("#audience-count")).to_contain_text("2 recipient(s)")
    amy.select_option("#add", "ar")
    amy.click("button:has-text('Add translation')")
    expect(amy.locator("#tab-ar")).to_be_visible()
    amy.fill("#en-body", TYPO)
    saved(amy)

    # 2. the preflight's error beside its line; fixed; the Arabic previewed on a phone
    problem = amy.locator("#problems-en li.error")
    expect(problem).to_contain_text("line 5")
    expect(problem).to_contain_text("dec-reprot")
    expect(amy.locator("#tab-en .badge")).to_have_text("1")
    shot(amy, "editor-error", "desktop")
    amy.fill("#en-body", FIXED)
    saved(amy)
    expect(amy.locator("#problems-en")).to_have_text("No problems.")
    amy.click("#tab-ar")
    amy.fill("#ar-subject", "تقرير ديسمبر")
    amy.fill("#ar-body", ARABIC)
    saved(amy)
    expect(amy.locator("#problems-ar")).to_have_text("No problems.")
    expect(amy.locator("[data-translation-state=ar]")).to_contain_text("unmarked")
    amy.click("button:has-text('Mark Arabic as up to date')")
    expect(amy.locator("[data-translation-state=ar]")).to_contain_text("up to date (English text ")
    expect(amy.locator("#lang-ar")).to_be_visible()  # back on the Arabic tab
    amy.select_option("#preview-lang", "ar")
    amy.select_option("#preview-device", "phone")
    expect(amy.locator("#frame-box")).to_have_class("frame-box device-phone")
    expect(amy.frame_locator("#preview").locator("html")).to_have_attribute("dir", "rtl")
    expect(amy.frame_locator("#preview").locator("body")).to_contain_text("التقرير الجديد")
    assert amy.locator("#preview").bounding_box()["width"] <= 390
    shot(amy, "editor", "desktop", f"{base}/admin/campaigns/{SLUG}/edit?lang=ar&device=phone")

    # 3. approval requested; her own approval refused
    amy.click("text=Done: approval and sending")
    amy.fill("#request-note", "Ready for your review")
    amy.click("button:has-text('Request approval')")
    expect(amy.locator("[role=status]").first).to_contain_text("Approval requested")
    amy.click("button:has-text('Approve')")
    expect(amy.locator("[role=alert]").first).to_contain_text("you wrote this revision")

    # 4. another approver approves
    abe = sign_in(browser, base, "abe")
    abe.goto(f"{base}/admin/campaigns/{SLUG}")
    abe.fill("#decision-note", "Checked the links")
    abe.click("button:has-text('Approve')")
    expect(abe.locator(".approval")).to_contain_text("Approved (1 of 1 required)")

    # 5. a word changed: the approval is void, and the page shows what changed
    amy.goto(f"{base}/admin/campaigns/{SLUG}/edit")
    amy.fill("#en-body", FIXED.replace("is out", "is now out"))
    saved(amy)
    amy.click("#tab-ar")  # the Arabic translation is stale now: its tab and the preflight say so
    expect(amy.locator("[data-translation-state=ar]")).to_contain_text("stale: the English text changed in line")
    stale = amy.locator("#problems-ar li.warning")
    expect(stale).to_contain_text("ar is stale: the English text changed in line")
    stale.locator("summary").click()
    expect(stale.locator("pre.diff")).to_contain_text("+The December report is now out.")
    shot(amy, "editor-stale", "desktop", f"{base}/admin/campaigns/{SLUG}/edit")
    amy.click("#tab-ar")
    amy.locator("#problems-ar li.warning summary").click()
    amy.screenshot(path=str(SHOTS / "console-editor-stale-desktop.png"), full_page=True)  # the diff open
    amy.set_viewport_size(VIEWPORTS["phone"])
    amy.screenshot(path=str(SHOTS / "console-editor-stale-phone.png"), full_page=True)
    amy.set_viewport_size(VIEWPORTS["desktop"])
    amy.goto(f"{base}/admin/campaigns/{SLUG}")
    expect(amy.locator(".approval")).to_contain_text("Needs 1 more approval")
    expect(amy.locator("pre.diff").first).to_contain_text("+The December report is now out.")
    amy.click("button:has-text('Send now')")
    expect(amy.locator("[role=alert]").first).to_contain_text("needs 1 approval")
    shot(amy, "campaign", "desktop")

    # 6. approved again; sent; the progress view shows the sends arriving at the SMTP server
    abe.reload()
    abe.click("button:has-text('Approve')")
    expect(abe.locator(".approval")).to_contain_text("Approved (1 of 1 required)")
    amy.reload()
    amy.click("button:has-text('Send now')")
    expect(amy.locator("h1")).to_have_text("Sending progress")
    expect(amy.locator("#p-status")).to_have_text("scheduled")
    drain(engine, settings)
    expect(amy.locator("#p-sent")).to_have_text("2", timeout=15000)  # updated by polling, no reload
    expect(amy.locator("#p-status")).to_have_text("sent")
    assert sorted(r for m in smtp_server.received for r in m.rcpt_tos) == ["amina@example.org", "ben@example.org"]
    shot(amy, "progress", "desktop")

    # every console page, desktop and phone, with the accessibility check
    pages = {
        "campaigns": "/admin/campaigns",
        "new": "/admin/campaigns/new?kind=corrigendum&corrects=dec-news",
        "editor": f"/admin/campaigns/{SLUG}/edit",
        "campaign": f"/admin/campaigns/{SLUG}",
        "progress": f"/admin/campaigns/{SLUG}/progress",
        "revisions": f"/admin/campaigns/{SLUG}/revisions",
        "audit": "/admin/audit",
        "team": "/admin/team",
    }
    for viewport in ("desktop", "phone"):
        ada = sign_in(browser, base, "ada", viewport)
        for name, path in pages.items():
            if viewport == "desktop" and name in ("editor", "campaign", "progress"):
                continue  # taken above, in the middle of the story
            shot(ada, name, viewport, base + path)
        ada.context.close()
    login = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True).new_page()
    for viewport in ("desktop", "phone"):
        login.set_viewport_size(VIEWPORTS[viewport])
        shot(login, "login", viewport, base + "/admin/login")
