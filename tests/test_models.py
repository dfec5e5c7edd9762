"""The data model on the embedded SQLite default and on the real PostgreSQL server."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from gll_mail import catalog
from gll_mail.db import current_revision, migrate, session_scope
from gll_mail.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Event,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from gll_mail.subscribers import describe


def _member(session, email="ana@example.org", **kw) -> Subscriber:
    subscriber = Subscriber(email=email, name="Ana", **kw)
    session.add(subscriber)
    session.flush()
    return subscriber


def test_migrations_are_idempotent(any_engine):
    assert migrate(any_engine) == current_revision(any_engine)
    assert current_revision(any_engine) is not None


def test_subscriber_defaults_and_public_id(any_engine):
    with session_scope(any_engine) as session:
        a, b = _member(session), _member(session, "bo@example.org")
        assert a.status == SubscriberStatus.ACTIVE and a.language == "en"
        assert a.public_id != b.public_id and len(a.public_id) >= 20
        assert a.public_id != str(a.id) and not a.public_id.isdigit()
        assert a.attributes == {}
        assert a.created_at.tzinfo is not None


def test_json_attributes_round_trip(any_engine):
    with session_scope(any_engine) as session:
        _member(session, attributes={"source": "gll-website", "interests": ["ipc", "wash"]})
    with session_scope(any_engine) as session:
        got = session.exec(select(Subscriber)).one()
        assert got.attributes == {"source": "gll-website", "interests": ["ipc", "wash"]}


def test_email_is_unique(any_engine):
    with pytest.raises(IntegrityError), session_scope(any_engine) as session:
        _member(session)
        _member(session)


def test_one_delivery_per_campaign_and_subscriber(any_engine):
    with pytest.raises(IntegrityError), session_scope(any_engine) as session:
        member = _member(session)
        campaign = Campaign(slug="c1", subject="Hello")
        session.add(campaign)
        session.flush()
        session.add(Delivery(campaign_id=campaign.id, subscriber_id=member.id))
        session.flush()
        session.add(Delivery(campaign_id=campaign.id, subscriber_id=member.id))
        session.flush()
    assert DeliveryStatus.SENT in DeliveryStatus.final()


def test_one_subscription_per_topic(any_engine):
    with pytest.raises(IntegrityError), session_scope(any_engine) as session:
        member = _member(session)
        topic = catalog.create_topic(session, slug="announcements", name="GLL announcements")
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
        session.flush()
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
        session.flush()


def test_pod_membership_history_is_kept(any_engine):
    with session_scope(any_engine) as session:
        member = _member(session)
        pod = catalog.create_pod(session, slug="compassion", name="Compassion")
        assert catalog.join_pod(session, member, pod, source="test")
        assert not catalog.join_pod(session, member, pod, source="test")
        assert catalog.leave_pod(session, member, pod, source="test")
        assert not catalog.is_pod_member(session, member, pod)
        assert catalog.join_pod(session, member, pod, source="test")
        stays = session.exec(select(PodMembership).order_by(PodMembership.id)).all()
        assert len(stays) == 2 and stays[0].left_at is not None and stays[1].left_at is None
        types = [e.type for e in session.exec(select(Event).order_by(Event.id))]
        assert types == ["pod-joined", "pod-left", "pod-joined"]
        assert describe(session, member)["pods"] == ["compassion"]


def test_active_membership_is_unique(any_engine):
    with pytest.raises(IntegrityError), session_scope(any_engine) as session:
        member = _member(session)
        pod = catalog.create_pod(session, slug="ipc", name="IPC")
        session.add(PodMembership(subscriber_id=member.id, pod_id=pod.id))
        session.add(PodMembership(subscriber_id=member.id, pod_id=pod.id))
        session.flush()


def test_deleting_a_subscriber_cascades_but_keeps_events(any_engine):
    with session_scope(any_engine) as session:
        member = _member(session)
        topic = catalog.create_topic(session, slug="webinars", name="Webinars")
        session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
        session.add(Event(type="click", subscriber_id=member.id))
    with session_scope(any_engine) as session:
        session.delete(session.exec(select(Subscriber)).one())
    with session_scope(any_engine) as session:
        assert session.exec(select(Subscription)).all() == []
        event = session.exec(select(Event)).one()
        assert event.subscriber_id is None


def test_migrations_build_exactly_the_models(any_engine):
    """Every table, column, index and constraint of the models comes from an Alembic migration (the
    scheduler's own table excepted: APScheduler defines it; and the search's PostgreSQL-only indexes)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import gll_mail.models  # registers every table

    with any_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    search_only = gll_mail.models.POSTGRES_SEARCH_INDEXES
    unexpected = [
        d
        for d in differences
        if "apscheduler_jobs" not in repr(d) and not (d[0] == "remove_index" and d[1].name in search_only)
    ]
    assert unexpected == []
