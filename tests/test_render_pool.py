"""Rendering a large campaign in helper processes: the same messages, failures kept, a broken pool survived."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from email import message_from_bytes, policy

import pytest
from delivery_support import add_subscribers, deliveries, recipients_of, write_campaign
from sqlalchemy import update

from gll_mail.campaigns.sources import load_source
from gll_mail.delivery.control import launch, prepare
from gll_mail.delivery.drainer import Drainer
from gll_mail.delivery.outbox import summary
from gll_mail.delivery.render_pool import RenderPool, helper_count
from gll_mail.models import CampaignStatus, Subscriber
from gll_mail.tokens import read_verp_token


@pytest.fixture
def pooled(settings, smtp_server, tmp_path):
    return settings.replace(
        smtp_url=smtp_server.url,
        campaigns_dir=tmp_path / "campaigns",
        smtp_connections=4,
        render_processes=1,
        render_pool_min=1,
    )


def drain(engine, settings, slug="note", **kwargs):
    source = load_source(write_campaign(settings.campaigns_dir, slug=slug, **kwargs))
    campaign = prepare(engine, settings, source)
    launch(engine, campaign.id)
    drainer = Drainer(engine, settings, campaign_ids=[campaign.id], sources={campaign.id: source})
    asyncio.run(drainer.run(until_idle=True, poll=0.05))
    return drainer, summary(engine, campaign.id)


def test_helpers_build_every_message_once_with_its_own_links(engine, pooled, smtp_server):
    emails = add_subscribers(engine, 70, languages=("en", "fr", "ar"), name="Ana María")
    body = (
        "{{ salutation }}\n\nA note for {{ subscriber.name }}.\n\n.a line that starts with a dot\n\n[manage](manage:)\n"
    )
    drainer, figures = drain(engine, pooled, body=body)
    assert drainer.pool_jobs >= 3 and drainer.pool is None  # the helpers did the work, then were stopped
    assert (figures.sent, figures.status) == (70, CampaignStatus.SENT)
    assert sorted(recipients_of(smtp_server)) == sorted(emails)
    rows = {r["id"]: r for r in deliveries(engine, "note")}
    seen_ids, seen_links = set(), set()
    for received in smtp_server.received:
        message = message_from_bytes(received.data, policy=policy.default)
        delivery_id = read_verp_token(pooled, received.mail_from.split("+", 1)[1].split("@")[0])
        assert message["Message-ID"] == rows[delivery_id]["message_id"]
        assert received.rcpt_tos[0] in str(message["To"]) and "Ana María" in str(message["To"])
        seen_ids.add(message["Message-ID"])
        seen_links.add(str(message["List-Unsubscribe"]))
        html = message.get_body(("html",)).get_content()
        assert "Ana María" in html
        assert "\n.a line that starts with a dot" in message.get_body(("plain",)).get_content()  # un-stuffed
    assert len(seen_ids) == len(seen_links) == 70


def test_a_message_the_helper_cannot_build_is_recorded_failed(engine, pooled, smtp_server):
    add_subscribers(engine, 12)
    with engine.begin() as connection:
        connection.execute(
            update(Subscriber.__table__)
            .where(Subscriber.__table__.c.id == 5)
            .values(email="not an address@example.org")
        )
    drainer, figures = drain(engine, pooled)
    assert drainer.pool_jobs >= 1
    assert (figures.sent, figures.failed, figures.status) == (11, 1, CampaignStatus.SENT)
    failed = [r for r in deliveries(engine, "note") if r["status"] == "failed"]
    assert "not a mailable address" in failed[0]["last_error"]


def test_a_broken_pool_falls_back_to_rendering_here(engine, pooled, smtp_server, monkeypatch):
    emails = add_subscribers(engine, 40)

    def broken(self, campaign_id, source, jobs):
        future = Future()
        future.set_exception(RuntimeError("helper died"))
        return future

    monkeypatch.setattr(RenderPool, "submit", broken)
    drainer, figures = drain(engine, pooled)
    assert drainer.pool_jobs >= 1 and drainer.render_processes == 0  # gave up on the pool for this run
    assert (figures.sent, figures.status) == (40, CampaignStatus.SENT)
    assert sorted(recipients_of(smtp_server)) == sorted(emails)


def test_small_campaigns_render_in_the_sending_process(engine, pooled, smtp_server):
    add_subscribers(engine, 5)
    drainer, figures = drain(engine, pooled.replace(render_pool_min=6))
    assert drainer.pool_jobs == 0 and figures.sent == 5


def test_helper_count(settings):
    assert helper_count(settings.replace(render_processes=0)) == 0
    assert helper_count(settings.replace(render_processes=3)) == 3
    auto = helper_count(settings.replace(render_processes=-1))
    with_dkim = helper_count(
        settings.replace(render_processes=-1, dkim_key_file="k.pem", dkim_selector="s", dkim_domain="who.int")
    )
    assert with_dkim == auto + 1 or auto == with_dkim == 0


def test_helpers_sign_with_dkim_and_the_signatures_verify(engine, pooled, smtp_server, tmp_path):
    import dkim
    from test_dkim import key_file

    from gll_mail.smtp.dkim import DkimSigner

    path = key_file(tmp_path, "rsa")
    record = DkimSigner.from_file(path, "gll2026", "who.int").public_dns_record().encode()
    add_subscribers(engine, 10, name="Zoë Ångström")
    signing = pooled.replace(dkim_key_file=str(path), dkim_selector="gll2026", dkim_domain="who.int")
    drainer, figures = drain(engine, signing)
    assert drainer.pool_jobs >= 1 and figures.sent == 10
    for received in smtp_server.received:
        assert received.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(received.data, dnsfunc=lambda name, timeout=5: record)
