"""Unsubscribe: RFC 8058 one-click POST, a GET that changes nothing, and queued deliveries stopped."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from web_support import add_member

from gll_mail import links
from gll_mail.models import (
    Campaign,
    Event,
    EventType,
    Subscriber,
    SubscriberStatus,
    Suppression,
)


def state(session, sub_id):
    session.expire_all()
    sub = session.get(Subscriber, sub_id)
    events = session.exec(select(Event).where(Event.type == EventType.UNSUBSCRIBED)).all()
    return sub.status, len(session.exec(select(Suppression)).all()), events


@pytest.mark.parametrize(
    "method,agent",
    [
        ("GET", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
        ("GET", "Mozilla/5.0 (compatible; Barracuda link scanner)"),
        ("HEAD", "Mozilla/5.0"),
    ],
)
def test_get_and_head_change_nothing(client, session, web_settings, method, agent):
    sub = add_member(session, "amina@example.org")
    response = client.open(
        links.unsubscribe_url(web_settings, sub.public_id), method=method, headers={"User-Agent": agent}
    )
    assert response.status_code == 200
    if method == "GET":
        html = response.get_data(as_text=True)
        assert 'name="List-Unsubscribe" value="One-Click"' in html and "/m/" in html
    assert state(session, sub.id) == (SubscriberStatus.ACTIVE, 0, [])


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_post_unsubscribes_without_cookie_or_redirect(app, session, web_settings, multipart):
    sub = add_member(session, "amina@example.org")
    session.add(Campaign(slug="news", subject="News"))
    session.commit()
    campaign = session.exec(select(Campaign)).one()
    url = links.unsubscribe_url(web_settings, sub.public_id, campaign.id)
    client = app.test_client(use_cookies=False)
    kwargs = (
        {"data": {"List-Unsubscribe": "One-Click"}, "content_type": "multipart/form-data"}
        if multipart
        else {"data": "List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    )
    for _ in range(2):  # idempotent
        response = client.post(url, **kwargs)
        assert response.status_code == 200 and "Location" not in response.headers
        assert "Set-Cookie" not in response.headers
        assert "You are unsubscribed" in response.get_data(as_text=True)
    status, suppressions, events = state(session, sub.id)
    assert status == SubscriberStatus.UNSUBSCRIBED and suppressions == 1
    [event] = events
    assert event.source == "one-click" and event.campaign_id == campaign.id


def test_the_page_button_unsubscribes_too(client, session, web_settings):
    sub = add_member(session, "amina@example.org", language="ar")
    url = links.unsubscribe_url(web_settings, sub.public_id)
    page = client.get(url)
    assert 'dir="rtl"' in page.get_data(as_text=True)
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "تم إلغاء اشتراكك" in response.get_data(as_text=True)
    assert state(session, sub.id)[0] == SubscriberStatus.UNSUBSCRIBED


def test_unsubscribe_stops_deliveries_already_queued(engine, session, web_settings, smtp_server, tmp_path):
    from delivery_support import write_campaign

    from gll_mail.campaigns.sources import load_source
    from gll_mail.delivery.control import launch, prepare, send_now
    from gll_mail.web import create_app

    settings = web_settings.replace(campaigns_dir=tmp_path / "campaigns", retry_base_seconds=0.02)
    leaving = add_member(session, "leaving@example.org")
    add_member(session, "staying@example.org")
    source = load_source(write_campaign(settings.campaigns_dir, "queued-note"))
    campaign = prepare(engine, settings, source)
    assert launch(engine, campaign.id) == 2  # both queued

    client = create_app(settings, engine).test_client(use_cookies=False)
    response = client.post(
        links.unsubscribe_url(settings, leaving.public_id, campaign.id), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200

    send_now(engine, settings, source)
    assert [m.rcpt_tos for m in smtp_server.received] == [("staying@example.org",)]


def test_the_unsubscribed_page_offers_undo_and_the_manage_page(client, session, web_settings):
    sub = add_member(session, "amina@example.org")
    url = links.unsubscribe_url(web_settings, sub.public_id)
    client.get(url)
    done = client.post(url, data={"List-Unsubscribe": "One-Click", "from": "page"})
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "You are unsubscribed" in html
    manage = re.search(r'<form method="post" action="(/m/[^"]+)"', html).group(1)
    assert f'href="{manage}"' in html and 'name="action" value="resubscribe"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    again = client.post(manage, data={"csrf_token": token, "action": "resubscribe"})
    assert again.status_code == 303
    assert state(session, sub.id)[0] == SubscriberStatus.ACTIVE
