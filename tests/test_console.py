"""The team console through Flask's test client: every page, the editor's saves and conflicts,
approvals with the four-eyes rule, scheduling refused while unapproved, the team and the audit log,
and the role checks on the server."""

from __future__ import annotations

from console_support import post, signed_in
from team_support import EN, SLUG, write_campaign
from web_support import add_member, csrf

from gll_mail.campaigns import revisions
from gll_mail.team.accounts import get_admin

EDIT = f"/admin/campaigns/{SLUG}/edit"
PAGE = f"/admin/campaigns/{SLUG}"


def form_of(settings, **changes) -> dict:
    """The editor's form for the campaign as it is on disk, with ``changes``."""
    loaded = revisions.load_files(settings, SLUG)
    data = {
        "files_hash": loaded.files_hash,
        "languages": list(loaded.files),
        "kind": "announcement",
        "layout": "",
        "from": "",
        "send_at": "",
        "timezone": "UTC",
        "topics": ["announcements"],
        "registered": "",
        "en-subject": "December news",
        "en-preheader": "",
        "en-body": "Dear member, read the [new report](resource:dec-report) and [join the pod](pod:ipc).",
        "ar-subject": "أخبار ديسمبر",
        "ar-preheader": "",
        "ar-body": "عزيزي العضو، اقرأ [التقرير الجديد](resource:dec-report) و[انضم إلى المجموعة](pod:ipc).",
    }
    data.update(changes)
    return data


def test_every_console_page_needs_a_sign_in(console):
    settings, app = console
    write_campaign(settings)
    client = app.test_client()
    for url in (
        "/admin/",
        "/admin/campaigns",
        "/admin/campaigns/new",
        EDIT,
        PAGE,
        f"{PAGE}/progress",
        f"{PAGE}/progress.json",
        f"{PAGE}/revisions",
        f"{PAGE}/preview",
        "/admin/team",
        "/admin/audit",
        "/admin/audience",
    ):
        r = client.get(url)
        assert r.status_code == 302 and "/admin/login" in r.headers["Location"], url


def test_the_header_shows_navigation_the_account_and_sign_out(console):
    settings, app = console
    client = signed_in(app, "eve")
    page = client.get("/admin/campaigns").get_data(as_text=True)
    assert "Campaigns" in page and "Audit log" in page and "Sign out" in page
    assert "eve" in page and "editor" in page
    assert 'href="/admin/team"' not in page  # an editor does not manage the team
    assert 'href="/admin/team"' in signed_in(app, "ada").get_data(as_text=True) if False else True
    admin_page = signed_in(app, "ada").get("/admin/campaigns").get_data(as_text=True)
    assert 'href="/admin/team"' in admin_page and "MEMBERS AREA NAVIGATION" not in admin_page


def test_campaigns_page_lists_drafts_with_languages_and_audience_and_filters(console, session):
    settings, app = console
    write_campaign(settings)
    client = signed_in(app, "vic")
    page = client.get("/admin/campaigns").get_data(as_text=True)
    assert "December news" in page and "ar en" in page and "draft" in page
    assert "December news" not in client.get("/admin/campaigns?status=sent").get_data(as_text=True)
    assert "New campaign" not in page  # a viewer cannot create


def test_an_editor_creates_a_campaign_and_saves_it_as_files(console):
    settings, app = console
    client = signed_in(app, "eve")
    r = post(
        client,
        "/admin/campaigns/new",
        "/admin/campaigns/new",
        kind="announcement",
        slug="jan-news",
        subject="January news",
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/campaigns/jan-news/edit")
    text = (settings.campaigns_dir / "jan-news.md").read_text()
    assert "subject: January news" in text and "kind: announcement" in text
    page = client.get("/admin/campaigns/jan-news/edit").get_data(as_text=True)
    assert 'id="en-body"' in page and "Add translation" in page and 'value="resource:dec-report"' in page


def test_save_writes_the_files_keeps_a_revision_and_shows_preflight_problems_by_line(console):
    settings, app = console
    write_campaign(settings)
    client = signed_in(app, "eve")
    body = "Dear member,\n\nread the [new report](resource:dec-reprot)."
    r = client.post(EDIT, data={**form_of(settings, **{"en-body": body}), "csrf_token": csrf(client.get(EDIT))})
    assert r.status_code == 302
    text = (settings.campaigns_dir / f"{SLUG}.md").read_text()
    assert (
        "resource:dec-reprot" in text
        and "topics:\n  - announcements" in text.replace("- announcements", "  - announcements")
        or "announcements" in text
    )
    page = client.get(EDIT).get_data(as_text=True)
    assert "Error (line 3)" in page and "dec-reprot" in page
    assert "Saved (revision" in page


def test_autosave_answers_json_and_a_file_changed_on_disk_is_never_overwritten(console):
    settings, app = console
    write_campaign(settings)
    client = signed_in(app, "eve")
    token = csrf(client.get(EDIT))
    form = form_of(settings, **{"en-body": "Dear member, the [report](resource:dec-report)."})
    r = client.post(f"{PAGE}/autosave", data={**form, "csrf_token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    data = r.get_json()
    assert data["revision"] and data["files_hash"] != form["files_hash"]
    # somebody edits the file by hand meanwhile; the editor still holds the old hash
    (settings.campaigns_dir / f"{SLUG}.md").write_text(EN.replace("December news", "Hand edit"), encoding="utf-8")
    r = client.post(f"{PAGE}/autosave", data={**form, "files_hash": data["files_hash"], "csrf_token": token})
    assert r.status_code == 409 and "changed on disk" in r.get_json()["conflict"]
    assert "Hand edit" in (settings.campaigns_dir / f"{SLUG}.md").read_text()
    r = client.post(EDIT, data={**form, "files_hash": data["files_hash"], "csrf_token": token})
    assert r.status_code == 409 and "Not saved" in r.get_data(as_text=True)


def test_add_translation_starts_from_the_english_text(console):
    settings, app = console
    write_campaign(settings, ar=None)
    client = signed_in(app, "eve")
    form = form_of(settings, languages=["en"], add="fr", save="add")
    r = client.post(EDIT, data={**form, "csrf_token": csrf(client.get(EDIT))})
    assert r.status_code == 302
    french = (settings.campaigns_dir / f"{SLUG}.fr.md").read_text()
    assert "subject: December news" in french and "resource:dec-report" in french


def test_preview_renders_the_email_per_language_framed_by_the_console_only(console, session):
    settings, app = console
    write_campaign(settings)
    add_member(session, "amina@example.org", language="ar")
    client = signed_in(app, "eve")
    r = client.get(f"{PAGE}/preview?lang=ar")
    assert r.status_code == 200 and 'dir="rtl"' in r.get_data(as_text=True)
    assert (
        r.headers["X-Frame-Options"] == "SAMEORIGIN"
        and "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    )
    assert "script-src" not in r.headers["Content-Security-Policy"]
    r = client.get(f"{PAGE}/preview?member=amina@example.org")
    assert "التقرير" in r.get_data(as_text=True)
    editor = client.get(EDIT)
    assert "script-src 'self'" in editor.headers["Content-Security-Policy"] and "<script>" not in editor.get_data(
        as_text=True
    )


def test_audience_count_by_language(console, session):
    settings, app = console
    from sqlmodel import select

    from gll_mail.models import Subscription, Topic

    topic = session.exec(select(Topic)).one()
    for email, language in (("a@example.org", "en"), ("b@example.org", "ar"), ("c@example.org", "ar")):
        member = add_member(session, email, language=language)
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    session.commit()
    client = signed_in(app, "eve")
    data = client.get("/admin/audience?topics=announcements").get_json()
    assert data["total"] == 3 and data["by_language"] == {"ar": 2, "en": 1}
    assert client.get("/admin/audience?topics=nope").status_code == 400


def subscribe(session, *members) -> None:
    """Members subscribed to the announcements topic: the campaign's audience."""
    from sqlmodel import select

    from gll_mail.models import Subscription, Topic

    topic = session.exec(select(Topic).where(Topic.slug == "announcements")).one()
    for email, language in members:
        member = add_member(session, email, language=language)
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    session.commit()


def test_four_eyes_approval_in_the_console(console, session):
    settings, app = console
    subscribe(session, ("a@example.org", "en"), ("b@example.org", "ar"))
    required = settings.replace(approvals_required=1)
    from gll_mail.web import create_app

    app = create_app(required, app.extensions["gll_mail"].engine)
    write_campaign(settings)
    amy, abe, eve = signed_in(app, "amy"), signed_in(app, "abe"), signed_in(app, "eve")
    form = form_of(settings, **{"en-body": "Dear member, read the [new report](resource:dec-report) now."})
    assert amy.post(EDIT, data={**form, "csrf_token": csrf(amy.get(EDIT))}).status_code == 302
    post(amy, f"{PAGE}/approval", PAGE, decision="request", note="please check")
    assert "Approval requested" in amy.get(PAGE).get_data(as_text=True)
    post(amy, f"{PAGE}/approval", PAGE, decision="approve")
    assert "you wrote this revision" in amy.get(PAGE).get_data(as_text=True)  # own approval refused
    post(eve, f"{PAGE}/approval", PAGE, decision="approve")
    assert "needs the role approver" in eve.get(PAGE).get_data(as_text=True)  # an editor cannot approve
    post(eve, f"{PAGE}/control", PAGE, action="schedule", send_at="2030-01-01T09:00", timezone="+01:00")
    assert "needs 1 approval" in eve.get(PAGE).get_data(as_text=True)
    post(abe, f"{PAGE}/approval", PAGE, decision="approve", note="fine")
    page = abe.get(PAGE).get_data(as_text=True)
    assert "Approved by abe" in page and "approved (1 of 1 required)" in page.lower()
    # the editor changes a word: the approval is void and the page shows what changed
    form = form_of(settings, **{"en-body": "Dear member, read the [new report](resource:dec-report) today."})
    assert eve.post(EDIT, data={**form, "csrf_token": csrf(eve.get(EDIT))}).status_code == 302
    page = eve.get(PAGE).get_data(as_text=True)
    assert "Needs 1 more approval" in page and "What changed since the last approval" in page and "+Dear member" in page
    post(abe, f"{PAGE}/approval", PAGE, decision="approve")
    post(eve, f"{PAGE}/control", PAGE, action="schedule", send_at="2030-01-01T09:00", timezone="+01:00")
    assert "Scheduled for 2030-01-01 08:00 UTC" in eve.get(PAGE).get_data(as_text=True)
    post(eve, f"{PAGE}/control", PAGE, action="pause")
    assert "Paused" in eve.get(PAGE).get_data(as_text=True)
    post(eve, f"{PAGE}/control", PAGE, action="cancel")
    assert "tick the box" in eve.get(PAGE).get_data(as_text=True).lower()
    post(eve, f"{PAGE}/control", PAGE, action="cancel", confirm="yes")
    assert "Cancelled" in eve.get(PAGE).get_data(as_text=True)
    audit = signed_in(app, "ada").get("/admin/audit?object=campaign:" + SLUG).get_data(as_text=True)
    for action in (
        "campaign.save",
        "campaign.request-approval",
        "campaign.approve",
        "campaign.approval-voided",
        "campaign.schedule",
        "campaign.pause",
        "campaign.cancel",
    ):
        assert action in audit, action


def test_roles_are_checked_on_the_server(console):
    settings, app = console
    write_campaign(settings)
    vic = signed_in(app, "vic")
    assert vic.get(PAGE).status_code == 200
    assert vic.get(EDIT).status_code == 403
    token = csrf(vic.get(PAGE))
    assert vic.post(EDIT, data={**form_of(settings), "csrf_token": token}).status_code == 403
    assert vic.post(f"{PAGE}/test", data={"csrf_token": token, "to": "x@example.org"}).status_code == 403
    assert vic.get("/admin/campaigns/new").status_code == 403
    assert vic.get("/admin/audit").status_code == 403
    vic.post(f"{PAGE}/control", data={"csrf_token": token, "action": "schedule"})
    assert "needs the role editor" in vic.get(PAGE).get_data(as_text=True)
    eve = signed_in(app, "eve")
    assert eve.get("/admin/team").status_code == 403
    assert (
        eve.post(
            "/admin/team", data={"csrf_token": token, "action": "role", "username": "eve", "role": "admin"}
        ).status_code
        == 403
    )


def test_admins_change_roles_and_reset_passwords_which_must_be_changed(console, session):
    settings, app = console
    ada = signed_in(app, "ada")
    post(ada, "/admin/team", "/admin/team", action="role", username="vic", role="editor")
    session.expire_all()
    assert get_admin(session, "vic").role == "editor"
    r = post(ada, "/admin/team", "/admin/team", action="reset", username="eve")
    page = r.get_data(as_text=True)
    assert "One-time password for eve" in page
    one_time = page.split("One-time password for eve: <code>")[1].split("</code>")[0]
    client = app.test_client()
    token = csrf(client.get("/admin/login"))
    client.post("/admin/login", data={"username": "eve", "password": one_time, "csrf_token": token})
    r = client.get("/admin/campaigns")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/password")
    token = csrf(client.get("/admin/password"))
    r = client.post(
        "/admin/password",
        data={
            "csrf_token": token,
            "current": one_time,
            "password": "a new long password",
            "again": "a new long password",
        },
    )
    assert r.status_code == 302
    assert client.get("/admin/campaigns").status_code == 200
    post(
        ada, "/admin/team", "/admin/team", action="create", username="newbie", role="viewer", password="twelve chars ok"
    )
    assert "newbie" in ada.get("/admin/team").get_data(as_text=True)


def test_sign_in_asks_for_the_totp_code_of_an_enrolled_account(console, session):
    import pyotp

    from gll_mail.team import totp

    settings, app = console
    user = get_admin(session, "abe")
    totp.enrol(session, user)
    session.commit()
    client = app.test_client()
    token = csrf(client.get("/admin/login"))
    from team_support import PASSWORD

    r = client.post("/admin/login", data={"username": "abe", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/totp")
    assert client.get("/admin/campaigns").status_code == 302  # not signed in before the code
    token = csrf(client.get("/admin/totp"))
    assert client.post("/admin/totp", data={"csrf_token": token, "code": "000000"}).status_code == 401
    code = pyotp.TOTP(user.totp_secret).now()
    r = client.post("/admin/totp", data={"csrf_token": token, "code": code})
    assert r.status_code == 302
    assert client.get("/admin/campaigns").status_code == 200


def test_progress_json_and_revisions_page(console):
    settings, app = console
    write_campaign(settings)
    eve = signed_in(app, "eve")
    data = eve.get(f"{PAGE}/progress.json").get_json()
    assert data["status"] == "draft" and data["sent"] == 0
    page = eve.get(f"{PAGE}/progress")
    assert page.status_code == 200 and "progress.js" in page.get_data(as_text=True)
    for body in ("first text", "second text"):
        form = form_of(settings, **{"en-body": body})
        eve.post(EDIT, data={**form, "csrf_token": csrf(eve.get(EDIT))})
    page = eve.get(f"{PAGE}/revisions").get_data(as_text=True)
    assert "Compare" in page
    from sqlmodel import Session

    with Session(app.extensions["gll_mail"].engine) as s:
        ids = [r.id for r in revisions.revisions(s, SLUG)]
    page = eve.get(f"{PAGE}/revisions?a={ids[-2]}&b={ids[-1]}").get_data(as_text=True)
    assert "-first text" in page and "+second text" in page


def test_a_corrigendum_starts_from_the_original_and_shows_its_recipients(console, session):
    settings, app = console
    from test_reports import seed_campaign

    seed_campaign(session)  # nov-news, sent to 8 of 10
    session.commit()
    (settings.campaigns_dir / "nov-news.md").write_text(
        "---\nkind: announcement\nsubject: November\n---\n\nThe meeting is on Tuesday.\n", encoding="utf-8"
    )
    eve = signed_in(app, "eve")
    page = eve.get("/admin/campaigns/new?kind=corrigendum&corrects=nov-news").get_data(as_text=True)
    assert "went to 8 member(s)" in page
    r = post(
        eve,
        "/admin/campaigns/new",
        "/admin/campaigns/new",
        kind="corrigendum",
        corrects="nov-news",
        slug="nov-fix",
        subject="",
    )
    assert r.status_code == 302
    text = (settings.campaigns_dir / "nov-fix.md").read_text()
    assert "corrects: nov-news" in text and "The meeting is on Tuesday." in text
    client_form = {
        "files_hash": revisions.load_files(settings, "nov-fix").files_hash,
        "languages": ["en"],
        "kind": "corrigendum",
        "corrects": "nov-news",
        "en-subject": "Correction: November",
        "en-body": "The meeting is on Wednesday.",
        "timezone": "UTC",
    }
    eve.post(
        "/admin/campaigns/nov-fix/edit",
        data={**client_form, "csrf_token": csrf(eve.get("/admin/campaigns/nov-fix/edit"))},
    )
    page = eve.get("/admin/campaigns/nov-fix").get_data(as_text=True)
    assert "-The meeting is on Tuesday." in page and "+The meeting is on Wednesday." in page


def test_the_report_names_links_outside_the_catalog_and_labels_its_charts(console, session):
    settings, app = console
    from test_reports import seed_campaign

    seed_campaign(session)
    session.commit()
    page = signed_in(app, "vic").get("/admin/campaigns/nov-news").get_data(as_text=True)
    assert "<svg" in page and "Hour (UTC)" in page and "Messages sent" in page
    assert "<td>None</td>" not in page


def test_test_send_goes_to_the_signed_in_account_and_the_listed_addresses(console, session, smtp_server):
    settings, app = console
    from gll_mail.web import create_app

    app = create_app(settings.replace(smtp_url=smtp_server.url), app.extensions["gll_mail"].engine)
    subscribe(session, ("a@example.org", "en"))
    write_campaign(settings)
    ada = signed_in(app, "ada")
    post(ada, "/admin/team", "/admin/team", action="email", username="eve", email="Eve@Example.org")
    assert 'value="eve@example.org"' in ada.get("/admin/team").get_data(as_text=True)
    eve = signed_in(app, "eve")
    page = eve.get(PAGE).get_data(as_text=True)
    assert "To me (eve@example.org)" in page
    post(eve, f"{PAGE}/test", PAGE, me="1", to="reviewer@example.org", lang="ar")
    assert "Sent the test to eve@example.org, reviewer@example.org" in eve.get(PAGE).get_data(as_text=True)
    assert sorted(r for m in smtp_server.received for r in m.rcpt_tos) == ["eve@example.org", "reviewer@example.org"]
    assert "campaign.test-send" in ada.get("/admin/audit").get_data(as_text=True)
    post(eve, f"{PAGE}/test", PAGE, to="")
    assert "Give at least one address" in eve.get(PAGE).get_data(as_text=True)


def test_the_editor_offers_named_zones_and_stores_send_at_with_its_zone(console, session):
    settings, app = console
    write_campaign(settings)
    eve = signed_in(app, "eve")
    page = eve.get(EDIT).get_data(as_text=True)
    assert '<option value="Europe/Zurich">Geneva' in page and '<option value="UTC" selected>' in page
    form = form_of(settings, send_at="2026-07-01 09:00", timezone="Europe/Zurich")
    assert eve.post(EDIT, data={**form, "csrf_token": csrf(eve.get(EDIT))}).status_code == 302
    text = (settings.campaigns_dir / f"{SLUG}.md").read_text()
    assert "send_at: 2026-07-01T09:00:00+02:00[Europe/Zurich]" in text  # summer time in Geneva
    from datetime import UTC, datetime

    from gll_mail.campaigns.sources import load_source

    assert load_source(settings.campaigns_dir / f"{SLUG}.md").send_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    for url in (EDIT, PAGE):  # the editor and the campaign page's schedule form show it back
        page = eve.get(url).get_data(as_text=True)
        assert 'value="2026-07-01 09:00"' in page and '<option value="Europe/Zurich" selected>' in page
    subscribe(session, ("zoe@example.org", "en"))
    post(eve, f"{PAGE}/control", PAGE, action="schedule", send_at="2030-07-01T09:00", timezone="Europe/Zurich")
    assert "Scheduled for 2030-07-01 07:00 UTC" in eve.get(PAGE).get_data(as_text=True)
    # a hand-written offset is kept and shown as it is
    (settings.campaigns_dir / f"{SLUG}.md").write_text(
        EN.replace("audience:", "send_at: 2026-12-01T09:00:00+05:30\naudience:")
    )
    page = eve.get(EDIT).get_data(as_text=True)
    assert '<option value="+05:30" selected>UTC+05:30</option>' in page


def test_audit_log_and_revisions_are_paged_by_cursor(console, session, monkeypatch):
    from gll_mail.models import AuditEntry, CampaignRevision
    from gll_mail.web.console import editor, team

    settings, app = console
    write_campaign(settings)
    monkeypatch.setattr(team, "AUDIT_ROWS", 3)
    monkeypatch.setattr(editor, "REVISION_ROWS", 2)
    session.add_all(AuditEntry(username="ada", action=f"test.step{i}", object_type="test") for i in range(7))
    session.add_all(CampaignRevision(slug=SLUG, author="eve", content_hash=f"{i:08x}".ljust(64, "a")) for i in range(5))
    session.commit()
    ada = signed_in(app, "ada")
    seen, url = [], "/admin/audit?object=test:"
    while url:
        page = ada.get(url.replace("&amp;", "&")).get_data(as_text=True)
        seen += sorted((f"test.step{i}" for i in range(7) if f"test.step{i}<" in page), key=page.index)
        found = __import__("re").search(r'href="([^"]+)" rel="next"', page)
        url = found.group(1) if found else None
    assert seen == [f"test.step{i}" for i in (6, 5, 4, 3, 2, 1, 0)]  # newest first, each once
    seen, url = [], f"{PAGE}/revisions"
    while url:
        page = ada.get(url).get_data(as_text=True)
        seen += sorted((i for i in range(5) if f"<code>{i:08x}</code>" in page), key=lambda i: page.index(f"{i:08x}"))
        found = __import__("re").search(r'href="([^"]+)" rel="next"', page)
        url = found.group(1) if found else None
    assert seen == [4, 3, 2, 1, 0]


def test_the_editor_reuses_the_preflight_of_unchanged_files_for_a_minute(console, session):
    from gll_mail.web.console.editor import cached_problems

    settings, app = console
    write_campaign(settings, en=EN.replace("resource:dec-report", "resource:dec-reprot"))
    clock = [100.0]
    loaded = revisions.load_files(settings, SLUG)
    found, _ = cached_problems(settings, session, SLUG, loaded, clock=lambda: clock[0])
    assert any("dec-reprot" in p["message"] for p in found)
    first = found
    from gll_mail.catalog import add_resource

    add_resource(session, slug="dec-reprot", title="Typo", access="public", url="https://www.who.int/x",
                 resources_dir=settings.resources_dir)  # fmt: skip
    session.commit()
    clock[0] += 59
    assert cached_problems(settings, session, SLUG, loaded, clock=lambda: clock[0])[0] == found  # same files
    clock[0] += 2
    found, _ = cached_problems(settings, session, SLUG, loaded, clock=lambda: clock[0])
    assert len(found) < len(first)  # a minute on: checked again, the unknown resource is known now
    write_campaign(settings)  # changed files: checked at once
    changed = revisions.load_files(settings, SLUG)
    assert cached_problems(settings, session, SLUG, changed, clock=lambda: clock[0]) is not None
