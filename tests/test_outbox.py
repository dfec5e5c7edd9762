"""The outbox on SQLite and PostgreSQL: idempotent set-based enqueue, leased claims, takeover, finalize."""

from __future__ import annotations

import threading

from delivery_support import add_subscribers
from sqlalchemy import select, update
from sqlmodel import Session

from gll_mail.delivery.outbox import claim, counts, enqueue, finalize, release
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)


def _campaign(engine, status=CampaignStatus.SENDING, audience=None) -> int:
    with Session(engine) as session:
        campaign = Campaign(slug="c1", subject="s", status=status, audience=audience or {"all": True})
        session.add(campaign)
        session.commit()
        return campaign.id


def test_enqueue_is_set_based_batched_and_idempotent(any_engine):
    add_subscribers(any_engine, 53, languages=("en", "fr"))
    with any_engine.begin() as connection:
        connection.execute(
            update(Subscriber).where(Subscriber.id.in_([1, 2])).values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    campaign_id = _campaign(any_engine)
    assert enqueue(any_engine, campaign_id, batch=7) == 51
    assert enqueue(any_engine, campaign_id, batch=7) == 0
    add_subscribers(any_engine, 3, prefix="late")
    assert enqueue(any_engine, campaign_id) == 3
    with Session(any_engine) as session:
        rows = list(session.execute(select(Delivery.subscriber_id, Delivery.language, Delivery.status)))
        assert counts(session, campaign_id)["queued"] == 54
    assert len({r[0] for r in rows}) == 54 and {r[2] for r in rows} == {"queued"}
    assert {r[1] for r in rows} == {"en", "fr"}


def test_claims_are_leased_disjoint_and_only_for_running_campaigns(any_engine):
    add_subscribers(any_engine, 40)
    campaign_id = _campaign(any_engine)
    enqueue(any_engine, campaign_id)
    results: list[list[int]] = []

    def worker(name):
        got = []
        while batch := claim(any_engine, name, limit=3, lease_seconds=60):
            got += [c.id for c in batch]
        results.append(got)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    flat = [i for got in results for i in got]
    assert len(flat) == 40 and len(set(flat)) == 40  # nobody claimed a row twice
    with Session(any_engine) as session:
        owners = set(session.execute(select(Delivery.lease_owner)).scalars())
        assert owners <= {"w0", "w1", "w2"}
    with any_engine.begin() as connection:
        connection.execute(update(Campaign).values(status=CampaignStatus.PAUSED))
    assert claim(any_engine, "w9", limit=100, lease_seconds=60) == []


def test_an_expired_lease_is_taken_over_and_flagged_as_possible_duplicate(any_engine):
    add_subscribers(any_engine, 5)
    campaign_id = _campaign(any_engine)
    enqueue(any_engine, campaign_id)
    first = claim(any_engine, "dead-worker", limit=2, lease_seconds=-1)  # already expired
    assert [c.taken_over for c in first] == [False, False]
    with any_engine.begin() as connection:  # the dead worker had handed the first one to the server
        connection.execute(update(Delivery).where(Delivery.id == first[0].id).values(message_id="<m@x>"))
    again = claim(any_engine, "new-worker", limit=10, lease_seconds=60)
    assert len(again) == 5
    taken = {c.id for c in again if c.taken_over}
    assert taken == {first[0].id}  # the other was claimed but never handed over: no duplicate possible
    assert {c.attempts for c in again if c.id in (first[0].id, first[1].id)} == {2}
    with Session(any_engine) as session:
        flagged = set(session.execute(select(Delivery.id).where(Delivery.possible_duplicate.is_(True))).scalars())
        assert flagged == taken
        assert "dead-worker" in session.execute(select(Delivery.last_error).where(Delivery.id.in_(taken))).scalar()


def test_release_gives_rows_back_without_counting_the_attempt(any_engine):
    add_subscribers(any_engine, 4)
    campaign_id = _campaign(any_engine)
    enqueue(any_engine, campaign_id)
    claimed = claim(any_engine, "w", limit=4, lease_seconds=60)
    assert release(any_engine, "w") == 4
    with Session(any_engine) as session:
        rows = list(session.execute(select(Delivery.status, Delivery.attempts, Delivery.lease_owner)))
    assert rows == [("queued", 0, None)] * 4
    assert len(claim(any_engine, "w2", limit=10, lease_seconds=60)) == len(claimed)


def test_campaign_is_sent_only_when_every_delivery_is_final(any_engine):
    add_subscribers(any_engine, 3)
    campaign_id = _campaign(any_engine)
    enqueue(any_engine, campaign_id)
    ids = [c.id for c in claim(any_engine, "w", limit=3, lease_seconds=60)]
    for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
        with any_engine.begin() as connection:
            connection.execute(update(Delivery).where(Delivery.id == ids.pop(0)).values(status=status))
        assert not finalize(any_engine, campaign_id)  # one is still sending
    with any_engine.begin() as connection:
        connection.execute(update(Delivery).where(Delivery.id == ids.pop(0)).values(status=DeliveryStatus.SUPPRESSED))
    assert finalize(any_engine, campaign_id)
    with Session(any_engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.status == CampaignStatus.SENT and campaign.finished_at is not None


def test_kill_9_inside_the_enqueue_then_launch_again_enqueues_everyone_once(any_engine, tmp_path):
    """A launching process killed between its committed batches: the next launch adds only the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from gll_mail.delivery.control import launch

    add_subscribers(any_engine, 6000)
    campaign_id = _campaign(any_engine, status=CampaignStatus.SCHEDULED)
    url = any_engine.url.render_as_string(hide_password=False)
    script = (
        "import sys, time; from gll_mail.db import make_engine; from gll_mail.delivery import outbox\n"
        "engine = make_engine(sys.argv[1]); real = outbox.audience_select\n"
        "def slow(*a, **k):\n    time.sleep(0.05); return real(*a, **k)\n"
        "outbox.audience_select = slow\n"
        "outbox.enqueue(engine, int(sys.argv[2]), batch=100)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, url, str(campaign_id)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:  # wait until some batches are committed, then kill it in the middle of the others
        with Session(any_engine) as session:
            queued = counts(session, campaign_id)["queued"]
        if queued >= 1000:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the enqueue did not progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    with Session(any_engine) as session:
        partial = counts(session, campaign_id)["queued"]
        assert session.get(Campaign, campaign_id).status == CampaignStatus.SCHEDULED  # not sending yet
    assert 1000 <= partial < 6000 and partial % 100 == 0  # whole batches only
    assert launch(any_engine, campaign_id) == 6000 - partial
    with Session(any_engine) as session:
        ids = list(session.execute(select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id)).scalars())
        assert session.get(Campaign, campaign_id).status == CampaignStatus.SENDING
    assert len(ids) == len(set(ids)) == 6000
