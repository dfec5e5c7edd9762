"""The members' half of the console through Flask's test client: members (search, page, edits,
unsubscribe, export, erase after confirming), pods and topics in six languages with the roster,
the resource library (repoint, replace, access change after its impact, archive, delete refused),
the suppression list and the raw inbound message, imports with a preview, a dry run and a
background run, and the role checks on the server."""

from __future__ import annotations

import io
import json

from console_support import post, signed_in
from sqlmodel import select
from team_support import SLUG, write_campaign
from web_support import add_member, csrf

from gll_mail import catalog
from gll_mail.models import (
    AuditEntry,
    Campaign,
    CampaignStatus,
    InboundMessage,
    Subscriber,
    Suppression,
)
from gll_mail.web.console import imports as import_views

PAGES = (
    "/admin/members",
    "/admin/members/1",
    "/admin/members/1/erase",
    "/admin/pods",
    "/admin/pods/ipc",
    "/admin/pods/ipc/roster.csv",
    "/admin/topics",
    "/admin/topics/announcements",
    "/admin/resources",
    "/admin/resources/dec-report",
    "/admin/suppressions",
    "/admin/inbound/1",
    "/admin/imports",
    "/admin/imports/1",
    "/admin/imports/1.json",
    "/admin/imports/1/rejected.csv",
)


def post_data(client, target: str, data: dict):
    """POST ``data`` (which may have a field named url) with the CSRF token of ``target``'s page."""
    return client.post(target, data={"csrf_token": csrf(client.get(target)), **data})


def audited(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_every_members_page_needs_a_sign_in(console):
    _, app = console
    client = app.test_client()
    for url in PAGES:
        r = client.get(url)
        assert r.status_code == 302 and "/admin/login" in r.headers["Location"], url


def test_the_header_links_the_members_area_by_role(console):
    _, app = console
    page = signed_in(app, "vic").get("/admin/campaigns").get_data(as_text=True)
    for href in ("/admin/members", "/admin/pods", "/admin/topics", "/admin/resources", "/admin/suppressions"):
        assert f'href="{href}"' in page, href
    assert 'href="/admin/imports"' in page
    assert "MEMBERS AREA NAVIGATION" not in page


def test_search_filters_and_pages(console, session):
    _, app = console
    for n in range(3):
        add_member(session, f"nurse{n}@example.org", name=f"Nurse {n}", pods=["ipc"] if n == 0 else ())
    add_member(session, "omar@example.org", name="Omar Said", language="ar")
    session.commit()
    client = signed_in(app, "vic")
    page = client.get("/admin/members?q=nurse").get_data(as_text=True)
    assert "nurse0@example.org" in page and "nurse2@example.org" in page and "omar@" not in page
    page = client.get("/admin/members?pod=ipc").get_data(as_text=True)
    assert "nurse0@example.org" in page and "nurse1@" not in page
    page = client.get("/admin/members?language=ar").get_data(as_text=True)
    assert "omar@example.org" in page and "nurse" not in page
    r = client.get("/admin/members?status=nonsense")
    assert r.status_code == 400 and "unknown status" in r.get_data(as_text=True)
    import gll_mail.web.console.members as views

    views.PAGE_SIZE, old = 2, views.PAGE_SIZE
    try:
        first = client.get("/admin/members").get_data(as_text=True)
        assert "omar@example.org" in first and "nurse2@example.org" in first and "nurse0@" not in first
        assert 'rel="next"' in first
        cursor = first.split('href="/admin/members?cursor=')[1].split('"')[0]
        second = client.get(f"/admin/members?cursor={cursor}").get_data(as_text=True)
        assert "nurse1@example.org" in second and "nurse0@example.org" in second and "omar@" not in second
    finally:
        views.PAGE_SIZE = old


def test_member_page_and_the_edits_of_an_editor(console, session):
    _, app = console
    member = add_member(session, "amina@example.org")
    session.commit()
    url = f"/admin/members/{member.id}"
    viewer = signed_in(app, "vic")
    page = viewer.get(url).get_data(as_text=True)
    assert "amina@example.org" in page and "Consent" in page and "Deliveries per campaign" in page
    assert 'value="profile"' not in page  # a viewer reads only
    r = post(viewer, url, url, action="profile", name="X")
    assert r.status_code == 403 and "member.edit needs the role editor" in r.get_data(as_text=True)

    eve = signed_in(app, "eve")
    post(
        eve, url, url, action="profile", name="Amina H.", organization="MoH", country="Tunisia", role="", language="fr"
    )
    post(eve, url, url, action="pod-add", pod="ipc")
    post(eve, url, url, action="topic-add", topic="announcements")
    page = eve.get(url).get_data(as_text=True)
    assert "Amina H." in page and "Tunisia" in page and "Infection prevention and control" in page
    assert 'value="topic-remove"' in page
    post(eve, url, url, action="pod-remove", pod="ipc")
    page = eve.get(url).get_data(as_text=True)
    assert "Add to the pod" in page and page.count("Infection prevention and control") >= 1  # the stay stays
    post(eve, url, url, action="topic-remove", topic="announcements")
    r = post(eve, url, url, action="pod-add", pod="nope")
    assert "no learning pod" in eve.get(url).get_data(as_text=True)
    post(eve, url, url, action="unsubscribe", reason="asked by phone")
    session.expire_all()
    m = session.get(Subscriber, member.id)
    assert (m.name, m.language, m.status) == ("Amina H.", "fr", "unsubscribed")
    for action in ("member.update", "member.pod-add", "member.pod-remove", "member.topic-add", "member.unsubscribe"):
        assert audited(session, action), action
    assert 'value="subscribe"' not in eve.get(url).get_data(as_text=True)  # the team never re-subscribes

    r = post(eve, f"{url}/export", url)
    data = json.loads(r.get_data(as_text=True))
    assert r.headers["Content-Disposition"].startswith("attachment") and data["email"] == "amina@example.org"
    assert viewer.get(f"{url}/export").status_code == 405
    assert post(viewer, f"{url}/export", url).status_code == 403
    assert eve.get("/admin/members/999999").status_code == 404


def test_only_an_admin_erases_after_a_confirmation(console, session):
    _, app = console
    member = add_member(session, "leaving@example.org")
    session.commit()
    url = f"/admin/members/{member.id}"
    eve = signed_in(app, "eve")
    assert "Erase this member" not in eve.get(url).get_data(as_text=True)
    assert eve.get(f"{url}/erase").status_code == 403
    assert post(eve, f"{url}/erase", url, confirm="yes").status_code == 403

    ada = signed_in(app, "ada")
    page = ada.get(f"{url}/erase").get_data(as_text=True)
    assert "Erase leaving@example.org?" in page and "cannot be undone" in page
    r = post(ada, f"{url}/erase", f"{url}/erase", reason="asked by email")
    assert r.status_code == 302 and r.headers["Location"].endswith("/erase")  # not ticked: nothing done
    r = post(ada, f"{url}/erase", f"{url}/erase", confirm="yes", reason="asked by email")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/members")
    session.expire_all()
    assert session.exec(select(Subscriber).where(Subscriber.email == "leaving@example.org")).first() is None
    assert [e.note for e in audited(session, "member.erase")] == ["asked by email"]


def test_pods_and_topics_in_six_languages_archive_and_roster(console, session):
    _, app = console
    add_member(session, "amina@example.org", pods=["ipc"])
    session.commit()
    vic, eve = signed_in(app, "vic"), signed_in(app, "eve")
    page = vic.get("/admin/pods").get_data(as_text=True)
    assert "Infection prevention and control" in page and "New pod" not in page
    assert post(vic, "/admin/pods", "/admin/pods", slug="x", name="X").status_code == 403

    r = post(eve, "/admin/topics", "/admin/topics", slug="events", name="Events", **{"name-ar": "فعاليات"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/topics/events")
    r = post(eve, "/admin/topics", "/admin/topics", slug="Bad Slug", name="x")
    assert r.status_code == 400 and "invalid slug" in r.get_data(as_text=True)
    form = {"name": "GLL announcements", "description": "News", "name-ar": "إعلانات المختبر", "name-fr": "Annonces"}
    form |= {"description-fr": "Nouvelles"}
    post(eve, "/admin/topics/announcements", "/admin/topics/announcements", action="update", **form)
    session.expire_all()
    topic = catalog.get_topic(session, "announcements")
    assert (
        catalog.display_name(topic, "ar") == "إعلانات المختبر"
        and catalog.display_name(topic, "zh") == "GLL announcements"
    )
    assert topic.descriptions == {"fr": "Nouvelles"}
    page = eve.get("/admin/topics/announcements").get_data(as_text=True)
    assert 'value="إعلانات المختبر"' in page and 'dir="rtl"' in page

    post(eve, "/admin/pods/ipc", "/admin/pods/ipc", action="archive")
    session.expire_all()
    assert catalog.get_pod(session, "ipc").archived_at is not None
    assert "Bring back" in eve.get("/admin/pods/ipc").get_data(as_text=True)
    post(eve, "/admin/pods/ipc", "/admin/pods/ipc", action="restore")
    session.expire_all()
    assert catalog.get_pod(session, "ipc").archived_at is None
    assert {e.action for e in audited(session, "pod.archive") + audited(session, "pod.restore")} == {
        "pod.archive",
        "pod.restore",
    }

    page = vic.get("/admin/pods/ipc").get_data(as_text=True)
    assert "Roster" in page and "Amina Haddad" in page
    r = vic.get("/admin/pods/ipc/roster.csv")
    assert r.mimetype == "text/csv" and "amina@example.org" in r.get_data(as_text=True)
    assert vic.get("/admin/pods/nope").status_code == 404
    assert post(eve, "/admin/pods/nope", "/admin/pods", action="archive").status_code == 404


def test_resources_repoint_replace_access_impact_archive_and_delete(console, session):
    settings, app = console
    write_campaign(settings)
    session.add(Campaign(slug=SLUG, subject="December news", status=CampaignStatus.SENT))
    session.commit()
    url = "/admin/resources/dec-report"
    vic, eve = signed_in(app, "vic"), signed_in(app, "eve")
    page = vic.get("/admin/resources").get_data(as_text=True)
    assert "December report" in page and "Clicks" in page and "Registrations" in page
    assert "Repoint" not in vic.get(url).get_data(as_text=True)
    assert post_data(vic, url, {"action": "repoint", "url": "https://example.org/x"}).status_code == 403

    post_data(eve, url, {"action": "repoint", "url": "https://www.who.int/publications/dec-report-v2"})
    post(eve, url, url, action="titles", title="December report", **{"title-fr": "Rapport de décembre"})
    token_page = eve.get(url)
    r = eve.post(
        url,
        data={"csrf_token": csrf(token_page), "action": "replace", "file": (io.BytesIO(b"%PDF-1.4 x"), "Report 2.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    assert (settings.resources_dir / "dec-report" / "Report-2.pdf").read_bytes() == b"%PDF-1.4 x"
    session.expire_all()
    resource = catalog.get_resource(session, "dec-report")
    assert resource.file_path == "dec-report/Report-2.pdf" and resource.titles == {"fr": "Rapport de décembre"}

    r = post(eve, url, url, action="access", access="public")
    page = r.get_data(as_text=True)
    assert r.status_code == 409 and "Check before changing" in page and SLUG in page and "December news" in page
    session.expire_all()
    assert catalog.get_resource(session, "dec-report").access == "registered"  # not before confirming
    post(eve, url, url, action="access", access="public", confirmed="yes")
    session.expire_all()
    assert catalog.get_resource(session, "dec-report").access == "public"

    r = post(eve, f"{url}/delete", url)
    assert r.status_code == 302 and "cannot be deleted" in eve.get(url).get_data(as_text=True)
    post(eve, url, url, action="archive", moved_to="https://www.who.int/archive")
    session.expire_all()
    assert catalog.get_resource(session, "dec-report").moved_to == "https://www.who.int/archive"

    r = post_data(
        eve,
        "/admin/resources",
        {"slug": "guide", "title": "Guide", "access": "registered", "url": "https://example.org/g"},
    )
    assert r.headers["Location"].endswith("/admin/resources/guide")
    r = post(eve, "/admin/resources/guide/delete", "/admin/resources/guide")
    assert r.headers["Location"].endswith("/admin/resources")
    assert eve.get("/admin/resources/guide").status_code == 404
    assert {"resource.update", "resource.archive", "resource.delete"} <= {
        e.action
        for e in audited(session, "resource.update")
        + audited(session, "resource.archive")
        + audited(session, "resource.delete")
    }


def test_suppressions_need_an_admin_to_change_and_show_the_raw_message(console, session):
    _, app = console
    row = InboundMessage(source="smtp", raw=b"From: MAILER-DAEMON\r\n\r\n550 no such user", kind="hard")
    session.add(row)
    session.commit()
    vic, eve, ada = signed_in(app, "vic"), signed_in(app, "eve"), signed_in(app, "ada")
    page = eve.get("/admin/suppressions").get_data(as_text=True)
    assert "Suppress an address" not in page
    assert (
        post(
            eve, "/admin/suppressions", "/admin/suppressions", action="add", email="x@example.org", note="n"
        ).status_code
        == 403
    )

    post(ada, "/admin/suppressions", "/admin/suppressions", action="add", email="spam@example.org", note="")
    assert "say why" in ada.get("/admin/suppressions").get_data(as_text=True)
    post(
        ada,
        "/admin/suppressions",
        "/admin/suppressions",
        action="add",
        email="spam@example.org",
        reason="manual",
        note="asked by the hospital",
    )
    page = vic.get("/admin/suppressions?q=spam").get_data(as_text=True)
    assert "spam@example.org" in page and "asked by the hospital" in page
    post(ada, "/admin/suppressions", "/admin/suppressions", action="remove", email="spam@example.org", note="mistake")
    session.expire_all()
    assert session.exec(select(Suppression).where(Suppression.email == "spam@example.org")).first() is None
    assert [e.note for e in audited(session, "suppression.remove")] == ["mistake"]

    page = vic.get(f"/admin/inbound/{row.id}").get_data(as_text=True)
    assert "550 no such user" in page
    assert vic.get(f"/admin/inbound/{row.id + 1}").status_code == 404


def french_excel() -> bytes:
    text = (
        "Courriel pro;Nom;Pays;Établissement\r\n"
        "amelie@hopital.example.fr;Amélie Dupré;France;CHU de Lyon\r\n"
        "pas-une-adresse;Jean;France;\r\n"
        "bruno@example.fr;Bruno Lefèvre;Côte d'Ivoire;Ministère de la Santé\r\n"
    )
    return text.encode("cp1252")


def run_and_wait(client, job_url: str, action: str) -> None:
    r = post(client, f"{job_url}/run", job_url, action=action)
    assert r.status_code == 302
    job_id = int(job_url.rsplit("/", 1)[1])
    thread = import_views.RUNNING.get(job_id)
    if thread is not None:
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_import_preview_mapping_dry_run_and_background_run(console, session):
    _, app = console
    vic, eve = signed_in(app, "vic"), signed_in(app, "eve")
    assert "Upload and preview" not in vic.get("/admin/imports").get_data(as_text=True)
    token = csrf(eve.get("/admin/imports"))
    r = vic.post(
        "/admin/imports",
        data={"csrf_token": csrf(vic.get("/admin/imports")), "file": (io.BytesIO(b"email\n"), "x.csv")},
    )
    assert r.status_code == 403
    r = eve.post(
        "/admin/imports",
        data={"csrf_token": token, "pods": "ipc", "file": (io.BytesIO(french_excel()), "membres.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    job_url = r.headers["Location"].removeprefix("http://localhost")
    page = eve.get(job_url).get_data(as_text=True)
    assert "Windows-1252 (Latin-1) text, separated by &#39;;&#39;" in page
    assert "Amélie Dupré" in page and "Courriel pro" in page

    run_and_wait(eve, job_url, "check")  # no column is email yet: the import fails to read, nothing written
    post(eve, f"{job_url}/mapping", job_url, **{"col-0": "", "col-1": "name"})
    assert "map one column to email" in eve.get(job_url).get_data(as_text=True)
    post(
        eve,
        f"{job_url}/mapping",
        job_url,
        **{"col-0": "email", "col-1": "name", "col-2": "country", "col-3": "organization"},
    )

    run_and_wait(eve, job_url, "check")
    status = vic.get(f"{job_url}.json").get_json()
    assert status["status"] == "checked" and status["dry_run"] and status["skipped"] == 1
    page = eve.get(job_url).get_data(as_text=True)
    assert "Problems (1)" in page and "pas-une-adresse" in page and "dry run" in page
    session.expire_all()
    assert session.exec(select(Subscriber).where(Subscriber.email == "amelie@hopital.example.fr")).first() is None

    run_and_wait(eve, job_url, "import")
    status = vic.get(f"{job_url}.json").get_json()
    assert status["status"] == "done" and status["imported"] == 2 and status["percent"] == 100
    session.expire_all()
    amelie = session.exec(select(Subscriber).where(Subscriber.email == "amelie@hopital.example.fr")).one()
    assert amelie.organization == "CHU de Lyon"
    rejected = vic.get(f"{job_url}/rejected.csv")
    assert rejected.mimetype == "text/csv" and "pas-une-adresse" in rejected.get_data(as_text=True)
    r = post(eve, f"{job_url}/run", job_url, action="import")
    assert "imported already" in eve.get(job_url).get_data(as_text=True)
    page = eve.get(job_url)
    assert (
        "import-progress.js" in page.get_data(as_text=True)
        and "script-src 'self'" in page.headers["Content-Security-Policy"]
    )
    assert vic.get("/admin/imports/999999").status_code == 404
    listed = vic.get("/admin/imports").get_data(as_text=True)
    assert "Past imports" in listed and "membres.csv" in listed and f'href="{job_url}/rejected.csv"' in listed

    # the web process stops mid-import (a restart): the job stays "running" and its lease runs out
    from sqlalchemy import update

    from gll_mail.models import ImportJob

    job_id = int(job_url.rsplit("/", 1)[1])
    session.connection().execute(
        update(ImportJob).where(ImportJob.id == job_id).values(status="running", dry_run=False, lease_until=None)
    )
    session.commit()
    page = eve.get(job_url).get_data(as_text=True)
    assert "was interrupted" in page and "Run it again" in page and "gll-mail worker" in page
    assert "interrupted" in vic.get("/admin/imports").get_data(as_text=True)
    run_and_wait(eve, job_url, "import")
    status = vic.get(f"{job_url}.json").get_json()
    assert status["status"] == "done" and status["resumed"] == 1 and status["unchanged"] == 2
