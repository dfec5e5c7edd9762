"""Four-eyes approval: requests, the self-approval refusal, approvals bound to one content hash and
voided by any change (a language file, the layout, a linked resource), the one-line refusal."""

from __future__ import annotations

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

from gll_mail.campaigns.approvals import (
    ApprovalRequired,
    approve,
    reject,
    request,
    require_approved,
    state,
)
from gll_mail.campaigns.revisions import load_files, save_source
from gll_mail.campaigns.sources import load_source
from gll_mail.catalog import get_resource
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.team.audit import entries
from gll_mail.team.roles import PermissionDenied


@pytest.fixture
def four_eyes(team_settings):
    return team_settings.replace(approvals_required=1)


@pytest.fixture
def db(any_engine, four_eyes):
    with session_scope(any_engine) as session:
        seed_catalog(session, four_eyes)
        session.info["users"] = team(session)
        yield session


def _source(settings):
    return load_source(settings.campaigns_dir / f"{SLUG}.md")


def _edit(settings, session, user, old, new, language="en"):
    loaded = load_files(settings, SLUG)
    return save_source(
        settings, session, user, SLUG, {language: loaded.files[language].replace(old, new)}, loaded.files_hash
    )


def test_required_approvals_default_to_one_in_production_only(settings):
    assert settings.required_approvals == 0
    assert settings.replace(env="production", secret_keys=("k" * 40,)).required_approvals == 1
    assert settings.replace(env="production", secret_keys=("k" * 40,), approvals_required=2).required_approvals == 2
    assert settings.replace(approvals_required=0).required_approvals == 0


def test_nobody_approves_their_own_revision(db, four_eyes):
    u, clock = db.info["users"], Clock()
    save_source(four_eyes, db, u["eve"], SLUG, {"en": EN, "ar": AR}, None, clock=clock)
    with pytest.raises(PermissionDenied, match="editor; campaign.approve needs"):
        approve(four_eyes, db, u["eve"], SLUG)
    req = request(four_eyes, db, u["abe"], SLUG, "please check the Arabic", clock=clock)  # an approver asks
    with pytest.raises(
        PermissionDenied,
        match=f"you wrote this revision of {SLUG} \\({req.content_hash[:8]}\\); another approver must sign off",
    ):
        approve(four_eyes, db, u["abe"], SLUG)
    with pytest.raises(ApprovalRequired):
        require_approved(four_eyes, db, _source(four_eyes))
    ok = approve(four_eyes, db, u["amy"], SLUG, "checked both languages", clock=clock)
    assert ok.content_hash == req.content_hash
    with pytest.raises(GllMailError, match="already approved"):
        approve(four_eyes, db, u["amy"], SLUG)
    assert require_approved(four_eyes, db, _source(four_eyes)) == ok.content_hash
    st = state(four_eyes, db, SLUG)
    assert st.approved and [a.username for a in st.approvals] == ["amy"] and st.authors == ["abe", "eve"]
    assert st.summary() == "approved (1 of 1 required)" and st.changes == {}


def test_an_approver_who_edited_since_the_last_approval_is_an_author(db, four_eyes):
    u = db.info["users"]
    save_source(four_eyes, db, u["eve"], SLUG, {"en": EN}, None)
    approve(four_eyes, db, u["abe"], SLUG)
    _edit(four_eyes, db, u["amy"], "December news", "Winter news")
    with pytest.raises(PermissionDenied, match="you wrote this revision"):
        approve(four_eyes, db, u["amy"], SLUG)
    approve(four_eyes, db, u["abe"], SLUG)  # abe wrote nothing since the last approval
    _edit(four_eyes, db, u["eve"], "Winter news", "Season news")
    approve(four_eyes, db, u["amy"], SLUG)  # amy's edit was approved by abe: she is no author of this one


@pytest.mark.parametrize("change", ["language file", "layout", "resource url"])
def test_any_change_voids_the_approval(db, four_eyes, change):
    u, clock = db.info["users"], Clock()
    write_campaign(four_eyes)  # written by hand
    request(four_eyes, db, u["eve"], SLUG, clock=clock)
    approved = approve(four_eyes, db, u["abe"], SLUG, clock=clock)
    clock.advance(hours=1)
    if change == "language file":
        (four_eyes.campaigns_dir / f"{SLUG}.ar.md").write_text(AR.replace("الجديد", "السنوي"), encoding="utf-8")
    elif change == "layout":
        layout = four_eyes.templates_dir / "base.mjml"
        layout.write_text(layout.read_text(encoding="utf-8").replace("</mjml>", "</mjml>\n"), encoding="utf-8")
    else:
        get_resource(db, "dec-report").url = "https://www.who.int/publications/dec-report-v2"
        db.flush()
    with pytest.raises(ApprovalRequired) as refused:
        require_approved(four_eyes, db, _source(four_eyes), clock=clock)
    new_hash = state(four_eyes, db, SLUG).content_hash
    assert str(refused.value) == (
        f"campaign {SLUG} needs 1 approval of its current content (hash {new_hash[:8]}); it has 0 — ask an "
        f"approver: gll-mail campaign approvals {SLUG}"
    )
    st = state(four_eyes, db, SLUG, clock=clock)
    assert not st.approved and st.approvals == [] and st.last_approved.content_hash == approved.content_hash
    assert {v.decision for v in st.voided} == {"requested", "approved"}
    assert all(v.voided_at == clock.now and new_hash[:8] in v.void_reason for v in st.voided)
    expected_key = {"language file": f"{SLUG}.ar.md", "layout": "layout", "resource url": "links"}[change]
    assert list(st.changes) == [expected_key]
    if change == "resource url":
        assert '+   "url": "https://www.who.int/publications/dec-report-v2"' in st.changes["links"]
    voided = entries(db, object=f"campaign:{SLUG}", action="campaign.approval-voided")
    assert [(e.username, e.hash_before, e.hash_after) for e in voided] == [
        ("(system)", approved.content_hash, new_hash)
    ] * 2
    approve(four_eyes, db, u["amy"], SLUG, clock=clock)  # re-approval of the new content
    require_approved(four_eyes, db, _source(four_eyes))


def test_a_rejection_holds_until_the_content_changes(db, four_eyes):
    u = db.info["users"]
    save_source(four_eyes, db, u["eve"], SLUG, {"en": EN, "ar": AR}, None)
    with pytest.raises(GllMailError, match="say why in a note"):
        reject(four_eyes, db, u["abe"], SLUG, " ")
    reject(four_eyes, db, u["abe"], SLUG, "the Arabic subject is English")
    with pytest.raises(GllMailError, match="already rejected"):
        approve(four_eyes, db, u["abe"], SLUG)
    approve(four_eyes, db, u["amy"], SLUG)
    with pytest.raises(ApprovalRequired, match="rejected by abe .*: the Arabic subject is English"):
        require_approved(four_eyes, db, _source(four_eyes))
    _edit(four_eyes, db, u["eve"], "أخبار ديسمبر", "أخبار كانون الأول", "ar")
    assert state(four_eyes, db, SLUG).rejections == []
    with pytest.raises(GllMailError, match="changed since you reviewed it"):
        approve(four_eyes, db, u["abe"], SLUG, expected_hash="00000000")
    approve(four_eyes, db, u["abe"], SLUG, expected_hash=state(four_eyes, db, SLUG).content_hash[:8])
    require_approved(four_eyes, db, _source(four_eyes))


def test_no_approval_needed_by_default(db, team_settings):
    write_campaign(team_settings)
    assert require_approved(team_settings, db, _source(team_settings)) == state(team_settings, db, SLUG).content_hash
    assert state(team_settings, db, SLUG).summary() == "no approval required"


def test_every_step_is_in_the_audit_log(db, four_eyes):
    u = db.info["users"]
    save_source(four_eyes, db, u["eve"], SLUG, {"en": EN}, None)
    request(four_eyes, db, u["eve"], SLUG, "ready")
    reject(four_eyes, db, u["abe"], SLUG, "typo")
    _edit(four_eyes, db, u["eve"], "December", "Winter")
    approve(four_eyes, db, u["amy"], SLUG, "fine now")
    log = [(e.username, e.action) for e in entries(db, object=("campaign", SLUG))]
    assert log == [
        ("eve", "campaign.save"),
        ("eve", "campaign.request-approval"),
        ("abe", "campaign.reject"),
        ("(system)", "campaign.approval-voided"),
        ("(system)", "campaign.approval-voided"),
        ("eve", "campaign.save"),
        ("amy", "campaign.approve"),
    ]
