"""The manage page: see and change topics, pods, language, pause, unsubscribe, export and delete."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from web_support import BASE, add_member, csrf, url_in_text

from gll_mail import links
from gll_mail.addresses import email_hash
from gll_mail.models import (
    Event,
    EventType,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)


@pytest.fixture
def member(session):
    sub = add_member(session, "amina@example.org", pods=["ipc"], language="fr")
    topic = session.exec(select(Topic).where(Topic.slug == "announcements")).one()
    session.add(Subscription(subscriber_id=sub.id, topic_id=topic.id))
    session.commit()
    return sub


@pytest.fixture
def manage(client, member, web_settings):
    url = links.manage_url(web_settings, member.public_id)

    def post(action: str, **fields):
        page = client.get(url)
        return client.post(url, data={"csrf_token": csrf(page), "action": action, **fields})

    post.url = url
    return post


def events(session, type_):
    session.expire_all()
    return session.exec(select(Event).where(Event.type == type_)).all()


def test_page_shows_choices_and_changes_nothing(client, manage, session, member):
    response = client.get(manage.url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="fr"' in html and "Votre abonnement au GLL" in html
    assert 'id="topic-announcements" name="topic" value="announcements" checked' in html
    assert 'id="pod-ipc" name="pod" value="ipc" checked' in html
    assert 'id="topic-webinars" name="topic" value="webinars">' in html
    assert "Reçoit les courriels" in html
    assert response.headers["Cache-Control"].startswith("no-store")
    assert session.exec(select(Event)).all() == []


def test_topics_pods_and_language(manage, session, member):
    response = manage("topics", topic=["webinars"])
    assert response.status_code == 303 and response.headers["Location"].endswith("?done=saved")
    changes = events(session, EventType.TOPIC_ADDED) + events(session, EventType.TOPIC_REMOVED)
    topics = {e.data["topic"]: e.type for e in changes}
    assert topics == {"webinars": EventType.TOPIC_ADDED, "announcements": EventType.TOPIC_REMOVED}
    manage("pods", pod=["wash"])
    session.expire_all()
    active = session.exec(select(PodMembership).where(PodMembership.left_at.is_(None))).all()
    assert len(active) == 1 and len(session.exec(select(PodMembership)).all()) == 2  # history kept
    assert manage("language", language="ar").status_code == 303
    session.expire_all()
    assert session.get(Subscriber, member.id).language == "ar"
    assert all(e.source == "web" for e in events(session, EventType.PROFILE_CHANGED))
    assert manage("language", language="ar").headers["Location"].endswith("?done=same")
    assert manage("language", language="klingon").status_code == 400


def test_pause_resume_unsubscribe_resubscribe(manage, session, member):
    manage("pause")
    assert len(events(session, EventType.PAUSED)) == 1 and session.get(Subscriber, member.id).paused
    manage("resume")
    assert len(events(session, EventType.RESUMED)) == 1 and not session.get(Subscriber, member.id).paused
    manage("unsubscribe")
    assert len(events(session, EventType.UNSUBSCRIBED)) == 1
    assert session.get(Subscriber, member.id).status == SubscriberStatus.UNSUBSCRIBED
    assert session.exec(select(Suppression)).one().reason == "unsubscribe"
    manage("resubscribe")
    session.expire_all()
    assert session.get(Subscriber, member.id).status == SubscriberStatus.ACTIVE
    assert session.exec(select(Suppression)).first() is None


def test_data_download_is_json_with_everything(manage, member):
    manage("pause")
    response = manage("export")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["email"] == "amina@example.org" and data["pods"] == ["ipc"] and data["topics"] == ["announcements"]
    assert [e["type"] for e in data["events"]] == ["paused"]


def test_delete_asks_first_then_keeps_only_a_hash(client, manage, session, member):
    member_id = member.id
    manage("pause")
    ask = manage("delete-ask")
    assert ask.status_code == 200 and "Oui, supprimer mon compte" in ask.get_data(as_text=True)
    session.expire_all()
    assert session.get(Subscriber, member_id) is not None
    done = manage("delete")
    assert done.status_code == 200
    session.expire_all()
    assert session.get(Subscriber, member_id) is None
    [row] = session.exec(select(Suppression)).all()
    assert row.email is None and row.email_hash == email_hash("amina@example.org") and row.reason == "deleted"
    everything = json.dumps([e.model_dump(mode="json") for e in session.exec(select(Event))])
    assert "amina" not in everything
    assert all(e.subscriber_id is None for e in session.exec(select(Event)))
    assert len(events(session, EventType.DELETED)) == 1
    assert client.get(manage.url).status_code == 404


@pytest.mark.parametrize("action", ["topics", "pause", "unsubscribe", "export", "delete"])
def test_every_change_needs_the_csrf_token(client, manage, session, member, action):
    response = client.post(manage.url, data={"action": action})
    assert response.status_code == 403
    member_id = member.id
    session.expire_all()
    sub = session.get(Subscriber, member_id)
    assert sub is not None and sub.status == SubscriberStatus.ACTIVE and not sub.paused


def test_cross_site_origin_is_refused(client, manage):
    page = client.get(manage.url)
    response = client.post(manage.url, data={"csrf_token": csrf(page), "action": "pause"},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_unknown_action_is_400(manage):
    assert manage("drop-tables").status_code == 400


def test_whole_member_journey_on_sqlite_and_postgresql(any_engine, web_settings, smtp_server):
    """Register from a gated link, confirm, join a pod, click, change, export, unsubscribe, delete."""
    from gll_mail.db import session_scope
    from gll_mail.demo.data import seed_catalog
    from gll_mail.web import create_app

    with session_scope(any_engine) as s:
        seed_catalog(s, web_settings.resources_dir)
        sub = Subscriber(email="journey@example.org")
        s.add(sub)
    client = create_app(web_settings, any_engine).test_client()
    gate = links.gate_url(web_settings, sub.public_id, "compassion-tools")
    form = client.get(gate)
    client.post(gate, data={"name": "J", "consent": "yes", "csrf_token": csrf(form)})
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    page = client.get(confirm)
    join = client.post(confirm, data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Join the <bdi>Compassion</bdi> learning pod" in join.get_data(as_text=True)
    opened = client.post(gate, data={"csrf_token": csrf(join), "action": "join"}, follow_redirects=True)
    assert "Compassion: tools and resources" in opened.get_data(as_text=True)
    opened.close()
    manage_url = links.manage_url(web_settings, sub.public_id)
    for action, extra in (("topics", {"topic": ["webinars"]}), ("pause", {}), ("unsubscribe", {})):
        page = client.get(manage_url)
        assert client.post(manage_url, data={"csrf_token": csrf(page), "action": action, **extra}).status_code == 303
    page = client.get(manage_url)
    data = json.loads(client.post(manage_url, data={"csrf_token": csrf(page), "action": "export"}).get_data())
    assert data["status"] == "unsubscribed" and data["pods"] == ["compassion"] and data["topics"] == ["webinars"]
    assert {"click", "confirmed", "pod-joined", "unsubscribed"} <= {e["type"] for e in data["events"]}
    client.post(manage_url, data={"csrf_token": csrf(page), "action": "delete"})
    with session_scope(any_engine) as s:
        assert s.exec(select(Subscriber)).all() == []
        assert s.exec(select(Suppression)).one().email is None
