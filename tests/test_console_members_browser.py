"""The members' pages in Debian's headless chromium, JavaScript on: a French Excel export (';' and
Windows-1252) imported through the browser with a preview, a dry run and the progress bar; a member
looked up, moved into a pod and erased; a resource repointed (an old emailed link opens the new
target); a topic renamed in Arabic (the member's manage page shows it). Screenshots of every page,
desktop and phone, go to docs/screenshots/console-members-*.png, each checked for accessibility."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect
from sqlmodel import select
from team_support import seed_catalog, team
from test_console_browser import shot, sign_in
from test_web_browser import browser  # noqa: F401 - the browser fixture
from web_support import add_member
from werkzeug.serving import make_server

from gll_mail import links
from gll_mail.models import Subscriber
from gll_mail.web import create_app

pytestmark = pytest.mark.browser


def french_excel() -> bytes:
    text = (
        "Courriel pro;Nom;Pays;Établissement\r\n"
        "amelie@hopital.example.fr;Amélie Dupré;France;CHU de Lyon\r\n"
        "pas-une-adresse;Jean;France;\r\n"
        "bruno@example.fr;Bruno Lefèvre;Côte d'Ivoire;Ministère de la Santé\r\n"
    )
    return text.encode("cp1252")


@pytest.fixture
def members_site(team_settings, engine, session):
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live = team_settings.replace(base_url=base)
    seed_catalog(session, live)
    team(session)
    add_member(session, "amina@example.org", language="ar", name="Amina Haddad")
    add_member(session, "ben@example.org", name="Ben Ode")
    session.commit()
    holder["app"] = create_app(live, engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, base, holder["app"]
    server.shutdown()
    thread.join(5)


def test_import_lookup_pod_erase_repoint_and_arabic_rename(members_site, browser, session, tmp_path):  # noqa: F811
    settings, base, app = members_site
    eve = sign_in(browser, base, "eve")

    # 1. a French Excel export imported through the browser: preview, mapping, dry run, progress, import
    upload = tmp_path / "membres.csv"
    upload.write_bytes(french_excel())
    eve.goto(base + "/admin/imports")
    shot(eve, "members-imports", "desktop")
    eve.set_input_files("#i-file", str(upload))
    eve.check("#i-pod-ipc")
    eve.click("button:has-text('Upload and preview')")
    expect(eve.locator("body")).to_contain_text("Windows-1252 (Latin-1) text, separated by ';'")
    expect(eve.locator("table.data")).to_contain_text("Amélie Dupré")
    eve.select_option("#col-0", "email")
    eve.select_option("#col-3", "organization")
    eve.click("button:has-text('Save the columns')")
    expect(eve.locator("#col-0")).to_have_value("email")
    shot(eve, "members-import-preview", "desktop")
    eve.click("button:has-text('Check the file (dry run)')")
    expect(eve.locator("#i-status")).to_have_text("checked", timeout=15000)
    expect(eve.locator("body")).to_contain_text("Problems (1)")
    expect(eve.locator("body")).to_contain_text("pas-une-adresse")
    eve.click("button:has-text('Import 3 rows')")
    expect(eve.locator("#i-status")).to_have_text("done", timeout=15000)
    expect(eve.locator("#i-bar")).to_have_attribute("value", "3")
    shot(eve, "members-import", "desktop")

    # 2. a member looked up and moved into a pod; an admin erases them
    eve.goto(base + "/admin/members")
    eve.fill("#f-q", "amelie")
    eve.click("button:has-text('Search')")
    shot(eve, "members-search", "desktop")
    eve.click("text=amelie@hopital.example.fr")
    expect(eve.locator("h1")).to_have_text("Amélie Dupré")
    expect(eve.locator("#p-organization")).to_have_value("CHU de Lyon")
    eve.goto(base + "/admin/members?q=ben")
    eve.click("text=ben@example.org")
    eve.select_option("#add-pod", "ipc")
    eve.click("button:has-text('Add to the pod')")
    expect(eve.locator("body")).to_contain_text("Member added to pod ipc")
    shot(eve, "members-member", "desktop")
    ben_url = eve.url
    ada = sign_in(browser, base, "ada")
    ada.goto(ben_url)
    ada.click("text=Erase this member…")
    expect(ada.locator("h1")).to_have_text("Erase ben@example.org?")
    shot(ada, "members-erase", "desktop")
    ada.fill("#e-reason", "asked by email")
    ada.check("#e-confirm")
    ada.click("button:has-text('Erase the member')")
    expect(ada.locator("body")).to_contain_text("erased: only a hash of the address is kept")
    session.expire_all()
    assert session.exec(select(Subscriber).where(Subscriber.email == "ben@example.org")).first() is None

    # 3. a resource repointed: the link mailed last month opens the new target
    amina = session.exec(select(Subscriber).where(Subscriber.email == "amina@example.org")).one()
    mailed = links.gate_url(settings, amina.public_id, "dec-report")
    client = app.test_client()
    assert client.get(mailed).headers["Location"] == "https://www.who.int/publications/dec-report"
    eve.goto(base + "/admin/resources/dec-report")
    eve.fill("#r-url", "https://www.who.int/publications/dec-report-2026")
    eve.click("button:has-text('Repoint')")
    expect(eve.locator("body")).to_contain_text("Saved: url")
    assert client.get(mailed).headers["Location"] == "https://www.who.int/publications/dec-report-2026"
    shot(eve, "members-resource", "desktop")
    shot(eve, "members-resources", "desktop", base + "/admin/resources")

    # 4. a topic renamed in Arabic: the member's manage page shows it
    eve.goto(base + "/admin/topics/announcements")
    eve.fill("#e-name-ar", "إعلانات المختبر")
    eve.click("button:has-text('Save')")
    expect(eve.locator("body")).to_contain_text("Saved: names")
    shot(eve, "members-topic", "desktop")
    manage = client.get(links.manage_url(settings, amina.public_id)).get_data(as_text=True)
    assert "إعلانات المختبر" in manage

    for name, path in (
        ("pods", "/admin/pods"),
        ("pod", "/admin/pods/ipc"),
        ("topics", "/admin/topics"),
        ("suppressions", "/admin/suppressions"),
    ):
        shot(ada, f"members-{name}", "desktop", base + path)
    phone = sign_in(browser, base, "ada", "phone")
    for name, path in (
        ("search", "/admin/members?q=amelie"),
        ("member", "/admin/members/amina@example.org"),
        ("imports", "/admin/imports"),
        ("pod", "/admin/pods/ipc"),
        ("resource", "/admin/resources/dec-report"),
        ("suppressions", "/admin/suppressions"),
    ):
        shot(phone, f"members-{name}", "phone", base + path)
