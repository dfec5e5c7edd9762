"""The send loop's checks and writes, called directly on SQLite and PostgreSQL (no event loop)."""

from __future__ import annotations

from collections import deque

from delivery_support import add_subscribers
from sqlalchemy import select, update
from sqlmodel import Session

from gll_mail.addresses import email_hash
from gll_mail.delivery.ledger import (
    SendOutcome,
    Work,
    failure_pauses,
    recheck,
    record_outcomes,
    record_skipped,
    suppress_hard_bounces,
)
from gll_mail.delivery.outbox import claim, enqueue
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Event,
    Pod,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from gll_mail.smtp.pool import OK, PERMANENT, TEMPORARY, UNREACHABLE, SendResult

D = Delivery.__table__
OWNER = "worker-a"


def _claimed(engine, count: int, status=CampaignStatus.SENDING):
    emails = add_subscribers(engine, count)
    with Session(engine) as session:
        campaign = Campaign(slug="note", subject="A note", status=status, audience={"all": True})
        session.add(campaign)
        session.commit()
        campaign_id = campaign.id
    enqueue(engine, campaign_id)
    if status != CampaignStatus.SENDING:  # claims only take rows of running campaigns
        with engine.begin() as connection:
            connection.execute(update(Campaign).values(status=CampaignStatus.SENDING))
    claimed = claim(engine, OWNER, limit=100, lease_seconds=60)
    if status != CampaignStatus.SENDING:
        with engine.begin() as connection:
            connection.execute(update(Campaign).values(status=status))
    return campaign_id, emails, claimed


def _rows(engine) -> dict[int, dict]:
    with engine.connect() as connection:
        return {r["id"]: dict(r) for r in connection.execute(select(D).order_by(D.c.id)).mappings()}


def _events(engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return sorted((e.type, e.delivery_id) for e in session.exec(select(Event)).scalars())


def test_recheck_sends_only_to_who_is_still_mailable(any_engine):
    _, emails, claimed = _claimed(any_engine, 6)
    with Session(any_engine) as session:
        people = {s.email: s for s in session.exec(select(Subscriber)).scalars()}
        people[emails[0]].status = SubscriberStatus.UNSUBSCRIBED
        people[emails[1]].paused = True
        # on the list while still active (suppress() would change the status as well)
        session.add(Suppression(email_hash=email_hash(emails[2]), email=emails[2], reason="manual"))
        pod = Pod(slug="ipc", name="IPC")
        session.add(pod)
        session.flush()
        session.add(PodMembership(pod_id=pod.id, subscriber_id=people[emails[3]].id))
        session.commit()
    with any_engine.connect() as connection:
        found = recheck(connection, claimed)
    assert {item.id: why for item, why in found.skipped} == {
        claimed[0].id: "unsubscribed",
        claimed[1].id: "paused",
        claimed[2].id: "suppressed",
    }
    assert [(item.id, r.email, r.pods) for item, r in found.eligible] == [
        (claimed[3].id, emails[3], ("ipc",)),
        (claimed[4].id, emails[4], ()),
        (claimed[5].id, emails[5], ()),
    ]
    assert found.stopped == [] and set(found.statuses.values()) == {"sending"}


def test_recheck_gives_back_the_rows_of_a_campaign_no_longer_sending(any_engine):
    _, _, claimed = _claimed(any_engine, 3, status=CampaignStatus.PAUSED)
    with any_engine.connect() as connection:
        found = recheck(connection, claimed)
    assert found.stopped == claimed and found.eligible == [] and found.skipped == []


def test_record_skipped_writes_suppressed_or_failed_with_an_event(any_engine):
    _, _, claimed = _claimed(any_engine, 3)
    with any_engine.begin() as connection:
        record_skipped(connection, OWNER, [(claimed[0], "unsubscribed"), (claimed[1], "failed: no subject")], utcnow())
        record_skipped(connection, "worker-b", [(claimed[2], "suppressed")], utcnow())  # not its claim
    rows = _rows(any_engine)
    assert (rows[claimed[0].id]["status"], rows[claimed[0].id]["last_error"]) == ("suppressed", "unsubscribed")
    assert (rows[claimed[1].id]["status"], rows[claimed[1].id]["last_error"]) == ("failed", "failed: no subject")
    assert rows[claimed[2].id]["status"] == "sending"
    assert {("suppressed", claimed[0].id), ("failed", claimed[1].id)} <= set(_events(any_engine))


def test_record_outcomes_sends_retries_fails_releases_and_marks(any_engine):
    _, emails, claimed = _claimed(any_engine, 6)
    works = [
        Work(item, email, "example.org", message_id=f"<{item.id}@x>")
        for item, email in zip(claimed, emails, strict=False)
    ]
    outcomes = [
        SendOutcome(works[0], SendResult(OK, 250, "queued")),
        SendOutcome(works[1], SendResult(TEMPORARY, 451, "4.3.0 try later", "rcpt")),
        SendOutcome(works[2], SendResult(PERMANENT, 550, "5.1.1 no such user", "rcpt")),
        SendOutcome(works[3], None),  # given back unsent
        SendOutcome(works[4], SendResult(UNREACHABLE, None, "connection refused"), handing=works[5]),
    ]
    now = utcnow()
    with any_engine.begin() as connection:
        recorded = record_outcomes(
            connection, OWNER, outcomes, now=now, lease_seconds=60, max_attempts=3, backoff=lambda attempts: 30.0
        )
    assert recorded.sent == 1
    assert recorded.unreachable == {claimed[0].campaign_id: "SMTP server unreachable: connection refused"}
    assert recorded.bounces == [(emails[2], claimed[2], "550 5.1.1 no such user")]
    rows = _rows(any_engine)
    by = [rows[item.id] for item in claimed]
    assert (by[0]["status"], by[0]["message_id"], by[0]["smtp_code"]) == ("sent", f"<{claimed[0].id}@x>", 250)
    assert by[1]["status"] == "queued" and by[1]["smtp_code"] == 451
    assert abs((by[1]["next_attempt_at"].replace(tzinfo=None) - now.replace(tzinfo=None)).total_seconds() - 30) < 1
    assert (by[2]["status"], by[2]["last_error"]) == ("failed", "550 5.1.1 no such user")
    assert by[3]["status"] == "queued" and by[3]["attempts"] == 0  # the attempt not counted
    assert by[4]["status"] == "queued"
    assert by[5]["status"] == "sending" and by[5]["message_id"] == f"<{claimed[5].id}@x>"  # marked as handed
    assert works[5].lost is False
    assert {t for t, _ in _events(any_engine)} == {"deferred", "failed"}


def test_a_mark_that_does_not_take_flags_the_message_lost(any_engine):
    _, emails, claimed = _claimed(any_engine, 1)
    with any_engine.begin() as connection:  # the lease ran out and worker B took the row
        connection.execute(update(Delivery).values(lease_owner="worker-b"))
    work = Work(claimed[0], emails[0], "example.org", message_id="<m@x>")
    with any_engine.begin() as connection:
        record_outcomes(
            connection,
            OWNER,
            [SendOutcome(None, None, handing=work)],
            now=utcnow(),
            lease_seconds=60,
            max_attempts=3,
            backoff=lambda attempts: 1.0,
        )
    assert work.lost is True and _rows(any_engine)[claimed[0].id]["message_id"] is None


def test_hard_bounces_are_suppressed_with_an_event(any_engine):
    _, emails, claimed = _claimed(any_engine, 1)
    with any_engine.begin() as connection:
        suppress_hard_bounces(connection, [(emails[0], claimed[0], "550 5.1.1 no such user")])
    with Session(any_engine) as session:
        row = session.exec(select(Suppression)).scalars().one()
        assert (row.email, row.reason) == (emails[0], "hard-bounce")
        assert session.exec(select(Subscriber.status)).scalars().one() == SubscriberStatus.BOUNCED
    assert _events(any_engine) == [("bounce-hard", claimed[0].id)]


def test_failure_pauses_once_enough_recent_sends_failed():
    from gll_mail.delivery.outbox import Claimed

    def outcome(campaign_id, result):
        return SendOutcome(Work(Claimed(1, campaign_id, 1, "en", 1, False), "a@x.org", "x.org"), result)

    refused = SendResult(PERMANENT, 550, "5.7.1 blocked", "rcpt")
    windows = {1: deque(maxlen=40), 2: deque(maxlen=40)}
    assert failure_pauses(windows, [outcome(1, refused)] * 19, 0.5) == {}  # too few sends to judge
    reasons = failure_pauses(windows, [outcome(1, refused), outcome(2, SendResult(OK, 250, "ok"))], 0.5)
    assert reasons == {1: "20 of the last 20 sends failed (last: 550 5.7.1 blocked)"}
    assert failure_pauses(windows, [outcome(1, refused)], 0.5, skip={1}) == {}
    assert list(windows[2]) == [True]
