"""End to end: `gll-mail demo --no-serve` in a real subprocess, checked on the .eml files the real
SMTP server received and on the database it left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, TEST_KEY
from sqlmodel import select

from gll_mail.db import make_engine, session_scope
from gll_mail.models import Campaign, Delivery, Subscriber
from gll_mail.settings import Settings
from gll_mail.tokens import read_token

GLL_MAIL = Path(sys.executable).with_name("gll-mail")


def _run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    env.update(
        GLL_MAIL_DATABASE_URL=f"sqlite:///{tmp_path / 'subscribers.db'}",
        GLL_MAIL_CAMPAIGNS_DIR=str(REPO / "campaigns"),
        GLL_MAIL_TEMPLATES_DIR=str(REPO / "templates" / "emails"),
        GLL_MAIL_RESOURCES_DIR=str(tmp_path / "resources"),
        GLL_MAIL_SECRET_KEYS=TEST_KEY,
        COLUMNS="200",
    )
    return subprocess.run(
        [str(GLL_MAIL), "demo", "--no-serve", "--members", "60", "--outbox", str(tmp_path / "outbox"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    proc = _run_demo(tmp_path, "--fresh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    messages = [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted((tmp_path / "outbox").glob("*.eml"))
    ]
    return tmp_path, proc, messages


def _by_subject(messages, prefix: str):
    return [m for m in messages if str(m["Subject"]).startswith(prefix)]


def test_demo_sends_both_campaigns_to_a_real_smtp_server(demo_run):
    tmp_path, proc, messages = demo_run
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    with session_scope(engine) as session:
        campaigns = {c.slug: c for c in session.exec(select(Campaign))}
        sent = {
            slug: len(
                session.exec(select(Delivery).where(Delivery.campaign_id == c.id, Delivery.status == "sent")).all()
            )
            for slug, c in campaigns.items()
        }
        assert {c.status for c in campaigns.values()} == {"sent"}
    engine.dispose()
    assert set(campaigns) == {"2019-06-compassion-reports", "2019-06-18-corrigendum"}
    assert sent["2019-06-compassion-reports"] > 0 and sent["2019-06-18-corrigendum"] > 0
    assert len(messages) == sum(sent.values())
    assert f"{len(messages)} .eml files" in proc.stdout
    corrigenda = [m for m in messages if "orrigend" in str(m["Subject"]) or "Corrigendum" in str(m["Subject"])]
    assert corrigenda, [str(m["Subject"]) for m in messages][:5]


def test_every_demo_message_is_complete_and_has_live_links(demo_run):
    _tmp, _proc, messages = demo_run
    for msg in messages:
        assert msg["List-Unsubscribe"] and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"] and msg["Message-ID"] and msg["Date"] and len(msg.get_all("To")) == 1
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert "{{" not in html and "](" not in text and "TODO" not in html
        assert re.search(r'href="https?://[^"]+/r/[^"]+"', html), "no gated link in the HTML part"
        assert re.search(r"https?://\S+/u/\S+", text) or re.search(r"https?://\S+/m/\S+", text)


def test_a_gated_link_in_a_demo_email_names_its_member(demo_run):
    tmp_path, _proc, messages = demo_run
    settings = Settings(env="test", secret_keys=(TEST_KEY,))
    msg = _by_subject(messages, "")[0]
    html = msg.get_body(("html",)).get_content()
    href = re.search(r'href="(https?://[^"]+/r/[^"]+)"', html).group(1)
    data = read_token(settings, "gate", urlsplit(href).path.rsplit("/", 1)[1])
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    with session_scope(engine) as session:
        member = session.exec(select(Subscriber).where(Subscriber.public_id == data.subject)).one()
    engine.dispose()
    assert member.email == msg["To"].addresses[0].addr_spec


def test_demo_prints_a_gated_link_and_refuses_to_wipe_real_members(demo_run, tmp_path):
    _tmp, proc, _messages = demo_run
    assert re.search(r"Gated link of \S+@members\.gll-demo\.org", proc.stdout)
    link = re.search(r"https?://\S+/r/(\S+)", proc.stdout)
    from gll_mail.settings import Settings
    from gll_mail.tokens import read_token

    data = read_token(Settings(secret_keys=(TEST_KEY,)), "gate", link.group(1))
    assert data.extra["r"] == "codevelopment-synthesis-report" and isinstance(data.extra["c"], int)  # as mailed
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    from gll_mail.db import migrate

    migrate(engine)
    with session_scope(engine) as session:
        session.add(Subscriber(email="real.person@who.int"))
    engine.dispose()
    refused = _run_demo(tmp_path, "--fresh")
    assert refused.returncode != 0
    assert "refusing to delete" in refused.stderr + refused.stdout
    assert (tmp_path / "subscribers.db").exists()


def test_demo_sends_only_its_own_campaigns_not_drafts_beside_them(runner, tmp_path, monkeypatch):
    import shutil

    from gll_mail.cli import main

    folder = tmp_path / "campaigns"
    shutil.copytree(REPO / "campaigns", folder)
    draft = (folder / "2019-06-compassion-reports.md").read_text(encoding="utf-8")
    (folder / "team-draft.md").write_text(
        draft.replace("slug: 2019-06-compassion-reports", "slug: team-draft"), encoding="utf-8"
    )
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(folder))
    result = runner.invoke(main, ["demo", "--fresh", "--no-serve", "--members", "5", "--outbox", "outbox"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")
    with session_scope(engine) as session:
        slugs = {c.slug for c in session.exec(select(Campaign))}
    engine.dispose()
    assert slugs == {"2019-06-compassion-reports", "2019-06-18-corrigendum"}
    assert "team-draft" not in result.output


def test_a_busy_port_names_the_option_before_anything_is_sent(runner, tmp_path):
    import socket

    from gll_mail.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(main, ["demo", "--fresh", "--port", str(port), "--outbox", "outbox"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"cannot serve the demo on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output and "make demo PORT=5001" in result.output
    assert not (tmp_path / "outbox").exists() and not (tmp_path / "subscribers.db").exists()


def test_make_demo_passes_port_on():
    def dry_run(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "-C", str(REPO), "demo", *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout

    assert "gll-mail demo --fresh --port 5001" in dry_run("PORT=5001")
    assert "gll-mail demo --fresh\n" in dry_run()
