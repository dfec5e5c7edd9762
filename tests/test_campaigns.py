"""The Campaign row follows its source until sending starts; a corrigendum reaches only the original's recipients."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from delivery_support import record_as_sent
from sqlalchemy import select

from gll_mail.campaigns.audience import audience_count, audience_select
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.records import CampaignError, effective_subject, sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, recipient_for
from gll_mail.campaigns.sources import load_source
from gll_mail.db import session_scope
from gll_mail.demo.data import seed_catalog, seed_members
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Subscriber,
    Subscription,
    Topic,
)

REPO = Path(__file__).resolve().parent.parent
ORIGINAL = REPO / "campaigns" / "2019-06-compassion-reports.md"
CORRIGENDUM = REPO / "campaigns" / "2019-06-18-corrigendum.md"


def mark_sent(session, campaign: Campaign) -> int:
    return record_as_sent(session, campaign)


def test_sync_creates_then_follows_a_draft(session, tmp_path):
    shutil.copy(ORIGINAL, tmp_path / ORIGINAL.name)
    path = tmp_path / ORIGINAL.name
    campaign = sync_campaign(session, load_source(path))
    assert campaign.id and campaign.slug == "2019-06-compassion-reports" and campaign.status == "draft"
    assert campaign.kind == "report-release" and campaign.template == "report-release"
    assert campaign.audience == {"topics": ["announcements"]} and campaign.source_path == str(path)
    first_hash = campaign.source_hash
    path.write_text(path.read_text(encoding="utf-8").replace("Last year", "In 2018"), encoding="utf-8")
    again = sync_campaign(session, load_source(path))
    assert again.id == campaign.id and again.source_hash != first_hash


def test_sent_content_is_frozen(session, tmp_path):
    shutil.copy(ORIGINAL, tmp_path / ORIGINAL.name)
    path = tmp_path / ORIGINAL.name
    campaign = sync_campaign(session, load_source(path))
    campaign.status = CampaignStatus.SENDING
    session.add(campaign)
    session.flush()
    assert sync_campaign(session, load_source(path)).id == campaign.id  # same content: harmless
    path.write_text(path.read_text(encoding="utf-8").replace("Last year", "In 2018"), encoding="utf-8")
    with pytest.raises(CampaignError, match="changed after sending started.*corrigendum"):
        sync_campaign(session, load_source(path))


def test_corrigendum_needs_its_original_and_gets_the_prefix(session):
    with pytest.raises(CampaignError, match="send the original first"):
        sync_campaign(session, load_source(CORRIGENDUM))
    original = sync_campaign(session, load_source(ORIGINAL))
    corrigendum = sync_campaign(session, load_source(CORRIGENDUM))
    assert corrigendum.corrects_id == original.id
    assert (
        corrigendum.subject == "Corrigendum: WHO GLL releases reports on compassion – the heart of quality "
        "health services"
    )
    assert effective_subject(load_source(CORRIGENDUM), "ar").startswith("تصويب: ")


def test_corrigendum_reaches_only_the_originals_recipients(engine, settings):
    with session_scope(engine) as session:
        seed_catalog(session, settings.resources_dir)
        seed_members(session, 60)
        original = sync_campaign(session, load_source(ORIGINAL))
        sent = mark_sent(session, original)
        assert sent == 60
        # after the original: one recipient unsubscribes, a newcomer subscribes to announcements
        leaver = session.get(Subscriber, 1)
        leaver.status = "unsubscribed"
        newcomer = Subscriber(email="new@example.org", name="New", language="en")
        session.add_all([leaver, newcomer])
        session.flush()
        topic = session.execute(select(Topic).where(Topic.slug == "announcements")).scalar_one()
        session.add(Subscription(subscriber_id=newcomer.id, topic_id=topic.id))
        session.flush()
        assert audience_count(session, original.audience) == 60  # 59 + the newcomer

        source = load_source(CORRIGENDUM)
        report = check(settings, session, source)
        assert report.ok and report.audience == 59
        corrigendum = sync_campaign(session, source)
        ids = set(
            session.execute(
                select(audience_select(session, corrigendum.audience, campaign=corrigendum).subquery().c.id)
            ).scalars()
        )
        originals = set(
            session.execute(select(Delivery.subscriber_id).where(Delivery.campaign_id == original.id)).scalars()
        )
        assert ids == originals - {leaver.id}
        assert newcomer.id not in ids
        renderer = CampaignRenderer(settings, session, source, corrigendum)
        member = session.get(Subscriber, 2)
        message = renderer.render(recipient_for(session, member))
        assert message.language == member.language
        assert "Corrigendum" in message.html or member.language != "en"
