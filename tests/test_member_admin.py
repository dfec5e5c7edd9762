"""The team's work on members: search, the member view, edits, unsubscribe, erase and export."""

from __future__ import annotations

import pytest
from sqlmodel import select
from team_support import team

from gll_mail import catalog
from gll_mail.addresses import email_hash
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.members import directory, team_edits
from gll_mail.members.preferences import resubscribe
from gll_mail.models import (
    AuditEntry,
    Campaign,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from gll_mail.team.audit import COMMAND_LINE, entries
from gll_mail.team.roles import PermissionDenied


@pytest.fixture
def db(any_engine):
    with session_scope(any_engine) as session:
        catalog.create_topic(session, slug="webinars", name="Webinars")
        ipc = catalog.create_pod(session, slug="ipc", name="IPC")
        people = [
            ("amina@moh.example.org", "Amina Haddad", "Ministry of Health", "Jordan", "ar"),
            ("wei@example.cn", "Wei Zhang", "Peking Hospital", "China", "zh"),
            ("olga_p@example.ru", "Olga Petrova", "Ministry of Health", "Russia", "ru"),
            ("carlos@example.es", "Carlos 100% Ruiz", "Hospital La Paz", "Spain", "es"),
        ]
        for email, name, org, country, language in people:
            session.add(Subscriber(email=email, name=name, organization=org, country=country, language=language))
        session.flush()
        amina = directory.find_member(session, "amina@moh.example.org")
        catalog.join_pod(session, amina, ipc, source="cli")
        yield session


def emails(page) -> list[str]:
    return [r["email"] for r in page.rows]


def test_search_by_each_filter_newest_first(db):
    search = lambda **kw: emails(directory.search_members(db, COMMAND_LINE, **kw))  # noqa: E731
    assert search() == ["carlos@example.es", "olga_p@example.ru", "wei@example.cn", "amina@moh.example.org"]
    assert search(q="ministry") == ["olga_p@example.ru", "amina@moh.example.org"]
    assert search(q="HADDAD") == ["amina@moh.example.org"]
    assert search(q="wei@") == ["wei@example.cn"]
    assert search(q="100%") == ["carlos@example.es"]  # LIKE wildcards are matched as typed
    assert search(q="WEI@EX") == ["wei@example.cn"]  # an address prefix in any case
    assert search(q="olga_p@") == ["olga_p@example.ru"] and search(q="olgaxp@") == []
    assert search(q="olga_") == ["olga_p@example.ru"]
    assert search(country="China") == ["wei@example.cn"]
    assert search(organization="Ministry of Health", language="ru") == ["olga_p@example.ru"]
    assert search(pod="ipc") == ["amina@moh.example.org"]
    assert search(topic="webinars") == []
    assert search(status="active", language="ar") == ["amina@moh.example.org"]
    with pytest.raises(GllMailError, match="unknown status"):
        search(status="gone")


def test_search_pages_by_cursor(db):
    first = directory.search_members(db, COMMAND_LINE, limit=3)
    assert len(first.rows) == 3 and first.next_cursor is not None
    second = directory.search_members(db, COMMAND_LINE, limit=3, cursor=first.next_cursor)
    assert emails(second) == ["amina@moh.example.org"] and second.next_cursor is None


def test_the_member_view_has_history_timeline_and_deliveries(db):
    amina = directory.find_member(db, "amina@moh.example.org")
    catalog.leave_pod(db, amina, catalog.get_pod(db, "ipc"), source="cli")
    catalog.join_pod(db, amina, catalog.get_pod(db, "ipc"), source="web")
    campaign = Campaign(slug="nov-news", subject="November news", status="sent")
    db.add(campaign)
    db.flush()
    db.add(Delivery(campaign_id=campaign.id, subscriber_id=amina.id, status=DeliveryStatus.SENT, sent_at=utcnow()))
    db.add(Event(type=EventType.CLICK, subscriber_id=amina.id, campaign_id=campaign.id))
    db.flush()
    view = directory.member_view(db, COMMAND_LINE, amina.public_id)
    assert view["email"] == "amina@moh.example.org" and view["pods"] == ["ipc"]
    history = view["pod_history"]
    assert len(history) == 2 and history[0]["left_at"] and history[1]["left_at"] is None
    assert [e["type"] for e in view["timeline"]][:3] == ["click", "pod-joined", "pod-left"]
    assert view["timeline"][0]["campaign"] == "nov-news"
    assert [(d["campaign"], d["status"]) for d in view["deliveries"]] == [("nov-news", "sent")]
    assert directory.member_view(db, COMMAND_LINE, str(amina.id))["id"] == amina.id
    with pytest.raises(directory.MemberNotFound):
        directory.find_member(db, "nobody@example.org")


def test_editors_edit_viewers_read_admins_erase(db):
    users = team(db)
    wei = directory.find_member(db, "wei@example.cn")
    assert directory.search_members(db, users["vic"], q="wei").rows
    with pytest.raises(PermissionDenied):
        team_edits.update_profile(db, users["vic"], wei, {"name": "W. Zhang"})
    changes = team_edits.update_profile(
        db, users["eve"], wei, {"name": "W. Zhang", "language": "English", "role": None}
    )
    assert changes == {
        "name": {"before": "Wei Zhang", "after": "W. Zhang"},
        "language": {"before": "zh", "after": "en"},
    }
    assert team_edits.add_to_pod(db, users["eve"], wei, "ipc") and not team_edits.add_to_pod(
        db, users["eve"], wei, "ipc"
    )
    assert team_edits.add_topic(db, users["eve"], wei, "webinars")
    assert team_edits.remove_topic(db, users["eve"], wei, "webinars")
    assert team_edits.remove_from_pod(db, users["eve"], wei, "ipc")
    with pytest.raises(PermissionDenied, match="member.erase needs the role admin"):
        team_edits.erase(db, users["eve"], wei)
    actions = [e.action for e in entries(db, object=("member", wei.public_id))]
    assert actions == [
        "member.update",
        "member.pod-add",
        "member.topic-add",
        "member.topic-remove",
        "member.pod-remove",
    ]
    with pytest.raises(GllMailError, match="cannot edit status"):
        team_edits.update_profile(db, users["eve"], wei, {"status": "active"})


def test_unsubscribe_by_the_team_and_only_the_member_can_come_back(db):
    olga = directory.find_member(db, "olga_p@example.ru")
    assert team_edits.unsubscribe(db, COMMAND_LINE, olga, reason="asked by phone")
    assert not team_edits.unsubscribe(db, COMMAND_LINE, olga)
    assert olga.status == SubscriberStatus.UNSUBSCRIBED
    assert db.exec(select(Suppression).where(Suppression.email_hash == email_hash(olga.email))).one()
    assert not hasattr(team_edits, "resubscribe")  # the team has no way back; the member's own link does
    assert resubscribe(db, olga, source="web")


def test_erase_is_the_members_own_delete_and_forgets_audit_details(db):
    users = team(db)
    amina = directory.find_member(db, "amina@moh.example.org")
    team_edits.update_profile(db, users["eve"], amina, {"organization": "WHO Jordan"})
    data = team_edits.export(db, users["eve"], amina)
    assert data["email"] == "amina@moh.example.org" and data["pods"] == ["ipc"] and data["events"]
    public_id = team_edits.erase(db, users["ada"], amina, reason="asked by email")
    db.expire_all()
    assert db.exec(select(Subscriber).where(Subscriber.email == "amina@moh.example.org")).first() is None
    row = db.exec(select(Suppression).where(Suppression.email_hash == email_hash("amina@moh.example.org"))).one()
    assert row.email is None and row.reason == "deleted"
    assert db.exec(select(Event).where(Event.type == EventType.DELETED)).first() is not None
    log = db.exec(select(AuditEntry).where(AuditEntry.object_id == public_id).order_by(AuditEntry.id)).all()
    assert [e.action for e in log] == ["member.update", "member.export", "member.erase"]
    assert all("WHO Jordan" not in str(e.details) for e in log) and log[-1].username == "ada"


@pytest.mark.postgres
def test_postgres_search_indexes_and_a_database_without_pg_trgm(pg_engine, postgres_server_url):
    """Migration 0014 makes the trigram and prefix indexes the search uses; where pg_trgm cannot be
    created (here: a role without CREATE on its database) it still succeeds, with a warning, and the
    search gives the same answers."""
    import logging
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from gll_mail.db import make_engine, migrate
    from gll_mail.models import POSTGRES_SEARCH_INDEXES

    with pg_engine.connect() as conn:
        names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'subscriber'")).scalars())
    assert set(POSTGRES_SEARCH_INDEXES) <= names

    admin = make_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    role, database = f"gll_noext_{suffix}", f"gll_noext_{suffix}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(postgres_server_url).set(database=database)
    owner = make_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'ALTER SCHEMA public OWNER TO "{role}"'))
    owner.dispose()
    limited = make_engine(url.set(username=role).render_as_string(hide_password=False))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("gll_mail.migrations").addHandler(handler)
    try:
        migrate(limited)
        with session_scope(limited) as session:
            session.add(Subscriber(email="amina@moh.example.org", name="Amina Haddad", organization="MoH"))
            session.flush()
            assert emails(directory.search_members(session, COMMAND_LINE, q="HADD")) == ["amina@moh.example.org"]
            assert emails(directory.search_members(session, COMMAND_LINE, q="amina@")) == ["amina@moh.example.org"]
        with limited.connect() as conn:
            names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'subscriber'")).scalars())
        assert "ix_subscriber_email_pattern" in names and "ix_subscriber_search_trgm" not in names
        assert any("pg_trgm could not be created" in r.getMessage() for r in records)
    finally:
        logging.getLogger("gll_mail.migrations").removeHandler(handler)
        limited.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
