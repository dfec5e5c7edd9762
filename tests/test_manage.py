"""The manage page: see and change topics, pods, language, pause, unsubscribe, export and delete."""

from __future__ import annotations

import json
import re

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
    response = client.post(
        manage.url, data={"csrf_token": csrf(page), "action": "pause"}, headers={"Origin": "https://evil.example"}
    )
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


def whole_form(page_html: str, **changes) -> dict:
    """What the one manage form posts as the browser would: every section's current fields, then ``changes``."""
    data: dict = {"section": re.findall(r'name="section" value="([^"]+)"', page_html), "topic": [], "pod": []}
    for name in ("name", "organization", "country"):
        data[name] = re.search(rf'id="{name}" name="{name}"[^>]*value="([^"]*)"', page_html).group(1)
    data["topic"] = re.findall(r'name="topic" value="([^"]+)" checked', page_html)
    data["pod"] = re.findall(r'name="pod" value="([^"]+)" checked', page_html)
    data["language"] = re.search(r'<option value="([a-z]{2})"[^>]*selected', page_html).group(1)
    data["csrf_token"] = csrf_value(page_html)
    data.update(changes)
    return data


def csrf_value(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def test_saving_one_section_keeps_the_unsaved_edits_of_the_others(client, manage, session, member):
    """Untick a topic, then press Save under language: the language is saved, the topic is not, and the
    page after saving still shows it unticked, marked unsaved."""
    page = client.get(manage.url).get_data(as_text=True)
    response = client.post(manage.url, data=whole_form(page, action="language", language="es", topic=[]))
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Subscriber, member.id).language == "es"
    assert len(session.exec(select(Subscription).where(Subscription.subscriber_id == member.id)).all()) == 1
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="announcements" checked' not in after  # shown as the member left it
    assert 'id="topics-unsaved"' in after and 'id="language-unsaved"' not in after
    assert "Sus cambios se han guardado." in after
    again = client.get(manage.url).get_data(as_text=True)  # the draft is shown once: a reload shows what is saved
    assert 'value="announcements" checked' in again and "topics-unsaved" not in again


def test_pressing_save_under_topics_does_not_save_the_other_sections(client, manage, session, member):
    page = client.get(manage.url).get_data(as_text=True)
    client.post(
        manage.url, data=whole_form(page, action="topics", topic=["webinars"], name="Someone Else", language="ar")
    )
    session.expire_all()
    sub = session.get(Subscriber, member.id)
    assert sub.name == "Amina Haddad" and sub.language == "fr"
    assert [e.data["topic"] for e in events(session, EventType.TOPIC_ADDED)] == ["webinars"]
    after = client.get(manage.url + "?done=saved").get_data(as_text=True)
    assert 'value="Someone Else"' in after and 'id="profile-unsaved"' in after and 'id="language-unsaved"' in after


def test_profile_section_changes_name_organization_and_country_cleaned(client, manage, session, member):
    page = client.get(manage.url).get_data(as_text=True)
    response = client.post(
        manage.url,
        data=whole_form(
            page, action="profile", name="  Amina\x00 \t Haddad-Ali\x1b ", organization="WHO\r\nEMRO", country="Tunisie"
        ),
    )
    assert response.status_code == 303
    session.expire_all()
    sub = session.get(Subscriber, member.id)
    assert (sub.name, sub.organization, sub.country) == ("Amina Haddad-Ali", "WHO EMRO", "Tunisie")
    assert {e.data["field"] for e in events(session, EventType.PROFILE_CHANGED)} == {"name", "organization", "country"}
    assert all(e.source == "web" for e in events(session, EventType.PROFILE_CHANGED))


def test_profile_needs_a_name_and_short_answers(client, manage, session, member):
    page = client.get(manage.url).get_data(as_text=True)
    response = client.post(
        manage.url, data=whole_form(page, action="profile", name=" ", organization="x" * 201, topic=[])
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="name-error"' in html and 'id="organization-error"' in html
    assert 'value="announcements" checked' not in html  # the other sections' edits are still there
    session.expire_all()
    assert (
        session.get(Subscriber, member.id).name == "Amina Haddad" and events(session, EventType.PROFILE_CHANGED) == []
    )


def test_a_deleted_accounts_links_answer_in_its_language(client, session, web_settings):
    sub = add_member(session, "layla@example.org", language="ar")
    url = links.manage_url(web_settings, sub.public_id, language="ar")
    page = client.get(url)
    client.post(url, data={"csrf_token": csrf(page), "action": "delete"})
    for link in (url, links.unsubscribe_url(web_settings, sub.public_id, language="ar")):
        response = client.get(link, headers={"Accept-Language": "en"})
        html = response.get_data(as_text=True)
        assert response.status_code == 404 and 'lang="ar" dir="rtl"' in html
    assert 'lang="fr"' in client.get(url + "?lang=fr").get_data(as_text=True)  # the visitor may still choose
