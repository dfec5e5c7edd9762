"""With GLL_MAIL_APPROVALS_REQUIRED, no path sends an unapproved or changed revision: scheduling and
sending refuse it in one line, and the worker's launch at the scheduled time re-checks the content
hash and pauses the campaign with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from team_support import SLUG, seed_catalog, team, write_campaign

from gll_mail.campaigns.approvals import ApprovalRequired, approve, request
from gll_mail.campaigns.sources import load_source
from gll_mail.catalog import get_resource
from gll_mail.cli import main
from gll_mail.db import session_scope
from gll_mail.delivery.control import launch_checked, schedule, send_now
from gll_mail.models import Campaign, CampaignStatus, Subscriber, Subscription, Topic, utcnow


@pytest.fixture
def four_eyes(team_settings, any_engine):
    settings = team_settings.replace(approvals_required=1)
    with session_scope(any_engine) as session:
        seed_catalog(session, settings)
        users = team(session)
        topic = session.exec(select(Topic)).one()
        member = Subscriber(email="member@example.org", language="ar")
        session.add(member)
        session.flush()
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    write_campaign(settings)
    return settings, users


def _approve(engine, settings, users):
    with session_scope(engine) as session:
        request(settings, session, session.merge(users["eve"]), SLUG, "ready")
        approve(settings, session, session.merge(users["abe"]), SLUG, "checked")


def test_schedule_and_send_refuse_an_unapproved_campaign(any_engine, four_eyes):
    settings, _ = four_eyes
    source = load_source(settings.campaigns_dir / f"{SLUG}.md")
    with pytest.raises(ApprovalRequired, match="needs 1 approval of its current content"):
        schedule(any_engine, settings, source, utcnow() + timedelta(hours=1))
    with pytest.raises(ApprovalRequired):
        send_now(any_engine, settings, source)
    with session_scope(any_engine) as session:
        assert session.exec(select(Campaign)).all() == []  # nothing was even synced


def test_the_worker_pauses_a_campaign_whose_content_changed_after_approval(any_engine, four_eyes):
    settings, users = four_eyes
    _approve(any_engine, settings, users)
    source = load_source(settings.campaigns_dir / f"{SLUG}.md")
    campaign = schedule(any_engine, settings, source, utcnow() + timedelta(hours=1))
    assert campaign.status == CampaignStatus.SCHEDULED
    with session_scope(any_engine) as session:  # a linked resource repointed: the approved content is gone
        get_resource(session, "dec-report").url = "https://example.org/elsewhere.pdf"
    assert launch_checked(any_engine, settings, campaign.id) == 0
    with session_scope(any_engine) as session:
        held = session.get(Campaign, campaign.id)
        assert held.status == CampaignStatus.PAUSED
        assert held.paused_reason.startswith("not approved at send time: campaign dec-news needs 1 approval")


def test_an_approved_campaign_launches(any_engine, four_eyes):
    settings, users = four_eyes
    _approve(any_engine, settings, users)
    source = load_source(settings.campaigns_dir / f"{SLUG}.md")
    campaign = schedule(any_engine, settings, source, utcnow() + timedelta(hours=1))
    assert launch_checked(any_engine, settings, campaign.id) == 1
    with session_scope(any_engine) as session:
        assert session.get(Campaign, campaign.id).status == CampaignStatus.SENDING


def test_the_cli_refuses_in_one_line(runner, engine, team_settings, monkeypatch):
    settings = team_settings.replace(approvals_required=1)
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("GLL_MAIL_TEMPLATES_DIR", str(settings.templates_dir))
    monkeypatch.setenv("GLL_MAIL_APPROVALS_REQUIRED", "1")
    with session_scope(engine) as session:
        seed_catalog(session, settings)
        member = Subscriber(email="member@example.org")
        session.add(member)
        session.flush()
        session.add(Subscription(subscriber_id=member.id, topic_id=session.exec(select(Topic)).one().id))
    write_campaign(settings)
    for command in (["campaign", "schedule", SLUG, "--at", "2099-01-01T09:00:00+00:00"], ["campaign", "send", SLUG]):
        out = runner.invoke(main, command)
        assert out.exit_code == 1, out.output
        lines = out.output.strip().splitlines()
        assert len(lines) == 1 and "needs 1 approval of its current content" in lines[0], out.output
