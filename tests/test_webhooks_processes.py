"""Real processes: `gll-mail webhooks deliver` killed with SIGKILL mid-POST and run again, the worker
sending webhooks, and the `gll-mail webhooks` commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select
from webhook_support import Receiver

from gll_mail.cli import main
from gll_mail.events import emit_webhooks
from gll_mail.models import AuditEntry, WebhookDelivery
from gll_mail.team.audit import COMMAND_LINE
from gll_mail.webhooks import endpoints as hooks
from gll_mail.webhooks.sender import deliver_due

GLL_MAIL = str(Path(sys.executable).parent / "gll-mail")


def env_for(settings, database_url: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    env.update(
        {
            "GLL_MAIL_ENV": "test",
            "GLL_MAIL_DATABASE_URL": database_url,
            "GLL_MAIL_BASE_URL": settings.base_url,
            "GLL_MAIL_SECRET_KEYS": settings.secret_keys[0],
            "GLL_MAIL_CAMPAIGNS_DIR": str(settings.campaigns_dir),
            "GLL_MAIL_TEMPLATES_DIR": str(settings.templates_dir),
            "GLL_MAIL_WEBHOOK_TIMEOUT_SECONDS": "0.3",  # a dead sender's lease: 0.9 s
        }
    )
    env.update({f"GLL_MAIL_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def queue(engine, settings, url: str, count: int) -> tuple[str, list[str]]:
    with Session(engine) as session:
        endpoint = hooks.add_endpoint(session, settings, COMMAND_LINE, url, "subscriber.created")
        session.commit()
        secret = endpoint.secret
    with engine.begin() as connection:
        ids = emit_webhooks(
            connection, "subscriber.created", [({"subscriber": {"id": f"m{i}"}}, None) for i in range(count)]
        )
    return secret, ids


def statuses(engine) -> Counter:
    with Session(engine) as session:
        return Counter(session.exec(select(WebhookDelivery.status)))


@pytest.mark.slow
def test_kill_9_mid_delivery_loses_nothing_and_ids_de_duplicate(any_engine, settings):
    engine = any_engine
    url = engine.url.render_as_string(hide_password=False)
    with Receiver(hang_on={12}) as receiver:  # the 12th POST never gets an answer: the sender is stuck in it
        secret, ids = queue(engine, settings, receiver.url, 30)
        env = env_for(settings, url, webhook_timeout_seconds=2)  # a dead sender's rows wait 6 s (its lease)
        proc = subprocess.Popen(
            [GLL_MAIL, "webhooks", "deliver"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: len(receiver.received) >= 12)
        proc.kill()  # SIGKILL mid-POST: no clean-up at all
        proc.wait()
        assert statuses(engine)["delivered"] == 11
        assert deliver_due(engine, settings).tried == 0  # the rest waits for the dead sender's lease
        runs = []

        def run_again() -> bool:
            out = subprocess.run([GLL_MAIL, "webhooks", "deliver"], env=env, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            runs.append(out.stdout)
            return statuses(engine)["delivered"] == 30

        wait_for(run_again)
        got = receiver.events(secret)  # every signature verified
    assert statuses(engine) == Counter({"delivered": 30})
    received = Counter(message_id for message_id, _ in got)
    assert set(received) == set(ids)  # every event arrived …
    assert sum(received.values()) - len(received) == 1  # … only the one in flight twice, with the same id
    assert len(dict(got)) == 30  # what a receiver keeps after de-duplicating on webhook-id


@pytest.mark.slow
def test_the_worker_sends_webhooks(engine, settings, smtp_server):
    with Receiver() as receiver:
        secret, ids = queue(engine, settings, receiver.url, 5)
        env = env_for(settings, settings.database_url, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")
        proc = subprocess.Popen(
            [GLL_MAIL, "worker", "--poll", "0.1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: len(receiver.received) >= 5)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        assert {message_id for message_id, _ in receiver.events(secret)} == set(ids)
    assert statuses(engine) == Counter({"delivered": 5})


def test_the_webhooks_commands(runner, engine, settings):
    with Receiver() as receiver:
        added = runner.invoke(main, ["webhooks", "add", receiver.url, "--events", "pod.joined,pod.left"])
        assert added.exit_code == 0, added.output
        secret = added.output.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        listed = runner.invoke(main, ["webhooks", "list"])
        public_id = listed.output.splitlines()[0].split("\t")[0]
        assert receiver.url in listed.output and "pod.joined,pod.left" in listed.output and secret not in listed.output
        assert runner.invoke(main, ["webhooks", "test", public_id]).exit_code == 0
        delivered = runner.invoke(main, ["webhooks", "deliver"])
        assert delivered.output.strip() == "1 delivered, 0 to retry later, 0 given up."
        log = runner.invoke(main, ["webhooks", "deliveries"])
        assert "webhook.test" in log.output and "delivered" in log.output and "204" in log.output
        rotated = runner.invoke(main, ["webhooks", "rotate-secret", public_id])
        assert rotated.output.strip().splitlines()[-1] not in (secret, "")
        bad = runner.invoke(main, ["webhooks", "add", "ftp://x.example/", "--events", "all"])
        assert bad.exit_code != 0 and "http:// or https://" in bad.output
        unknown = runner.invoke(main, ["webhooks", "add", receiver.url, "--events", "pod.joined,nope"])
        assert unknown.exit_code != 0 and "unknown event 'nope'" in unknown.output
        assert runner.invoke(main, ["webhooks", "remove", public_id]).exit_code == 0
        assert "No webhook endpoints" in runner.invoke(main, ["webhooks", "list"]).output
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["webhook.add", "webhook.test", "webhook.rotate-secret", "webhook.remove"]
