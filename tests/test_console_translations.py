"""The editor's translation tabs: each shows whether it is up to date with the English text, a
"Mark … as up to date" button (POST, editors and above, CSRF, audited), and a stale translation's
diff in the preflight list."""

from __future__ import annotations

from console_support import post, signed_in
from team_support import AR, EN, SLUG, write_campaign
from web_support import csrf

from gll_mail.campaigns import revisions, translations
from gll_mail.team.audit import entries

EDIT = f"/admin/campaigns/{SLUG}/edit"
MARK = f"/admin/campaigns/{SLUG}/translations/ar/mark"


def test_an_editor_marks_a_translation_and_sees_it_go_stale_with_the_diff(console, session):
    settings, app = console
    write_campaign(settings)
    eve = signed_in(app, "eve")
    page = eve.get(EDIT).get_data(as_text=True)
    assert "<strong>Arabic translation:</strong> unmarked: it does not say which English text it translates." in page
    assert 'form="mark-ar"' in page and f'action="{MARK}"' in page
    assert "Mark Arabic as up to date" in page

    r = post(eve, MARK, EDIT)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{EDIT}#lang-ar")
    digest = translations.english_text(EN).digest
    assert f"translation_of: {digest}" in (settings.campaigns_dir / f"{SLUG}.ar.md").read_text(encoding="utf-8")
    page = eve.get(EDIT).get_data(as_text=True)
    assert f"Arabic marked as up to date with the English text {digest}" in page
    assert 'class="translation-state up-to-date"' in page and f"up to date (English text {digest})" in page
    (entry,) = [e for e in entries(session, object=("campaign", SLUG)) if e.action == "campaign.translation-marked"]
    assert (entry.username, entry.details["language"], entry.details["translation_of"]) == ("eve", "ar", digest)

    # the English text changes through the editor's autosave: the tab and the preflight say so
    loaded = revisions.load_files(settings, SLUG)
    form = {
        "files_hash": loaded.files_hash,
        "languages": ["en", "ar"],
        "kind": "announcement",
        "topics": ["announcements"],
        "timezone": "UTC",
        "en-subject": "December news",
        "en-body": "Dear colleague, read the [new report](resource:dec-report) and [join the pod](pod:ipc).",
        "ar-subject": "أخبار ديسمبر",
        "ar-body": AR.split("---\n\n", 1)[1].strip(),
        "csrf_token": csrf(eve.get(EDIT)),
    }
    data = eve.post(f"/admin/campaigns/{SLUG}/autosave", data=form).get_json()
    assert data["translations"]["ar"]["state"] == "stale"
    (stale,) = [p for p in data["problems"] if "is stale" in p["message"]]
    assert stale["message"] == "ar is stale: the English text changed in line 10"  # as the editor writes the file
    assert (stale["language"], stale["severity"]) == ("ar", "warning")
    assert "-Dear member, read the" in stale["diff"] and "+Dear colleague, read the" in stale["diff"]
    page = eve.get(EDIT).get_data(as_text=True)
    assert 'class="translation-state stale"' in page
    assert "<summary>What changed in English</summary>" in page and "+Dear colleague, read the" in page


def test_marking_needs_an_editor_a_post_and_the_forms_token(console):
    settings, app = console
    write_campaign(settings)
    vic = signed_in(app, "vic")
    assert post(vic, MARK, f"/admin/campaigns/{SLUG}").status_code == 403
    eve = signed_in(app, "eve")
    assert eve.get(MARK).status_code == 405
    assert eve.post(MARK, data={"csrf_token": "forged"}).status_code in (400, 403)
    assert eve.post(MARK).status_code in (400, 403)
    assert "translation_of" not in (settings.campaigns_dir / f"{SLUG}.ar.md").read_text(encoding="utf-8")
    r = post(eve, f"/admin/campaigns/{SLUG}/translations/fr/mark", EDIT)
    assert r.status_code == 302
    assert "dec-news has no fr translation" in eve.get(EDIT).get_data(as_text=True)
