"""`gll-mail campaign schedule|send|status|pause|resume|cancel|retry-failed|list` as the team uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_support import add_subscribers, deliveries, recipients_of, write_campaign
from sqlalchemy import select

from gll_mail.cli import main
from gll_mail.models import Campaign, utcnow


@pytest.fixture
def team(runner, engine, settings, tmp_path, monkeypatch, smtp_server):
    folder = tmp_path / "campaigns"
    write_campaign(folder)
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(folder))
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", smtp_server.url)
    monkeypatch.setenv("GLL_MAIL_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("GLL_MAIL_MAX_ATTEMPTS", "2")
    add_subscribers(engine, 8)
    return runner


def run(runner, *args, code=0):
    result = runner.invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def campaign_row(engine):
    with engine.connect() as connection:
        return connection.execute(select(Campaign.__table__).where(Campaign.slug == "note")).mappings().one()


def test_send_shows_progress_and_figures_then_status_and_list(team, engine, smtp_server):
    out = run(team, "campaign", "send", "note")
    assert "note: sent: 8 sent, 0 failed, 0 suppressed, 0 deferred, 0 remaining." in out
    assert "sent ·" in out and "remaining" in out and "/s" in out and "ETA" in out  # the progress bar
    assert len(recipients_of(smtp_server)) == 8
    out = run(team, "campaign", "status", "note")
    assert "note: sent" in out and "sent 8, failed 0" in out and "finished:" in out
    assert "note" in run(team, "campaign", "list") and "sent" in run(team, "campaign", "list")
    out = run(team, "campaign", "send", "note")  # again: nothing new is sent
    assert len(recipients_of(smtp_server)) == 8 and "8 sent" in out


def test_schedule_uses_at_or_front_matter_and_refuses_a_failing_preflight(team, engine, settings, tmp_path):
    at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    out = run(team, "campaign", "schedule", "note", "--at", at.isoformat())
    assert "Scheduled note for" in out
    row = campaign_row(engine)
    assert row["status"] == "scheduled" and row["send_at"].replace(tzinfo=None) == at.replace(tzinfo=None)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT id FROM apscheduler_jobs").scalars().all() == [
            f"campaign-{row['id']}"
        ]
    out = run(team, "campaign", "schedule", "note", code=1)
    assert "no send_at" in out
    run(team, "campaign", "schedule", "note", "--at", "tomorrow", code=2)
    folder = tmp_path / "campaigns"
    write_campaign(folder, "broken", body="A [lost link]( and TODO\n")
    out = run(team, "campaign", "schedule", "broken", "--at", at.isoformat(), code=1)
    assert "fails its preflight" in out
    write_campaign(folder, "dated", send_at=(utcnow() + timedelta(hours=1)).isoformat())
    assert "Scheduled dated for" in run(team, "campaign", "schedule", "dated")


def test_pause_resume_cancel(team, engine):
    at = (utcnow() + timedelta(days=1)).isoformat()
    run(team, "campaign", "schedule", "note", "--at", at)
    assert "Paused note" in run(team, "campaign", "pause", "note", "--reason", "waiting for the French text")
    assert "paused (waiting for the French text)" in run(team, "campaign", "status", "note")
    assert "scheduled for" in run(team, "campaign", "resume", "note")
    assert campaign_row(engine)["status"] == "scheduled"
    assert "Cancelled note" in run(team, "campaign", "cancel", "note")
    assert campaign_row(engine)["status"] == "cancelled"
    assert "already cancelled" in run(team, "campaign", "cancel", "note", code=1)
    assert "not paused" in run(team, "campaign", "resume", "note", code=1)
    assert "no campaign 'nope'" in run(team, "campaign", "status", "nope", code=1)


def test_at_its_time_a_scheduled_campaign_is_checked_again_and_paused_if_it_fails(
    team, engine, settings, tmp_path, smtp_server
):
    """Between scheduling and the send time the toolkit's file was deleted: nothing is enqueued,
    `status` says why; with the file back, `resume` launches it."""
    from sqlmodel import Session

    from gll_mail.catalog import add_resource
    from gll_mail.delivery.scheduler import launch_due

    settings.resources_dir.mkdir(parents=True, exist_ok=True)
    (settings.resources_dir / "toolkit.pdf").write_bytes(b"%PDF-1.4 toolkit")
    with Session(engine) as session:
        add_resource(
            session,
            slug="toolkit",
            title="IPC toolkit",
            access="registered",
            resources_dir=settings.resources_dir,
            file_path="toolkit.pdf",
        )
        session.commit()
    write_campaign(tmp_path / "campaigns", body="{{ salutation }}\n\nThe [IPC toolkit](resource:toolkit) is out.\n")
    run(team, "campaign", "schedule", "note", "--at", (utcnow() + timedelta(hours=1)).isoformat())
    (settings.resources_dir / "toolkit.pdf").unlink()
    with engine.begin() as connection:  # its time has come
        connection.execute(Campaign.__table__.update().values(send_at=utcnow() - timedelta(seconds=1)))
    assert launch_due(engine, settings) == [campaign_row(engine)["id"]]
    row = campaign_row(engine)
    assert row["status"] == "paused" and "preflight failed at send time" in row["paused_reason"]
    assert "toolkit" in row["paused_reason"] and deliveries(engine, "note") == []
    out = run(team, "campaign", "status", "note")
    assert "paused (preflight failed at send time" in out
    assert "still paused" in run(team, "campaign", "resume", "note", code=1)  # not fixed yet
    (settings.resources_dir / "toolkit.pdf").write_bytes(b"%PDF-1.4 toolkit")
    assert "Resumed note" in run(team, "campaign", "resume", "note")
    assert campaign_row(engine)["status"] == "sending" and len(deliveries(engine, "note")) == 8


def test_retry_failed_sends_what_failed(team, engine, smtp_server):
    smtp_server.reject("m00001@example.org", 451, "4.7.1 greylisted")
    out = run(team, "campaign", "send", "note", "--no-progress")
    assert "7 sent, 1 failed" in out
    smtp_server.handler.reject_rcpt.clear()
    assert "Queued 1 failed message(s) of note again." in run(team, "campaign", "retry-failed", "note")
    assert campaign_row(engine)["status"] == "sending"
    out = run(team, "campaign", "send", "note", "--no-progress")
    assert "8 sent, 0 failed" in out and campaign_row(engine)["status"] == "sent"
    assert sorted(recipients_of(smtp_server)).count("m00001@example.org") == 1
    assert {r["status"] for r in deliveries(engine, "note")} == {"sent"}


def test_send_pauses_when_the_server_is_down_and_says_why(team, engine, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    out = run(team, "campaign", "send", "note", "--no-progress", code=1)
    assert "paused itself: SMTP server unreachable" in out and "campaign resume note" in out
    assert "GLL_MAIL_SMTP_URL" in out
    assert "paused (SMTP server unreachable" in run(team, "campaign", "status", "note")
