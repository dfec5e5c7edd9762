"""The campaign lifecycle: every transition of the table, refusals with their messages, and the
operations that move outbox rows with the status (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_support import add_subscribers
from sqlalchemy import insert, select
from sqlmodel import Session

from gll_mail.campaigns import lifecycle
from gll_mail.campaigns.lifecycle import TRANSITIONS, LifecycleError
from gll_mail.delivery import control
from gll_mail.delivery.outbox import finalize
from gll_mail.models import Campaign, CampaignStatus, Delivery, Subscriber, utcnow

D = Delivery.__table__
S = CampaignStatus


def _campaign(engine, status=S.DRAFT, slug="note", **values) -> int:
    with Session(engine) as session:
        campaign = Campaign(slug=slug, subject="A note", status=status, audience={"all": True}, **values)
        session.add(campaign)
        session.commit()
        return campaign.id


def _row(engine, campaign_id: int) -> Campaign:
    with Session(engine) as session:
        return session.get(Campaign, campaign_id)


def _deliveries(engine, campaign_id: int, *statuses: str) -> None:
    """One delivery per status, to subscribers made for them."""
    add_subscribers(engine, len(statuses), prefix=f"c{campaign_id}-")
    with engine.begin() as connection:
        subscribers = (
            connection.execute(
                select(Subscriber.id).where(Subscriber.email.like(f"c{campaign_id}-%")).order_by(Subscriber.id)
            )
            .scalars()
            .all()
        )
        connection.execute(
            insert(D),
            [
                {
                    "campaign_id": campaign_id,
                    "subscriber_id": sid,
                    "status": status,
                    "language": "en",
                    "attempts": 1,
                    "last_error": "",
                    "possible_duplicate": False,
                    "created_at": utcnow(),
                }
                for sid, status in zip(subscribers, statuses, strict=False)
            ],
        )


def _statuses(engine, campaign_id: int) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(D.c.status).where(D.c.campaign_id == campaign_id)).scalars())


# --- the table: every allowed transition -----------------------------------------------------

DO = {
    "schedule": lambda engine, cid: lifecycle.schedule(engine, cid, utcnow() + timedelta(days=1)),
    "launch": lifecycle.launch,
    "hold": lambda engine, cid: lifecycle.hold(engine, cid, "preflight failed at send time"),
    "pause": lambda engine, cid: lifecycle.pause(engine, cid, "waiting for the French text"),
    "halt": lambda engine, cid: lifecycle.halt(engine, cid, "SMTP server unreachable"),
    "resume": lifecycle.resume,
    "resume_scheduled": lifecycle.resume_scheduled,
    "cancel": lifecycle.cancel,
    "finish": lifecycle.finish,
    "reopen": lifecycle.reopen,
}
EVERY = [(name, source) for name, step in TRANSITIONS.items() for source in step.sources]


def test_every_operation_of_the_table_has_a_function():
    assert set(DO) == set(TRANSITIONS)
    assert {s for step in TRANSITIONS.values() for s in (*step.sources, step.target)} == set(CampaignStatus)


@pytest.mark.parametrize(("name", "source"), EVERY, ids=[f"{n}-from-{s}" for n, s in EVERY])
def test_every_allowed_transition(engine, name, source):
    campaign_id = _campaign(engine, source)
    assert DO[name](engine, campaign_id)  # the new status (asked by a person) or True (by the machine)
    row = _row(engine, campaign_id)
    assert row.status == TRANSITIONS[name].target
    if name in ("pause", "halt", "hold"):
        assert row.paused_reason  # the reason is kept for `campaign status`
    if name == "launch":
        assert row.started_at is not None
    if name == "finish":
        assert row.finished_at is not None


# --- refused transitions -----------------------------------------------------------------------

REFUSED = [
    ("resume", S.CANCELLED, "cannot resume a cancelled campaign (note is cancelled, not paused)"),
    ("resume", S.SENDING, "note is already sending"),
    ("resume_scheduled", S.SENT, "cannot resume a sent campaign (note is sent, not paused)"),
    ("pause", S.SENT, "cannot pause a sent campaign (note is sent, not sending or scheduled)"),
    ("pause", S.DRAFT, "cannot pause a draft campaign (note is draft, not sending or scheduled)"),
    ("pause", S.PAUSED, "note is already paused"),
    ("schedule", S.SENDING, "cannot schedule a sending campaign (note is sending, not draft or scheduled)"),
    ("schedule", S.PAUSED, "cannot schedule a paused campaign (note is paused, not draft or scheduled)"),
    ("cancel", S.SENT, "cannot cancel a sent campaign (note is sent, not draft, scheduled, sending or paused)"),
    ("cancel", S.CANCELLED, "note is already cancelled"),
]


@pytest.mark.parametrize(("name", "source", "message"), REFUSED, ids=[f"{n}-from-{s}" for n, s, _ in REFUSED])
def test_a_refused_transition_says_why_and_changes_nothing(engine, name, source, message):
    campaign_id = _campaign(engine, source, paused_reason="as it was")
    with pytest.raises(LifecycleError) as refused:
        DO[name](engine, campaign_id)
    assert str(refused.value) == message
    row = _row(engine, campaign_id)
    assert (row.status, row.paused_reason) == (source, "as it was")


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("launch", S.SENDING),
        ("launch", S.PAUSED),
        ("hold", S.SENDING),
        ("halt", S.PAUSED),
        ("halt", S.CANCELLED),
        ("finish", S.PAUSED),
        ("reopen", S.SENDING),
        ("reopen", S.CANCELLED),
    ],
)
def test_the_machine_finds_a_campaign_moved_on_and_leaves_it(engine, name, source):
    """Two workers launching the same campaign, a worker pausing one a person paused first: no error."""
    campaign_id = _campaign(engine, source)
    assert DO[name](engine, campaign_id) is False
    assert _row(engine, campaign_id).status == source


def test_an_unknown_campaign_is_a_lifecycle_error(engine):
    with pytest.raises(LifecycleError, match="no campaign with id 999"):
        lifecycle.pause(engine, 999)


def test_the_cli_prints_a_refusal_as_one_line(runner, engine):
    from gll_mail.cli import main

    _campaign(engine, S.CANCELLED)
    result = runner.invoke(main, ["campaign", "resume", "note"])
    assert result.exit_code == 1
    assert result.output == "Error: cannot resume a cancelled campaign (note is cancelled, not paused)\n"


def test_transitions_compose_in_the_callers_transaction(engine):
    campaign_id = _campaign(engine, S.SENDING)
    with engine.begin() as connection:
        lifecycle.pause(connection, campaign_id, "one")
        lifecycle.resume(connection, campaign_id)
        assert lifecycle.current(connection, campaign_id) == ("note", S.SENDING)
    assert _row(engine, campaign_id).paused_reason == ""


# --- with the outbox, on SQLite and PostgreSQL -------------------------------------------------


def test_finish_only_when_every_delivery_is_final(any_engine):
    campaign_id = _campaign(any_engine, S.SENDING)
    _deliveries(any_engine, campaign_id, "sent", "failed", "queued")
    assert finalize(any_engine, campaign_id) is False
    assert _row(any_engine, campaign_id).status == S.SENDING
    with any_engine.begin() as connection:
        connection.execute(D.update().where(D.c.status == "queued").values(status="suppressed"))
    assert finalize(any_engine, campaign_id) is True
    assert _row(any_engine, campaign_id).status == S.SENT


def test_launch_enqueues_then_sends_and_is_idempotent(any_engine):
    add_subscribers(any_engine, 5)
    campaign_id = _campaign(any_engine, S.SCHEDULED)
    assert control.launch(any_engine, campaign_id) == 5
    assert _row(any_engine, campaign_id).status == S.SENDING
    assert control.launch(any_engine, campaign_id) == 0
    paused = _campaign(any_engine, S.PAUSED, slug="held")
    assert control.launch(any_engine, paused) == 0 and _statuses(any_engine, paused) == []


def test_cancel_cancels_what_waits_and_keeps_what_was_sent(any_engine):
    from gll_mail.delivery.scheduler import JOB_TABLE, schedule_job

    campaign_id = _campaign(any_engine, S.SENDING)
    _deliveries(any_engine, campaign_id, "queued", "queued", "sending", "sent", "failed")
    schedule_job(any_engine, campaign_id, utcnow() + timedelta(days=1))
    assert control.cancel(any_engine, campaign_id) == S.CANCELLED
    row = _row(any_engine, campaign_id)
    assert (row.status, row.paused_reason) == (S.CANCELLED, "cancelled by hand")
    # the claimed one follows when it is given back (outbox.BACK_TO_QUEUE)
    assert _statuses(any_engine, campaign_id) == ["cancelled", "cancelled", "failed", "sending", "sent"]
    with any_engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT id FROM {JOB_TABLE}").scalars().all() == []
    with pytest.raises(LifecycleError, match="note is already cancelled"):
        control.cancel(any_engine, campaign_id)


def test_retry_failed_requeues_and_reopens_a_sent_campaign(any_engine):
    sent = _campaign(any_engine, S.SENT)
    _deliveries(any_engine, sent, "failed", "failed", "sent")
    assert control.retry_failed(any_engine, sent) == 2
    assert _row(any_engine, sent).status == S.SENDING
    with any_engine.connect() as connection:
        rows = connection.execute(select(D.c.status, D.c.attempts).where(D.c.campaign_id == sent)).all()
    assert sorted(rows) == [("queued", 0), ("queued", 0), ("sent", 1)]

    paused = _campaign(any_engine, S.PAUSED, slug="paused")
    _deliveries(any_engine, paused, "failed")
    assert control.retry_failed(any_engine, paused) == 1
    assert _row(any_engine, paused).status == S.PAUSED  # queued, waiting for the resume

    nothing = _campaign(any_engine, S.SENT, slug="clean")
    assert control.retry_failed(any_engine, nothing) == 0
    assert _row(any_engine, nothing).status == S.SENT  # nothing to send: stays sent

    cancelled = _campaign(any_engine, S.CANCELLED, slug="gone")
    _deliveries(any_engine, cancelled, "failed")
    with pytest.raises(LifecycleError, match=r"cannot retry the failed messages of a cancelled campaign \(gone"):
        control.retry_failed(any_engine, cancelled)
    assert _statuses(any_engine, cancelled) == ["failed"]


def test_resume_goes_on_sending_or_waits_for_its_time_or_launches(any_engine, settings):
    started = _campaign(any_engine, S.PAUSED, paused_reason="by hand")
    _deliveries(any_engine, started, "queued")
    assert control.resume(any_engine, settings, started).status == S.SENDING
    assert _row(any_engine, started).paused_reason == ""

    later = _campaign(any_engine, S.PAUSED, slug="later", send_at=utcnow() + timedelta(days=1))
    assert control.resume(any_engine, settings, later).status == S.SCHEDULED
    assert _statuses(any_engine, later) == []

    add_subscribers(any_engine, 3)
    due = _campaign(any_engine, S.PAUSED, slug="due", send_at=utcnow() - timedelta(minutes=1))
    assert control.resume(any_engine, settings, due).status == S.SENDING  # launched now
    assert _statuses(any_engine, due) == ["queued"] * 4  # every member: the three, and the one of "note"

    with pytest.raises(LifecycleError, match=r"cannot resume a sending campaign|already sending"):
        control.resume(any_engine, settings, due)


def test_the_documented_table_is_the_code_table():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "delivery.md").read_text(encoding="utf-8")
    documented = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].strip("`") in TRANSITIONS:
            documented[cells[0].strip("`")] = (tuple(s.strip() for s in cells[1].split(",")), cells[2])
    assert documented == {
        name: (tuple(str(s) for s in step.sources), str(step.target)) for name, step in TRANSITIONS.items()
    }
