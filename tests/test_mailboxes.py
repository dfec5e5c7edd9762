"""Maildir and mbox scans (idempotent re-runs), and IMAP against a real dovecot when installed."""

from __future__ import annotations

import mailbox
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import need
from sqlmodel import select
from test_bounces import CASES, CORPUS, as_delivered, seed
from tls_support import self_signed

from gll_mail.bounces.mailboxes import scan
from gll_mail.models import InboundMessage, Subscriber


def _fill(box, settings) -> None:
    for case in CASES:
        box.add(as_delivered(settings, case))
    box.flush()


def _check(session) -> None:
    statuses = {s.email: s.status for s in session.exec(select(Subscriber))}
    assert statuses["amina.diallo@example.org"] == "bounced"
    assert statuses["olga.ivanova@hotmail.example"] == "complained"
    assert statuses["joao.silva@yahoo.example"] == "active"  # one soft bounce only
    assert statuses["bystander@example.org"] == "active"


def test_maildir_scan_twice(engine, settings, session, tmp_path):
    seed(session)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    _fill(box, settings)
    first = scan(engine, settings, str(tmp_path / "Maildir"))
    assert (first.seen, first.stored, first.failed) == (len(CASES), len(CASES), 0)
    assert first.kinds["hard"] == 6 and first.kinds["complaint"] == 1 and first.kinds["auto-reply"] == 2
    assert first.kinds["soft"] == 4
    second = scan(engine, settings, str(tmp_path / "Maildir"))
    assert (second.stored, second.skipped) == (0, len(CASES))
    session.expire_all()
    assert len(session.exec(select(InboundMessage)).all()) == len(CASES)
    _check(session)


def test_big_maildir_scan_classifies_in_a_helper_process(engine, settings, session, tmp_path, monkeypatch):
    """Large scans store in batches and classify in a second process; the decisions are the same."""
    from gll_mail.bounces import mailboxes

    monkeypatch.setattr(mailboxes, "PARALLEL_FROM", 2)
    monkeypatch.setattr(mailboxes, "BATCH", 3)
    seed(session)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    _fill(box, settings)
    report = scan(engine, settings, str(tmp_path / "Maildir"))
    assert (report.seen, report.stored, report.failed) == (len(CASES), len(CASES), 0)
    assert report.kinds["hard"] == 6 and report.kinds["complaint"] == 1 and report.kinds["auto-reply"] == 2
    assert report.kinds["soft"] == 4
    session.expire_all()
    _check(session)


def test_repeated_bounces_in_one_batch_see_each_other(engine, settings, session, tmp_path):
    """One batch, one session: the third soft bounce counts the two before it, a second hard bounce
    finds the suppression the first made (one row, two events)."""
    from gll_mail.bounces.intake import SOFT_THRESHOLD
    from gll_mail.models import Campaign, Delivery, Event, EventType, Suppression
    from gll_mail.tokens import make_verp_token

    joao = seed(session)["joao.silva@yahoo.example"]
    deliveries = [joao]  # the same mailbox full, for three messages of three campaigns
    for n in range(1, SOFT_THRESHOLD):
        campaign = Campaign(slug=f"later-{n}", subject="GLL newsletter", status="sent")
        session.add(campaign)
        session.flush()
        deliveries.append(Delivery(campaign_id=campaign.id, subscriber_id=joao.subscriber_id, status="sent"))
        session.add(deliveries[-1])
    session.commit()
    soft = (CORPUS / "yahoo-mailbox-full.eml").read_bytes()
    softs = [
        f"Delivered-To: bounces+{make_verp_token(settings, d.id)}@{settings.bounce_domain}\n".encode() + soft
        for d in deliveries
    ]
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    hard = (CORPUS / "postfix-user-unknown.eml").read_bytes()
    for raw in softs + [hard] * 2:
        box.add(raw)
    report = scan(engine, settings, str(tmp_path / "Maildir"))
    assert (report.stored, report.failed) == (SOFT_THRESHOLD + 2, 0)
    session.expire_all()
    statuses = {s.email: s.status for s in session.exec(select(Subscriber))}
    assert statuses["joao.silva@yahoo.example"] == "bounced" and statuses["amina.diallo@example.org"] == "bounced"
    assert len(session.exec(select(Suppression)).all()) == 2
    kinds = [e.type for e in session.exec(select(Event))]
    assert kinds.count(EventType.BOUNCE_SOFT) == SOFT_THRESHOLD and kinds.count(EventType.BOUNCE_HARD) == 2
    assert kinds.count(EventType.SUPPRESSED) == 3  # soft threshold once, each hard bounce once


def test_a_failing_message_in_a_batch_is_kept_alone_for_retry(engine, settings, session, tmp_path, monkeypatch):
    from gll_mail.bounces import intake

    seed(session)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    _fill(box, settings)
    real_apply = intake.apply

    def flaky(session, settings, raw, *args, **kw):
        if b"amina.diallo" in raw:
            raise RuntimeError("database hiccup")
        return real_apply(session, settings, raw, *args, **kw)

    monkeypatch.setattr(intake, "apply", flaky)
    report = scan(engine, settings, str(tmp_path / "Maildir"))
    assert report.stored == len(CASES) and 0 < report.failed < len(CASES)
    session.expire_all()
    failed = session.exec(select(InboundMessage).where(InboundMessage.status == "failed")).all()
    assert len(failed) == report.failed and all("database hiccup" in row.error for row in failed)
    monkeypatch.setattr(intake, "apply", real_apply)
    assert intake.retry(engine, settings) == (report.failed, 0)
    session.expire_all()
    _check(session)


def test_mbox_scan_twice(engine, settings, session, tmp_path):
    seed(session)
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    _fill(box, settings)
    box.close()
    first = scan(engine, settings, str(tmp_path / "bounces.mbox"))
    assert first.stored == len(CASES) and first.failed == 0
    assert scan(engine, settings, str(tmp_path / "bounces.mbox")).stored == 0
    session.expire_all()
    _check(session)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["imap", "imaps"])
def dovecot(request, settings):
    """(URL scheme, port, CA file or None) of a real dovecot serving the corpus, in plain IMAP and in TLS."""
    tls = request.param == "imaps"
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if binary is None:
        need("dovecot not installed (apt-get install dovecot-imapd)")
    port = _free_port()
    import tempfile

    # unix socket paths are capped near 108 bytes: pytest's tmp_path under xdist is too deep for dovecot
    base = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
    (base / "run").mkdir(parents=True)
    maildir = base / "mail"
    import pwd

    pw = pwd.getpwuid(os.getuid())
    mail_uid, mail_gid, owned = pw.pw_uid, pw.pw_gid, None
    if pw.pw_uid == 0:  # dovecot never serves mail as uid 0: a world-traversable folder owned by dovecot
        dv = pwd.getpwnam("dovecot")
        owned = Path(tempfile.mkdtemp(prefix="gll-imap-"))
        owned.chmod(0o755)
        maildir = owned / "mail"
        mail_uid, mail_gid = dv.pw_uid, dv.pw_gid
    (base / "passwd").write_text(
        f"bounces:{{PLAIN}}secret:{mail_uid}:{mail_gid}::{maildir}::userdb_mail=maildir:{maildir}\n"
    )
    if pw.pw_uid == 0:  # dovecot's login processes refuse root: use the package's own users
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        # pytest's temp folders are private to root: let the auth processes read the passwd file
        auth_service = "service auth {\n  user = root\n}\nservice auth-worker {\n  user = root\n}"
    else:
        login_user = internal_user = internal_group = pw.pw_name
        auth_service = ""
    cert = None
    if tls:
        cert, key = self_signed(base)
        ssl_conf = f"ssl = required\nssl_cert = <{cert}\nssl_key = <{key}"
        listeners = (
            f"inet_listener imap {{\n    port = 0\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n"
            f"    port = {port}\n  }}"
        )
    else:
        ssl_conf = "ssl = no"
        listeners = (
            f"inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n"
            f"  inet_listener imaps {{\n    port = 0\n  }}"
        )
    conf = base / "dovecot.conf"
    conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
{ssl_conf}
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service imap-login {{
  {listeners}
}}
{auth_service}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
mail_location = maildir:{maildir}
""")
    (base / "state").mkdir()
    box = mailbox.Maildir(maildir, create=True)
    _fill(box, settings)
    if owned is not None:
        for root, dirs, files in os.walk(owned):
            for name in dirs + files + [""]:
                os.chown(os.path.join(root, name), mail_uid, mail_gid)
    errors = base / "start.err"
    with errors.open("w") as err:  # dovecot daemonizes: no pipes, or run() would wait for its children
        proc = subprocess.run(
            [binary, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=20
        )
    if proc.returncode != 0:
        need(f"dovecot did not start: {errors.read_text().strip()[:300]}")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                need("dovecot did not listen")
            time.sleep(0.1)
    yield request.param, port, cert
    subprocess.run(
        [binary, "-c", str(conf), "stop"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=20,
    )
    if owned is not None:
        shutil.rmtree(owned, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


def test_imap_scan_against_dovecot(engine, settings, session, dovecot, runner, monkeypatch):
    from gll_mail.bounces.mailboxes import MailboxError, scan_imap
    from gll_mail.cli import main

    seed(session)
    scheme, port, ca = dovecot
    url = f"{scheme}://bounces:secret@127.0.0.1:{port}/INBOX"
    if ca is not None:  # a certificate nobody vouches for: no password goes to it
        with pytest.raises(MailboxError, match="certificate is not trusted"):
            scan_imap(engine, settings, url, timeout=10)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the documented way to trust a private CA
    out = runner.invoke(main, ["bounces", "scan", url])
    assert out.exit_code == 0, out.output
    assert f"{len(CASES)} messages: {len(CASES)} new" in out.output
    second = scan_imap(engine, settings, url, timeout=10)  # processed messages are flagged and not fetched again
    assert second.seen == 0
    wrong = runner.invoke(main, ["bounces", "scan", url.replace(":secret@", ":wrong@")])
    assert wrong.exit_code == 1 and "refused the login of 'bounces'" in wrong.output
    session.expire_all()
    _check(session)
