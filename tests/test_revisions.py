"""Campaign revisions: atomic saves, conflicts with the disk, hand edits, diffs; the content hash."""

from __future__ import annotations

import os

import pytest
from team_support import (
    AR,
    EN,
    SLUG,
    Clock,
    seed_catalog,
    team,
    write_campaign,
)

from gll_mail.campaigns.content_hash import content_hash, hash_inputs
from gll_mail.campaigns.revisions import (
    ConflictError,
    current_revision,
    diff,
    load_files,
    revisions,
    save_source,
)
from gll_mail.campaigns.sources import load_source
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.team.audit import entries
from gll_mail.team.roles import PermissionDenied


@pytest.fixture
def db(any_engine, team_settings):
    with session_scope(any_engine) as session:
        seed_catalog(session, team_settings)
        users = team(session)
        session.info["users"] = users
        yield session


def test_a_new_campaign_is_written_and_kept_as_a_revision(db, team_settings):
    users, clock = db.info["users"], Clock()
    rev = save_source(team_settings, db, users["eve"], SLUG, {"en": EN, "ar": AR}, None, clock=clock)
    base = team_settings.campaigns_dir / f"{SLUG}.md"
    assert base.read_text(encoding="utf-8") == EN
    assert (team_settings.campaigns_dir / f"{SLUG}.ar.md").read_text(encoding="utf-8") == AR
    assert (rev.author, rev.author_id, rev.created_at, rev.files) == (
        "eve",
        users["eve"].id,
        clock.now,
        {"en": EN, "ar": AR},
    )
    assert rev.content_hash == content_hash(team_settings, db, load_source(base))
    assert [p.name for p in team_settings.campaigns_dir.iterdir() if p.name.startswith(".")] == []  # no temp left
    loaded = load_files(team_settings, SLUG)
    assert loaded.files == {"en": EN, "ar": AR}
    (entry,) = entries(db, object=("campaign", SLUG))
    assert (entry.action, entry.username, entry.hash_before, entry.hash_after) == (
        "campaign.save",
        "eve",
        "",
        rev.content_hash,
    )
    with pytest.raises(ConflictError, match="exists already"):
        save_source(team_settings, db, users["eve"], SLUG, {"en": EN}, None)


def test_viewers_cannot_save(db, team_settings):
    with pytest.raises(PermissionDenied):
        save_source(team_settings, db, db.info["users"]["vic"], SLUG, {"en": EN}, None)
    assert not (team_settings.campaigns_dir / f"{SLUG}.md").exists()


def test_a_file_changed_on_disk_is_never_overwritten(db, team_settings):
    eve = db.info["users"]["eve"]
    write_campaign(team_settings)
    loaded = load_files(team_settings, SLUG)
    by_hand = AR.replace("أخبار ديسمبر", "أخبار كانون الأول")
    (team_settings.campaigns_dir / f"{SLUG}.ar.md").write_text(by_hand, encoding="utf-8")
    with pytest.raises(ConflictError, match="changed on disk since you opened them; nothing was saved") as caught:
        save_source(team_settings, db, eve, SLUG, {"en": EN.replace("December", "Winter")}, loaded.files_hash)
    assert caught.value.files["ar"] == by_hand  # what the editor shows beside its own text
    assert (team_settings.campaigns_dir / f"{SLUG}.md").read_text(encoding="utf-8") == EN
    again = load_files(team_settings, SLUG)
    rev = save_source(team_settings, db, eve, SLUG, {"en": EN.replace("December", "Winter")}, again.files_hash)
    assert rev.files["ar"] == by_hand and "Winter news" in rev.files["en"]


def test_a_failed_write_leaves_every_file_as_it_was(db, team_settings, monkeypatch):
    eve = db.info["users"]["eve"]
    write_campaign(team_settings)
    loaded = load_files(team_settings, SLUG)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".ar.md"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save_source(team_settings, db, eve, SLUG, {"ar": AR + "\nmore\n", "en": EN + "\nmore\n"}, loaded.files_hash)
    assert (team_settings.campaigns_dir / f"{SLUG}.ar.md").read_text(encoding="utf-8") == AR
    assert sorted(p.name for p in team_settings.campaigns_dir.iterdir()) == [f"{SLUG}.ar.md", f"{SLUG}.md"]


def test_hand_edits_become_revisions_when_next_loaded_and_diffs_name_each_file(db, team_settings):
    eve, clock = db.info["users"]["eve"], Clock()
    write_campaign(team_settings)
    first = current_revision(team_settings, db, SLUG, clock=clock)
    assert first.author == "" and first.author_id is None
    assert current_revision(team_settings, db, SLUG) is first  # same content: no new revision
    (team_settings.campaigns_dir / f"{SLUG}.md").write_text(EN.replace("new report", "annual report"), encoding="utf-8")
    clock.advance(minutes=5)
    by_hand = current_revision(team_settings, db, SLUG, clock=clock)
    assert by_hand.id != first.id and by_hand.created_at == clock.now and by_hand.author == ""
    loaded = load_files(team_settings, SLUG)
    saved = save_source(team_settings, db, eve, SLUG, {"ar": None}, loaded.files_hash)  # drop the translation
    assert not (team_settings.campaigns_dir / f"{SLUG}.ar.md").exists()
    assert [r.id for r in revisions(db, SLUG)] == [first.id, by_hand.id, saved.id]
    changes = diff(first, by_hand)
    assert list(changes) == [f"{SLUG}.md"]
    assert "-Dear member, read the [new report]" in changes[f"{SLUG}.md"]
    assert "+Dear member, read the [annual report]" in changes[f"{SLUG}.md"]
    assert changes[f"{SLUG}.md"].startswith(
        f"--- {SLUG}.md (revision {first.id})\n+++ {SLUG}.md (revision {by_hand.id})"
    )
    removed = diff(by_hand, saved)
    assert list(removed) == [f"{SLUG}.ar.md"] and "+++ /dev/null" in removed[f"{SLUG}.ar.md"]
    with pytest.raises(GllMailError, match="cannot be removed"):
        save_source(team_settings, db, eve, SLUG, {"en": ""}, load_files(team_settings, SLUG).files_hash)


def test_the_content_hash_covers_files_layout_and_link_targets(db, team_settings):
    write_campaign(team_settings)
    source = load_source(team_settings.campaigns_dir / f"{SLUG}.md")
    first = content_hash(team_settings, db, source)
    assert first == content_hash(team_settings, db, source) and len(first) == 64
    inputs = hash_inputs(team_settings, db, source)
    assert sorted(inputs["files"]) == [f"{SLUG}.ar.md", f"{SLUG}.md"]
    assert sorted(inputs["layouts"]) == ["announcement.mjml", "base.mjml"]  # and the layout it extends
    assert inputs["resources"] == {
        "dec-report": {"url": "https://www.who.int/publications/dec-report", "file": None, "access": "registered"}
    }
    assert inputs["pods"] == {"ipc": "Infection prevention and control"}
    seen = {first}
    (team_settings.templates_dir / "base.mjml").write_text(
        (team_settings.templates_dir / "base.mjml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )
    seen.add(content_hash(team_settings, db, source))
    from gll_mail.catalog import get_pod, get_resource

    get_resource(db, "dec-report").access = "pod:ipc"
    seen.add(content_hash(team_settings, db, source))
    get_pod(db, "ipc").name = "IPC"
    seen.add(content_hash(team_settings, db, source))
    assert len(seen) == 4
