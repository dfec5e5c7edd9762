"""Real `gll-mail worker` processes: kill -9 and restart, SIGTERM, the scheduler, and three workers on PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from delivery_support import (
    TimedSink,
    add_subscribers,
    deliveries,
    recipients_of,
    write_campaign,
)
from sqlalchemy import select
from sqlmodel import Session

from gll_mail.campaigns.sources import load_source
from gll_mail.delivery.control import launch, prepare
from gll_mail.models import Campaign, CampaignStatus, utcnow

GLL_MAIL = str(Path(sys.executable).parent / "gll-mail")
CONNECTIONS = 4


def worker_env(settings, database_url: str, smtp_url: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    env.update(
        {
            "GLL_MAIL_ENV": "test",
            "GLL_MAIL_DATABASE_URL": database_url,
            "GLL_MAIL_SMTP_URL": smtp_url,
            "GLL_MAIL_BASE_URL": settings.base_url,
            "GLL_MAIL_SECRET_KEYS": settings.secret_keys[0],
            "GLL_MAIL_CAMPAIGNS_DIR": str(settings.campaigns_dir),
            "GLL_MAIL_TEMPLATES_DIR": str(settings.templates_dir),
            "GLL_MAIL_SMTP_CONNECTIONS": str(CONNECTIONS),
            "GLL_MAIL_LEASE_SECONDS": "1",
            "GLL_MAIL_RETRY_BASE_SECONDS": "0.1",
        }
    )
    env.update({f"GLL_MAIL_{k.upper()}": str(v) for k, v in extra.items()})
    return env


_started: list[subprocess.Popen] = []


def start_worker(env, *args) -> subprocess.Popen:
    log = open(Path(env["GLL_MAIL_CAMPAIGNS_DIR"]).parent / f"worker-{len(_started)}.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen([GLL_MAIL, "worker", "--poll", "0.1", *args], env=env, stdout=log, stderr=log, text=True)
    proc.log = log
    _started.append(proc)
    return proc


def output(proc) -> str:
    proc.log.seek(0)
    return proc.log.read()


@pytest.fixture(autouse=True)
def no_leftover_workers():
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.log.close()


def wait_for(condition, timeout: float = 30.0, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}: {output(proc)[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def status_of(engine, slug: str) -> str:
    with Session(engine) as session:
        return session.execute(select(Campaign.status).where(Campaign.slug == slug)).scalar_one()


def launched(engine, settings, count: int, **kwargs) -> list[str]:
    emails = add_subscribers(engine, count, **kwargs)
    source = load_source(write_campaign(settings.campaigns_dir))
    campaign = prepare(engine, settings, source)
    launch(engine, campaign.id)
    return emails


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    return proc.returncode, output(proc)


@pytest.fixture
def local(settings, tmp_path):
    return settings.replace(campaigns_dir=tmp_path / "campaigns")


@pytest.mark.slow
@pytest.mark.parametrize(
    "render",
    [{"render_processes": 0}, {"render_processes": 1, "render_pool_min": 1}],
    ids=["render-here", "render-helpers"],
)
def test_kill_9_at_several_points_then_restart_misses_nobody(engine, local, tmp_path, render):
    with TimedSink(tmp_path / "sink") as sink:
        emails = launched(engine, local.replace(smtp_url=sink.url), 300)
        env = worker_env(local, local.database_url, sink.url, rate_per_second=150, **render)
        kills = 0
        orphans: list[int] = []
        for threshold in (30, 110, 190):
            proc = start_worker(env)
            wait_for(lambda threshold=threshold: len(sink.received) >= threshold, procs=[proc])
            orphans += children_of(proc.pid)
            proc.kill()  # SIGKILL: no clean-up at all
            proc.wait()
            kills += 1
        if render.get("render_processes"):
            assert orphans  # the helpers were running …
            wait_for(lambda: not [pid for pid in orphans if alive(pid)], timeout=10)  # … and left with the worker
        proc = start_worker(env)
        wait_for(lambda: status_of(engine, "note") == CampaignStatus.SENT, procs=[proc])
        code, _ = stop(proc)
        got = Counter(recipients_of(sink))
    assert code == 0
    assert set(got) == set(emails)  # nobody missed
    duplicated = {address for address, n in got.items() if n > 1}
    assert sum(got.values()) - len(got) <= kills * CONNECTIONS  # at most the in-flight messages, per kill
    rows = deliveries(engine, "note")
    assert {r["status"] for r in rows} == {"sent"}
    with Session(engine) as session:
        from gll_mail.models import Subscriber

        ids = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    flagged = {r["subscriber_id"] for r in rows if r["possible_duplicate"]}
    assert {ids[a] for a in duplicated} <= flagged  # every real duplicate is recorded


@pytest.mark.slow
def test_sigterm_finishes_in_flight_work_and_the_scheduler_fires(engine, local, tmp_path, runner, monkeypatch):
    with TimedSink(tmp_path / "sink") as sink:
        add_subscribers(engine, 120)
        write_campaign(local.campaigns_dir)
        monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(local.campaigns_dir))
        at = (utcnow() + timedelta(seconds=1)).isoformat()
        result = runner.invoke(
            __import__("gll_mail.cli", fromlist=["main"]).main, ["campaign", "schedule", "note", "--at", at]
        )
        assert result.exit_code == 0, result.output
        assert status_of(engine, "note") == CampaignStatus.SCHEDULED
        env = worker_env(local, local.database_url, sink.url, rate_per_second=60)
        proc = start_worker(env)
        wait_for(lambda: len(sink.received) >= 20, procs=[proc])  # the job fired: it is sending
        code, err = stop(proc)
        assert code == 0 and "stopped after sending" in err
        assert re.search(r"ready: 4 SMTP connection\(s\), no DKIM, database sqlite:///", err), err
        sent_by_worker = int(re.search(r"sending (\d+) message", err).group(1))
        received = len(sink.received)
        rows = deliveries(engine, "note")
        assert not [r for r in rows if r["status"] == "sending"]  # nothing left claimed
        assert len([r for r in rows if r["status"] == "sent"]) == received == sent_by_worker  # all recorded
        assert status_of(engine, "note") == CampaignStatus.SENDING
        proc = start_worker(worker_env(local, local.database_url, sink.url))  # the one SQLite worker goes on
        wait_for(lambda: status_of(engine, "note") == CampaignStatus.SENT, procs=[proc])
        stop(proc)
        assert sorted(recipients_of(sink)) == sorted(set(recipients_of(sink)))  # no duplicates on a clean stop
        assert len(recipients_of(sink)) == 120


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_on_postgresql_share_a_campaign_without_double_sends(pg_engine, local, tmp_path):
    url = pg_engine.url.render_as_string(hide_password=False)
    pg = local.replace(database_url=url)
    with TimedSink(tmp_path / "sink") as sink:
        emails = launched(pg_engine, pg.replace(smtp_url=sink.url), 300, domains=("a.org", "b.org", "c.org"))
        env = worker_env(pg, url, sink.url, rate_per_second=150, lease_seconds=30)
        procs = [start_worker(env, "--concurrency", "3") for _ in range(3)]
        try:
            wait_for(lambda: status_of(pg_engine, "note") == CampaignStatus.SENT, procs=procs)
        finally:
            outcomes = [stop(p) for p in procs]
        got = recipients_of(sink)
        times = [t for t, _ in sink.stamps]
    assert sorted(got) == sorted(emails)  # everyone exactly once
    counts = [int(re.search(r"sending (\d+) message", err).group(1)) for _, err in outcomes]
    assert all(code == 0 for code, _ in outcomes)
    assert sum(counts) == 300 and all(n > 0 for n in counts), counts  # all three took part
    # the global limit held for the three together, on average over the whole run (the sink's stamps
    # carry the machine's scheduling jitter; the spacing is checked on a simulated clock in
    # test_ratelimit)
    assert (len(times) - 1) / (max(times) - min(times)) <= 150 * 1.02
