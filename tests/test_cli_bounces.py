"""`gll-mail bounces receive` as a real server, a real SMTP client; scan, retry, suppressions via CLI."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import TEST_KEY
from sqlmodel import select
from test_bounces import CORPUS, seed

from gll_mail.cli import main
from gll_mail.models import InboundMessage, Subscriber
from gll_mail.tokens import make_verp_token

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GLL_MAIL_DATABASE_URL=settings.database_url,
        GLL_MAIL_SECRET_KEYS=TEST_KEY,
        GLL_MAIL_ENV="test",
        GLL_MAIL_BOUNCE_DOMAIN=settings.bounce_domain,
    )
    return env


def test_receive_end_to_end_over_smtp(engine, settings, session, runner):
    deliveries = seed(session)
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gll-mail"), "bounces", "receive", "--port", str(port)],
        env=_env(settings),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        token = make_verp_token(settings, deliveries["li.wei@example.edu"].id)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(
                "",
                [f"bounces+{token}@{settings.bounce_domain}"],
                (CORPUS / "sendmail-dsn.eml").read_bytes().replace(b"\n", b"\r\n"),
            )
            # addresses outside the bounce domain are refused
            try:
                client.sendmail("", ["someone@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")
                raise AssertionError("relay accepted")
            except smtplib.SMTPRecipientsRefused:
                pass
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    session.expire_all()
    row = session.exec(select(InboundMessage)).one()
    assert row.source == "smtp" and row.status == "processed" and row.kind == "hard"
    assert token in row.envelope_to
    assert session.exec(select(Subscriber).where(Subscriber.email == "li.wei@example.edu")).one().status == "bounced"

    out = runner.invoke(main, ["subscribers", "show", "li.wei@example.edu"])
    assert out.exit_code == 0, out.output
    assert "bounce-hard" in out.output and "5.1.1" in out.output


def test_cli_scan_retry_and_suppressions(engine, settings, session, tmp_path, runner):
    seed(session)
    mbox = tmp_path / "bounces.mbox"
    mbox.write_bytes(b"From MAILER-DAEMON Sun Nov 22 10:00:00 2026\n" + (CORPUS / "gmail-nosuchuser.eml").read_bytes())
    out = runner.invoke(main, ["bounces", "scan", str(mbox)])
    assert out.exit_code == 0, out.output
    assert "1 new" in out.output and "hard 1" in out.output
    out = runner.invoke(main, ["bounces", "scan", str(mbox)])
    assert "0 new, 1 already processed" in out.output
    out = runner.invoke(main, ["bounces", "retry"])
    assert "0 processed, 0 still failing" in out.output
    out = runner.invoke(main, ["suppressions", "list"])
    assert "priya.nair@gmail.example\thard-bounce\tbounce" in out.output
    out = runner.invoke(main, ["suppressions", "add", "x@example.org"])
    assert out.exit_code == 2 and "--reason" in out.output  # the why is required, as in the console
    out = runner.invoke(main, ["suppressions", "add", "x@example.org", "--reason", "asked by phone"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["suppressions", "remove", "priya.nair@gmail.example"])
    assert out.exit_code == 2 and "--reason" in out.output
    out = runner.invoke(main, ["suppressions", "remove", "priya.nair@gmail.example", "--reason", "bounce was a fluke"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["audit"])
    assert "suppression.add" in out.output and "asked by phone" in out.output
    assert "suppression.remove" in out.output and "bounce was a fluke" in out.output
    out = runner.invoke(main, ["suppressions", "list"])
    assert "x@example.org\tmanual" in out.output and "priya" not in out.output
    out = runner.invoke(main, ["subscribers", "show", "priya.nair@gmail.example"])  # the decisions, by hand too
    assert "bounce-hard" in out.output and "unsuppressed" in out.output and "cli" in out.output
