"""Campaign translations that know when they are stale: the English text's hash, marks, statuses,
the preflight's warnings (errors in production), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from team_support import AR, EN, SLUG, Clock, seed_catalog, team, write_campaign

from gll_mail.campaigns import translations
from gll_mail.campaigns.approvals import approve, request
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.revisions import load_files, save_source
from gll_mail.campaigns.sources import load_source
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.team.audit import entries
from gll_mail.team.roles import PermissionDenied

LONG_EN = EN.replace(
    "Dear member,",
    "Dear member,\n\nFirst paragraph.\n\nSecond paragraph.\n\nThird paragraph.\n\n",
)


@pytest.fixture
def db(any_engine, team_settings):
    with session_scope(any_engine) as session:
        seed_catalog(session, team_settings)
        session.info["users"] = team(session)
        yield session


def _status(session, settings, language="ar"):
    source = load_source(settings.campaigns_dir / f"{SLUG}.md")
    return {s.language: s for s in translations.statuses(session, source)}[language]


def test_the_english_text_is_subject_preheader_and_body_only():
    text = translations.english_text(EN)
    assert text.lines[:2] == ("subject: December news", "preheader: ")
    assert text.lines[2].startswith("Dear member, read the [new report]")
    assert text.numbers == (4, 1, 9)  # subject on line 4, no preheader, the body on line 9
    same = EN.replace('subject: "December news"', "subject: December news").replace("[announcements]", "[other]")
    assert translations.english_text(same + "\n\n").digest == text.digest  # quoting, audience, blank lines
    assert translations.english_text(EN.replace("December news", "January news")).digest != text.digest
    assert len(text.digest) == translations.HASH_DIGITS
    assert translations.english_text("no front matter") is None


def test_mark_records_the_english_hash_keeps_a_revision_and_voids_approvals(db, team_settings):
    users, clock = db.info["users"], Clock()
    write_campaign(team_settings)
    assert _status(db, team_settings).state == translations.UNMARKED
    request(team_settings, db, users["eve"], SLUG, clock=clock)
    approve(team_settings, db, users["abe"], SLUG, clock=clock)
    marked = translations.mark(team_settings, db, users["eve"], SLUG, "ar", clock=clock)
    digest = translations.english_text(EN).digest
    assert (marked.digest, marked.changed) == (digest, True)
    text = (team_settings.campaigns_dir / f"{SLUG}.ar.md").read_text(encoding="utf-8")
    assert text == AR.replace("---\n\n", f"translation_of: {digest}\n---\n\n", 1)
    assert marked.revision.files["ar"] == text and marked.revision.author == "eve"
    actions = [e.action for e in entries(db, object=("campaign", SLUG))]
    assert "campaign.approval-voided" in actions and actions[-2:] == ["campaign.save", "campaign.translation-marked"]
    status = _status(db, team_settings)
    assert (status.state, status.marked) == (translations.UP_TO_DATE, digest)
    again = translations.mark(team_settings, db, users["eve"], SLUG, "ar", clock=clock)
    assert (again.changed, again.revision.id) == (False, marked.revision.id)
    assert not check(team_settings, db, load_source(team_settings.campaigns_dir / f"{SLUG}.md")).warnings


def test_only_editors_mark_and_only_existing_translations(db, team_settings):
    users = db.info["users"]
    write_campaign(team_settings)
    with pytest.raises(PermissionDenied):
        translations.mark(team_settings, db, users["vic"], SLUG, "ar")
    with pytest.raises(GllMailError, match="has no fr translation"):
        translations.mark(team_settings, db, users["eve"], SLUG, "fr")
    with pytest.raises(GllMailError, match="mark a translation"):
        translations.mark(team_settings, db, users["eve"], SLUG, "en")


def test_a_changed_english_text_makes_the_translation_stale_with_lines_and_diff(db, team_settings):
    users, clock = db.info["users"], Clock()
    write_campaign(team_settings, en=LONG_EN)
    translations.mark(team_settings, db, users["eve"], SLUG, "ar", clock=clock)
    changed = LONG_EN.replace("Second paragraph.", "Second paragraph, rewritten.\nWith a new line.")
    changed = changed.replace("kind: announcement", "kind: event")  # not translated: not in the text
    save_source(team_settings, db, users["eve"], SLUG, {"en": changed}, load_files(team_settings, SLUG).files_hash)
    status = _status(db, team_settings)
    assert status.state == translations.STALE and status.changed == ((13, 14),)
    assert changed.split("\n")[12:14] == ["Second paragraph, rewritten.", "With a new line."]
    assert "-Second paragraph.\n+Second paragraph, rewritten.\n+With a new line.\n" in status.diff
    assert status.diff.startswith(f"--- {SLUG}.md (revision ")
    report = check(team_settings, db, load_source(team_settings.campaigns_dir / f"{SLUG}.md"))
    (warning,) = [w for w in report.warnings if "stale" in w.message]
    assert warning.message == "ar is stale: the English text changed in lines 13–14"
    assert (warning.file.name, warning.line, warning.detail) == (f"{SLUG}.ar.md", 3, status.diff)
    assert not [e for e in report.errors if "stale" in e.message]  # a warning, outside production

    production = team_settings.replace(env="production")
    report = check(production, db, load_source(team_settings.campaigns_dir / f"{SLUG}.md"))
    assert any(e.message.startswith("ar is stale") and "production refuses" in e.message for e in report.errors)

    allowed = changed.replace("kind: event", "kind: event\nallow_stale_translations: true")
    (team_settings.campaigns_dir / f"{SLUG}.md").write_text(allowed, encoding="utf-8")
    report = check(production, db, load_source(team_settings.campaigns_dir / f"{SLUG}.md"))
    assert not [e for e in report.errors if "stale" in e.message]
    messages = [w.message for w in report.warnings]
    assert "ar is stale: the English text changed in lines 14–15" in messages  # one front matter line more
    assert any(m.startswith("allow_stale_translations: true lets") for m in messages)


def test_a_hand_written_mark_of_an_unknown_text_is_stale_without_a_diff(db, team_settings):
    write_campaign(team_settings, ar=AR.replace("---\n\n", 'translation_of: "0123456789abcdef"\n---\n\n', 1))
    status = _status(db, team_settings)
    assert (status.state, status.revision, status.diff, status.marked) == (
        translations.STALE,
        None,
        "",
        "0123456789abcdef",
    )
    report = check(team_settings, db, load_source(team_settings.campaigns_dir / f"{SLUG}.md"))
    (warning,) = [w for w in report.warnings if "stale" in w.message]
    assert "which no stored revision holds" in warning.message and warning.detail == ""
    # the same hash written by hand for today's English text is simply up to date
    digest = translations.english_text(EN).digest
    write_campaign(team_settings, ar=AR.replace("---\n\n", f"translation_of: '{digest}'\n---\n\n", 1))
    assert _status(db, team_settings).state == translations.UP_TO_DATE


def test_statuses_list_every_language_with_its_recipients(db, team_settings):
    write_campaign(team_settings)
    source = load_source(team_settings.campaigns_dir / f"{SLUG}.md")
    found = translations.statuses(db, source, {"ar": 7, "fr": 3})
    assert [(s.language, s.state, s.recipients) for s in found] == [
        ("ar", "unmarked", 7),
        ("zh", "missing", 0),
        ("fr", "missing", 3),
        ("ru", "missing", 0),
        ("es", "missing", 0),
    ]
    assert found[2].describe() == "missing: these recipients get the English text"
