"""Campaign report numbers against a seeded campaign with known numbers; bot-aware clicks; HTML."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlmodel import select

from gll_mail.bounces.report_html import render_html
from gll_mail.bounces.reports import campaign_report, render_text
from gll_mail.cli import main
from gll_mail.db import session_scope
from gll_mail.models import Campaign, Delivery, Event, Resource, Subscriber, utcnow

T = utcnow().replace(microsecond=0) - timedelta(days=1)


def seed_campaign(session) -> None:
    c = Campaign(slug="nov-news", subject="GLL November", status="sent", started_at=T)
    r1, r2 = Resource(slug="ipc-report", title="IPC report"), Resource(slug="wash-tool", title="WASH tool")
    session.add_all([c, r1, r2])
    session.flush()
    langs = ["fr", "es", "en", "en", "en", "en", "en", "en", "en", "en"]
    countries = ["Senegal", "Peru", "", "", "", "", "", "", "", ""]
    subs = []
    for i in range(10):
        s = Subscriber(email=f"m{i}@example.org", language=langs[i], country=countries[i])
        session.add(s)
        session.flush()
        subs.append(s)
        status = "sent" if i < 8 else ("failed" if i == 8 else "suppressed")
        session.add(
            Delivery(
                campaign_id=c.id,
                subscriber_id=s.id,
                status=status,
                sent_at=T + timedelta(minutes=i) if status == "sent" else None,
            )
        )
    session.flush()

    def ev(type_, i, at, resource=None, campaign=True, **data):
        session.add(
            Event(
                type=type_,
                subscriber_id=subs[i].id,
                campaign_id=c.id if campaign else None,
                resource_id=resource.id if resource else None,
                created_at=at,
                data=data,
            )
        )

    ua = "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"
    ev("click", 0, T + timedelta(hours=1), r1, user_agent=ua, method="GET")
    ev("confirmed", 0, T + timedelta(hours=2))  # registered through this campaign's gated link
    ev("click", 1, T + timedelta(hours=1), r1, user_agent=ua, method="GET")
    ev("click", 1, T + timedelta(hours=3), r1, user_agent=ua, method="GET")
    ev("click", 1, T + timedelta(hours=5), r2, user_agent=ua, method="GET")
    ev("pod-joined", 1, T + timedelta(hours=6))  # joined a pod through this campaign's link
    # a mail gateway opening every link seconds after delivery, with a browser-like agent
    ev("click", 2, T + timedelta(minutes=2, seconds=8), r1, user_agent=ua, method="GET")
    ev("click", 2, T + timedelta(minutes=2, seconds=9), r2, user_agent=ua, method="GET")
    ev("click", 3, T + timedelta(hours=2), r1, user_agent=ua, method="HEAD")
    ev("click", 4, T + timedelta(hours=2), r1, user_agent="Mozilla/5.0 (compatible; Proofpoint URL Defense)")
    ev("pod-joined", 2, T + timedelta(hours=1), campaign=False)  # on the manage page: not this campaign's
    ev("confirmed", 3, T + timedelta(hours=3), campaign=False)  # from the public register page: neither
    ev("bounce-hard", 5, T + timedelta(minutes=6), status="5.1.1")
    ev("bounce-soft", 6, T + timedelta(minutes=7), status="4.2.2")
    ev("complaint", 7, T + timedelta(hours=4))
    ev("unsubscribed", 6, T + timedelta(hours=4))
    session.commit()


def test_report_numbers(any_engine):
    """The same known numbers on the embedded SQLite default and on the real PostgreSQL server."""
    with session_scope(any_engine) as session:
        seed_campaign(session)
        r = campaign_report(session, "nov-news")
    assert (r["audience"], r["sent"], r["failed"], r["suppressed"]) == (10, 8, 1, 1)
    assert r["bounced"] == {"hard": 1, "soft": 1}
    assert (r["complaints"], r["unsubscribes"], r["delivered"]) == (1, 1, 7)
    c = r["clicks"]
    assert (c["human_unique"], c["human_total"], c["bot_total"]) == (2, 4, 4)
    assert c["bot_reasons"] == {"timing": 2, "head-request": 1, "scanner-agent": 1}
    assert c["per_resource"] == {
        "ipc-report": {"unique": 2, "total": 3, "bot_total": 3},
        "wash-tool": {"unique": 1, "total": 1, "bot_total": 1},
    }
    assert c["by_language"] == {"fr": 1, "es": 1} and c["by_country"] == {"Senegal": 1, "Peru": 1}
    assert r["conversions"] == {
        "registered": 1,
        "joined_pod": 1,
        "by_language": {"fr": 1, "es": 1},
        "by_country": {"Senegal": 1, "Peru": 1},
    }
    assert r["funnel"] == [["delivered", 7], ["clicked", 2], ["registered or joined", 2]]
    assert r["opens"]["tracked"] is False
    complaint = r["rates"][0]
    assert complaint["rate"] == 1 / 8 and complaint["level"] == "over-limit"
    assert any("complaint rate" in w for w in r["warnings"])
    assert sum(n for _, n in r["series"]["sends"]) == 8
    text = render_text(r)
    assert "audience 10" in text and "WARNING: complaint rate" in text
    assert "registered or joined by country: Senegal 1, Peru 1" in text


def test_report_numbers_survive_deleted_accounts(any_engine):
    """Members who bounced, unsubscribed or complained, then deleted their account: the campaign's
    figures stay as they were, and nothing about them is left but the figures."""
    from gll_mail.members.preferences import delete_account

    with session_scope(any_engine) as session:
        seed_campaign(session)
        before = campaign_report(session, "nov-news")
        m5 = session.exec(select(Subscriber).where(Subscriber.email == "m5@example.org")).one()
        bounced = session.exec(select(Delivery).where(Delivery.subscriber_id == m5.id)).one()
        bounced.last_error = "550 5.1.1 <m5@example.org>: Recipient address rejected"
        session.add(bounced)
        for email in ("m5@example.org", "m6@example.org", "m7@example.org"):
            delete_account(
                session, session.exec(select(Subscriber).where(Subscriber.email == email)).one(), source="test"
            )
        after = campaign_report(session, "nov-news")
        orphans = list(session.exec(select(Delivery).where(Delivery.subscriber_id.is_(None))))
    for key in (
        "audience",
        "sent",
        "failed",
        "suppressed",
        "delivered",
        "bounced",
        "complaints",
        "unsubscribes",
        "funnel",
        "rates",
        "series",
    ):
        assert after[key] == before[key], key
    assert len(orphans) == 3 and {d.status for d in orphans} == {"sent"} and {d.last_error for d in orphans} == {""}


def test_html_report_is_self_contained(session):
    seed_campaign(session)
    html = render_html(campaign_report(session, "nov-news"))
    assert html.count("<svg") == 3 and "Funnel" in html
    assert "<caption>Registered or joined by country</caption><tr><td>Senegal</td><td>1</td>" in html
    assert "<caption>Human clickers by language</caption>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_cli_report_formats(runner, engine, session):
    seed_campaign(session)
    out = runner.invoke(main, ["campaign", "report", "nov-news", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["clicks"]["human_unique"] == 2
    out = runner.invoke(main, ["campaign", "report", "nov-news"])
    assert "bot/scanner clicks 4" in out.output
    out = runner.invoke(main, ["campaign", "report", "nov-news", "--format", "html"])
    assert out.output.startswith("<!doctype html>")
    out = runner.invoke(main, ["campaign", "report", "nope"])
    assert out.exit_code != 0 and "no campaign" in out.output
