"""Bounce classification against the corpus, and processing decisions with their evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from gll_mail.bounces import classify
from gll_mail.bounces.intake import SOFT_THRESHOLD, receive, retry, store
from gll_mail.models import (
    Campaign,
    Delivery,
    Event,
    InboundMessage,
    Subscriber,
    Suppression,
)
from gll_mail.tokens import make_verp_token

CORPUS = Path(__file__).parent / "data" / "bounces"
CASES = sorted(p.stem for p in CORPUS.glob("*.eml"))
ADDRESSES = {
    "amina.diallo@example.org": "<d1.gll-test@gll.who.int>",
    "carlos.mendes@example.com.br": "<d2.gll-test@gll.who.int>",
    "erik.larsen@example.net": "<d3.gll-test@gll.who.int>",
    "li.wei@example.edu": "<d4.gll-test@gll.who.int>",
    "fatima.rahman@contoso.example": "<d5.gll-test@gll.who.int>",
    "priya.nair@gmail.example": "<d6.gll-test@gll.who.int>",
    "joao.silva@yahoo.example": "<d7.gll-test@gll.who.int>",
    "olga.ivanova@hotmail.example": "<d8.gll-test@gll.who.int>",
    "bystander@example.org": "<d9.gll-test@gll.who.int>",
    # the recipients of the postfix-real-* DSNs, written by a real Postfix (see data/bounces/README.md)
    "nadia.haddad@example.com": "<d10.gll-test@gll.who.int>",
    "tomas.novak@example.net": "<d11.gll-test@gll.who.int>",
    "akosua.mensah@example.org": "<d12.gll-test@gll.who.int>",
}


def as_delivered(settings, case: str) -> bytes:
    """The corpus message as the bounce mailbox gets it: the MTA that delivered it adds the
    envelope recipient, our VERP address (the seeded deliveries have ids 1, 2, … in ADDRESSES order)."""
    raw = (CORPUS / f"{case}.eml").read_bytes()
    recipient = json.loads((CORPUS / f"{case}.json").read_text()).get("recipient")
    if recipient not in ADDRESSES:
        return raw
    delivery_id = list(ADDRESSES).index(recipient) + 1
    return f"Delivered-To: bounces+{make_verp_token(settings, delivery_id)}@{settings.bounce_domain}\n".encode() + raw


def seed(session) -> dict[str, Delivery]:
    campaign = Campaign(slug="nov-news", subject="GLL newsletter", status="sent")
    session.add(campaign)
    session.flush()
    out = {}
    for email, mid in ADDRESSES.items():
        sub = Subscriber(email=email)
        session.add(sub)
        session.flush()
        d = Delivery(campaign_id=campaign.id, subscriber_id=sub.id, status="sent", message_id=mid)
        session.add(d)
        session.flush()
        out[email] = d
    session.commit()
    assert [d.id for d in out.values()] == list(range(1, len(out) + 1))  # as as_delivered() assumes
    return out


@pytest.mark.parametrize("case", CASES)
def test_corpus_classification(settings, case):
    expected = json.loads((CORPUS / f"{case}.json").read_text())
    result = classify.classify(settings, (CORPUS / f"{case}.eml").read_bytes())
    assert result.kind == expected["kind"]
    assert result.rule == expected["rule"]
    if expected["recipient"]:
        assert expected["recipient"] in result.recipients
    if "status" in expected:
        assert result.status == expected["status"]
    if "message_id" in expected:
        assert expected["message_id"] in result.message_ids


def test_corpus_is_broad():
    names = " ".join(CASES)
    for vendor in (
        "postfix-real",
        "postfix",
        "exim",
        "sendmail",
        "exchange",
        "gmail",
        "yahoo",
        "arf",
        "autoreply",
        "challenge",
    ):
        assert vendor in names


def _status(session, email):
    session.expire_all()
    return session.exec(select(Subscriber).where(Subscriber.email == email)).one().status


@pytest.mark.parametrize("case", CASES)
def test_corpus_decisions(engine, settings, session, case):
    seed(session)
    expected = json.loads((CORPUS / f"{case}.json").read_text())
    outcome = receive(engine, settings, as_delivered(settings, case), source="test")
    assert outcome.kind == expected["kind"]
    if expected["kind"] == "hard":
        assert outcome.action == "suppressed"
        assert _status(session, expected["recipient"]) == "bounced"
        ev = session.exec(select(Event).where(Event.type == "bounce-hard")).one()
        assert ev.source == "bounce" and ev.data["rule"] == expected["rule"] and ev.delivery_id
    elif expected["kind"] == "complaint":
        assert _status(session, expected["recipient"]) == "complained"
        assert session.exec(select(Suppression).where(Suppression.reason == "complaint")).one()
    elif expected["kind"] == "soft":
        assert outcome.action == "counted"
        assert _status(session, expected["recipient"]) == "active"
    else:  # auto-replies and challenges are ignored, not counted as bounces
        assert outcome.action == "ignored"
        kinds = [e.type for e in session.exec(select(Event).where(Event.type.like("bounce%")))]
        assert kinds == ["bounce-ignored"]  # recorded as a decision, never counted as a bounce
        assert not session.exec(select(Suppression)).all()


def _plain_bounce(to: str = "somebody@nowhere.example") -> bytes:
    return (
        f"From: MAILER-DAEMON@x.example\r\nTo: bounces@x\r\nSubject: Undelivered Mail\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        f"Final-Recipient: rfc822; {to}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n"
    ).encode()


def test_verp_token_decides_over_addresses(engine, settings, session):
    deliveries = seed(session)
    target = deliveries["bystander@example.org"]
    token = make_verp_token(settings, target.id)
    out = receive(
        engine, settings, _plain_bounce(), source="test", envelope_to=f"bounces+{token}@{settings.bounce_domain}"
    )
    assert out.action == "suppressed"
    assert _status(session, "bystander@example.org") == "bounced"
    ev = session.exec(select(Event).where(Event.type == "bounce-hard")).one()
    assert ev.data["match"] == "verp" and ev.data["status"] == "5.1.1"


def test_forged_verp_is_ignored(engine, settings, session):
    deliveries = seed(session)
    token = make_verp_token(settings, deliveries["bystander@example.org"].id)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    out = receive(
        engine,
        settings,
        _plain_bounce("bystander@example.org"),
        source="test",
        envelope_to=f"bounces+{forged}@{settings.bounce_domain}",
    )
    assert out.action == "forged"
    assert _status(session, "bystander@example.org") == "active"
    assert not session.exec(select(Suppression)).all()


def test_messages_that_change_nothing_are_recorded_with_their_evidence(engine, settings, session):
    seed(session)
    auto = receive(engine, settings, (CORPUS / "out-of-office.eml").read_bytes(), source="test")
    forged = receive(
        engine,
        settings,
        (CORPUS / "sendmail-dsn.eml").read_bytes(),
        source="test",
        envelope_to=f"bounces+not-a-token@{settings.bounce_domain}",
    )
    assert (auto.action, forged.action) == ("ignored", "forged")
    session.expire_all()
    ignored = session.exec(select(Event).where(Event.type == "bounce-ignored").order_by(Event.id)).all()
    assert [(e.data["kind"], e.data["decision"]) for e in ignored] == [
        ("auto-reply", "ignored"),
        ("forged-verp", "forged"),
    ]
    assert all(e.data["rule"] and e.data["inbound_id"] for e in ignored)
    assert ignored[1].subscriber_id is None  # a forged token names nobody


def test_unknown_address_is_not_suppressed(engine, settings, session):
    seed(session)
    out = receive(engine, settings, _plain_bounce("stranger@example.org"), source="test")
    assert out.action == "unmatched"
    assert not session.exec(select(Suppression)).all()


def test_soft_bounces_of_three_messages_reach_threshold(engine, settings, session):
    first = seed(session)["joao.silva@yahoo.example"]
    later = []
    for slug in ("dec-news", "jan-news"):
        campaign = Campaign(slug=slug, subject="GLL newsletter", status="sent")
        session.add(campaign)
        session.flush()
        later.append(Delivery(campaign_id=campaign.id, subscriber_id=first.subscriber_id, status="sent"))
        session.add(later[-1])
    session.commit()
    raw = (CORPUS / "yahoo-mailbox-full.eml").read_bytes()
    actions = [
        receive(
            engine,
            settings,
            raw,
            source="test",
            envelope_to=f"bounces+{make_verp_token(settings, d.id)}@{settings.bounce_domain}",
        ).action
        for d in [first, *later]
    ]
    assert actions == ["counted"] * (SOFT_THRESHOLD - 1) + ["suppressed"]
    assert _status(session, "joao.silva@yahoo.example") == "bounced"


def test_repeated_delay_notices_about_one_message_are_one_soft_bounce(engine, settings, session):
    seed(session)
    raw = as_delivered(settings, "yahoo-mailbox-full")
    actions = [receive(engine, settings, raw, source="test").action for _ in range(SOFT_THRESHOLD + 1)]
    assert actions == ["counted"] * (SOFT_THRESHOLD + 1)
    assert _status(session, "joao.silva@yahoo.example") == "active"
    assert len(session.exec(select(Event).where(Event.type == "bounce-soft")).all()) == SOFT_THRESHOLD + 1


def test_raw_stored_before_processing_and_retry(engine, settings, session, monkeypatch):
    seed(session)
    raw = (CORPUS / "sendmail-dsn.eml").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("gll_mail.bounces.intake.apply", boom)
    assert receive(engine, settings, raw, source="test") is None
    session.expire_all()
    row = session.exec(select(InboundMessage)).one()
    assert row.status == "failed" and "database hiccup" in row.error and row.raw == raw
    monkeypatch.undo()
    assert retry(engine, settings) == (1, 0)
    session.expire_all()
    assert session.exec(select(InboundMessage)).one().status == "processed"
    assert _status(session, "li.wei@example.edu") == "bounced"
    assert retry(engine, settings) == (0, 0)


def test_store_is_idempotent_by_key(engine):
    assert store(engine, b"x", source="t", source_key="k1") is not None
    assert store(engine, b"x", source="t", source_key="k1") is None


def test_a_deleted_account_leaves_no_address_in_bounces_or_suppressions(engine, settings, session):
    from gll_mail.members.preferences import delete_account

    seed(session)
    raw = as_delivered(settings, "postfix-user-unknown")
    assert b"amina.diallo@example.org" in raw
    assert receive(engine, settings, raw, source="test").action == "suppressed"
    untouched = receive(engine, settings, as_delivered(settings, "yahoo-mailbox-full"), source="test")
    assert untouched.action == "counted"
    session.expire_all()
    amina = session.exec(select(Subscriber).where(Subscriber.email == "amina.diallo@example.org")).one()
    delete_account(session, amina, source="web")
    session.commit()
    session.expire_all()
    rows = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert rows[0].raw == b"" and rows[0].kind == "hard" and "erased" in rows[0].error
    assert b"joao.silva@yahoo.example" in rows[1].raw  # another member's evidence stays
    suppression = session.exec(select(Suppression)).one()
    assert suppression.email is None and suppression.reason == "hard-bounce"
    assert "amina" not in suppression.note.lower() and "5.1.1" in suppression.note


@pytest.mark.parametrize("case", ["postfix-user-unknown", "arf-complaint"])
def test_a_report_that_proves_nothing_suppresses_nobody(engine, settings, session, case):
    """A DSN or ARF report naming a member, sent to postmaster@ without our VERP token or one of our
    Message-IDs, is what anyone can write: recorded as unverified, nobody suppressed."""
    seed(session)
    raw = (CORPUS / f"{case}.eml").read_bytes()
    for mid in ADDRESSES.values():
        raw = raw.replace(mid.encode(), b"<forged@attacker.example>")
    outcome = receive(engine, settings, raw, source="smtp", envelope_to=f"postmaster@{settings.bounce_domain}")
    assert outcome.action == "unverified"
    session.expire_all()
    assert session.exec(select(Suppression)).all() == []
    assert {s.status for s in session.exec(select(Subscriber))} == {"active"}
    ignored = session.exec(select(Event).where(Event.type == "bounce-ignored")).one()
    assert ignored.data["decision"] == "unverified" and ignored.subscriber_id is not None


@pytest.mark.parametrize(
    "status, diagnostic, kind",
    [
        ("5.1.1", "smtp; 550 5.1.1 <x@example.org>: Recipient address rejected: User unknown", classify.HARD),
        ("5.2.1", "smtp; 550 5.2.1 The email account that you tried to reach is disabled", classify.HARD),
        ("5.7.1", "smtp; 554 5.7.1 Message rejected as spam", classify.SOFT),  # the message, not the address
        ("", "smtp; 550 No such user here", classify.HARD),
        ("", "smtp; 550 Rejected for policy reasons", classify.SOFT),
        ("4.2.2", "smtp; 452 4.2.2 Mailbox full", classify.SOFT),
    ],
)
def test_a_returned_dsn_suppresses_only_a_bad_address(status, diagnostic, kind):
    """The same rule as for a refusal during the send (smtp_pool.SendResult.hard_bounce)."""
    assert classify.classify_status(status, "failed", diagnostic) == kind
