"""The optional open-tracking pixel: off by default, opt-in by setting, always labelled unreliable."""

from __future__ import annotations

import re

from sqlmodel import select
from test_render import ORIGINAL

from gll_mail.bounces.report_html import render_html
from gll_mail.bounces.reports import campaign_report, render_text
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, recipient_for
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog
from gll_mail.models import Event, EventType, Subscriber
from gll_mail.web import create_app
from gll_mail.web.tracking import PIXEL

PIXEL_RE = re.compile(r'<img src="(https://gll\.example\.org/o/[^"]+\.gif)" width="1" height="1" alt=""')


def _render(session, settings):
    seed_catalog(session, settings.resources_dir)
    source = load_source(ORIGINAL)
    campaign = sync_campaign(session, source)
    member = Subscriber(email="amina@example.org", name="Amina")
    session.add(member)
    session.commit()
    message = CampaignRenderer(settings, session, source, campaign).render(recipient_for(session, member))
    return campaign, member, message


def test_no_pixel_by_default(session, settings):
    assert settings.open_tracking is False
    _campaign, _member, message = _render(session, settings)
    assert "/o/" not in message.html and 'width="1" height="1"' not in message.html


def test_pixel_records_opens_labelled_unreliable(session, settings, engine):
    settings = settings.replace(open_tracking=True)
    campaign, member, message = _render(session, settings)
    url = PIXEL_RE.search(message.html).group(1)
    assert message.html.index(url) < message.html.index("</body>")
    path = url.removeprefix(settings.base_url)
    client = create_app(settings, engine).test_client()

    human = client.get(path, headers={"User-Agent": "Mozilla/5.0 (Macintosh) Thunderbird/128.0"})
    assert human.status_code == 200 and human.data == PIXEL and human.mimetype == "image/gif"
    assert "no-store" in human.headers["Cache-Control"]
    client.get(path, headers={"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"})
    assert client.head(path).status_code == 200  # HEAD records nothing
    forged = client.get(path[:-8] + "xxxx.gif")
    assert forged.status_code == 200 and forged.data == PIXEL  # the same answer: reveals nothing

    session.expire_all()
    opens = session.exec(select(Event).where(Event.type == EventType.OPEN).order_by(Event.id)).all()
    assert [(e.subscriber_id, e.campaign_id, e.is_bot) for e in opens] == [
        (member.id, campaign.id, False),
        (member.id, campaign.id, True),
    ]
    report = campaign_report(session, campaign.slug)
    assert report["opens"]["tracked"] and report["opens"]["reliable"] is False
    assert (report["opens"]["unique"], report["opens"]["total"], report["opens"]["bot_total"]) == (1, 1, 1)
    assert "opens (UNRELIABLE)" in render_text(report)
    assert "Opens (unreliable)" in render_html(report)


def test_pixel_records_nothing_when_tracking_is_off(session, settings, engine):
    _campaign, _member, message = _render(session, settings.replace(open_tracking=True))
    path = PIXEL_RE.search(message.html).group(1).removeprefix(settings.base_url)
    response = create_app(settings, engine).test_client().get(path)
    assert response.status_code == 200 and response.data == PIXEL
    session.expire_all()
    assert session.exec(select(Event).where(Event.type == EventType.OPEN)).all() == []


def test_preflight_accepts_the_pixel(session, settings):
    from gll_mail.campaigns.preflight import check

    settings = settings.replace(open_tracking=True)
    _campaign, _member, _message = _render(session, settings)
    report = check(settings, session, load_source(ORIGINAL))
    assert not [w for w in report.warnings if "alt text" in w.message], report.warnings
