"""Audience specs as one SQL select, on SQLite and PostgreSQL, composable into INSERT … SELECT."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_support import record_as_sent
from sqlalchemy import select
from sqlmodel import Session

from gll_mail.campaigns.audience import (
    AudienceError,
    audience_breakdown,
    audience_count,
    audience_counts,
    audience_select,
    cached_audience_breakdown,
    cached_audience_counts,
    original_recipient_count,
    unreachable_recipients,
)
from gll_mail.db import session_scope
from gll_mail.demo.data import seed_catalog
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Pod,
    PodMembership,
    Subscriber,
    Subscription,
    Topic,
    utcnow,
)


def add(
    session: Session,
    email: str,
    *,
    language="en",
    topics=(),
    pods=(),
    left_pods=(),
    registered=False,
    status="active",
    paused=False,
) -> Subscriber:
    subscriber = Subscriber(
        email=email,
        name=email.split("@")[0].title(),
        language=language,
        status=status,
        paused=paused,
        registered_at=utcnow() if registered else None,
    )
    session.add(subscriber)
    session.flush()
    for slug in topics:
        topic = session.execute(select(Topic).where(Topic.slug == slug)).scalar_one()
        session.add(Subscription(subscriber_id=subscriber.id, topic_id=topic.id))
    for slug in pods:
        pod = session.execute(select(Pod).where(Pod.slug == slug)).scalar_one()
        session.add(PodMembership(subscriber_id=subscriber.id, pod_id=pod.id))
    for slug in left_pods:
        pod = session.execute(select(Pod).where(Pod.slug == slug)).scalar_one()
        session.add(
            PodMembership(
                subscriber_id=subscriber.id, pod_id=pod.id, joined_at=utcnow() - timedelta(days=30), left_at=utcnow()
            )
        )
    session.flush()
    return subscriber


@pytest.fixture
def population(any_engine, tmp_path):
    with session_scope(any_engine) as session:
        seed_catalog(session, tmp_path / "resources")
        add(session, "ann@example.org", topics=["announcements"], pods=["compassion"], registered=True)
        add(
            session,
            "bea@example.org",
            language="fr",
            topics=["announcements", "webinars"],
            pods=["ipc"],
            registered=True,
        )
        add(session, "carl@example.org", language="es", topics=["webinars"])
        add(session, "dina@example.org", language="ar", topics=["announcements"], left_pods=["compassion"])
        add(session, "eli@example.org", topics=["announcements"], pods=["compassion"], status="unsubscribed")
        add(session, "fay@example.org", topics=["announcements"], pods=["compassion"], registered=True, paused=True)
        add(session, "gus@example.org", language="zh", topics=["announcements"], status="bounced")
    return any_engine


def emails(session: Session, spec: dict, **kwargs) -> list[str]:
    ids = select(audience_select(session, spec, **kwargs).subquery().c.id)
    return sorted(session.execute(select(Subscriber.email).where(Subscriber.id.in_(ids))).scalars())


def test_each_key_selects_only_mailable_subscribers(population):
    with session_scope(population) as session:
        assert emails(session, {"all": True}) == [
            "ann@example.org",
            "bea@example.org",
            "carl@example.org",
            "dina@example.org",
        ]
        assert emails(session, {"topics": ["announcements"]}) == [
            "ann@example.org",
            "bea@example.org",
            "dina@example.org",
        ]
        assert emails(session, {"topics": ["webinars"]}) == ["bea@example.org", "carl@example.org"]
        # dina left the compassion pod: only active memberships count
        assert emails(session, {"pods": ["compassion"]}) == ["ann@example.org"]
        assert emails(session, {"pods": ["compassion", "ipc"]}) == ["ann@example.org", "bea@example.org"]
        assert emails(session, {"registered": True}) == ["ann@example.org", "bea@example.org"]
        assert emails(session, {"registered": False}) == ["carl@example.org", "dina@example.org"]


def test_keys_combine_with_and(population):
    with session_scope(population) as session:
        assert emails(session, {"topics": ["announcements"], "registered": False}) == ["dina@example.org"]
        assert emails(session, {"topics": ["webinars"], "pods": ["ipc"], "registered": True}) == ["bea@example.org"]
        assert emails(session, {"all": True, "pods": ["wash"]}) == []
        assert audience_count(session, {"topics": ["announcements"], "registered": True}) == 2


def test_unknown_names_are_errors(population):
    with session_scope(population) as session:
        with pytest.raises(AudienceError, match="unknown topic"):
            audience_select(session, {"topics": ["newsletters"]})
        with pytest.raises(AudienceError, match="unknown learning pod"):
            audience_select(session, {"pods": ["dance"]})
        with pytest.raises(AudienceError, match="no campaign"):
            audience_select(session, {"recipients_of": "never-made"})
        with pytest.raises(AudienceError, match="not set"):
            audience_select(session, {})
        with pytest.raises(AudienceError, match="unknown audience key"):
            audience_select(session, {"country": "Ghana"})


def _send(session: Session, slug: str, spec: dict) -> Campaign:
    """Enqueue with INSERT … SELECT straight from the audience select, then mark everything sent."""
    campaign = Campaign(slug=slug, subject=slug, audience=spec, status=CampaignStatus.DRAFT)
    session.add(campaign)
    session.flush()
    record_as_sent(session, campaign)
    return campaign


def test_insert_select_and_recipients_of(population):
    with session_scope(population) as session:
        original = _send(session, "original", {"topics": ["announcements"]})
        assert original_recipient_count(session, "original") == 3
        languages = dict(
            session.execute(
                select(Subscriber.email, Delivery.language).join(Delivery, Delivery.subscriber_id == Subscriber.id)
            ).all()
        )
        assert languages == {"ann@example.org": "en", "bea@example.org": "fr", "dina@example.org": "ar"}
        # a later subscriber to the topic was not sent the original: a corrigendum must not reach them
        add(session, "hal@example.org", topics=["announcements"])
        bea = session.execute(select(Subscriber).where(Subscriber.email == "bea@example.org")).scalar_one()
        bea.status = "unsubscribed"
        session.add(bea)
        session.flush()
        assert emails(session, {"recipients_of": "original"}) == ["ann@example.org", "dina@example.org"]
        corrigendum = Campaign(slug="fix", subject="fix", kind="corrigendum", corrects_id=original.id)
        session.add(corrigendum)
        session.flush()
        assert emails(session, {}, campaign=corrigendum) == ["ann@example.org", "dina@example.org"]
        count, rows = unreachable_recipients(session, "original")
        assert count == 1 and [(r.email, r.reason) for r in rows] == [("bea@example.org", "unsubscribed")]


def test_breakdown_by_language_and_pod(population):
    with session_scope(population) as session:
        breakdown = audience_breakdown(session, {"all": True})
        assert breakdown.total == 4
        assert breakdown.by_language == {"en": 1, "fr": 1, "es": 1, "ar": 1}
        assert breakdown.by_pod == {"compassion": 1, "ipc": 1, "": 2}
        assert breakdown.registered == 2


def test_select_streams_in_batches(population):
    """The delivery engine can page through the select without loading it whole."""
    with session_scope(population) as session:
        query = audience_select(session, {"all": True})
        result = session.execute(query.execution_options(yield_per=2))
        batches = [list(batch) for batch in result.partitions()]
        assert [len(b) for b in batches] == [2, 2]


def test_audience_counts_many_specs_in_one_query_equal_ones_once(population):
    specs = [{"all": True}, {"topics": ["webinars"]}, None, {"pods": ["nope"]}, {"topics": ["webinars"]}]
    with session_scope(population) as session:
        statements = []
        from sqlalchemy import event

        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(session.connection(), "before_cursor_execute", listen)
        lookups = len(statements)
        counts = audience_counts(session, specs)
        event.remove(session.connection(), "before_cursor_execute", listen)
        singles = [audience_count(session, s) for s in (specs[0], specs[1])]
    assert counts == [4, 2, None, None, 2] and singles == [4, 2]  # no audience, or an unknown pod: None
    counting = [s for s in statements[lookups:] if "count(" in s.lower()]
    assert len(counting) == 1  # one SELECT for every audience


def test_cached_counts_stand_for_the_ttl_then_count_again(population):
    clock = [1000.0]
    with session_scope(population) as session:
        assert cached_audience_counts(session, [{"topics": ["webinars"]}], clock=lambda: clock[0]) == [2]
        add(session, "hal@example.org", topics=["webinars"])
        clock[0] += 59
        assert cached_audience_counts(session, [{"topics": ["webinars"]}], clock=lambda: clock[0]) == [2]
        clock[0] += 2
        assert cached_audience_counts(session, [{"topics": ["webinars"]}], clock=lambda: clock[0]) == [3]


def test_cached_breakdown_stands_for_the_ttl(population):
    clock = [50.0]
    with session_scope(population) as session:
        first = cached_audience_breakdown(session, {"topics": ["webinars"]}, clock=lambda: clock[0])
        assert first.total == 2 and first.by_language == {"es": 1, "fr": 1}
        add(session, "ida@example.org", language="ar", topics=["webinars"])
        assert cached_audience_breakdown(session, {"topics": ["webinars"]}, clock=lambda: clock[0]).total == 2
        clock[0] += 61
        assert cached_audience_breakdown(session, {"topics": ["webinars"]}, clock=lambda: clock[0]).total == 3
