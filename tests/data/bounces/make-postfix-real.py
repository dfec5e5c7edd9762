"""Make the postfix-real-*.eml DSNs with a private, throw-away Postfix instance.

    # as root (Postfix's master runs as root), from the repository:
    .venv/bin/python tests/data/bounces/make-postfix-real.py [OUTDIR]   # default: this directory

A Postfix with its own config, queue and data directories in a fresh /tmp/gll-postfix-* (myhostname
mx.gll-test.example, SMTP only on 127.0.0.1) takes three campaign-like messages from
bounces@bounces.gll-test.example and relays them to a next hop made here with aiosmtpd on
127.0.0.1, which answers RCPT with 550 5.1.1 (unknown user), with 452 4.2.2 for 40 s and then 250
(mailbox full, then emptied), or always with 452 4.2.2 (mailbox full for good; with
delay_warning_time 20 s and maximal_queue_lifetime 75 s the message expires). The DSNs Postfix
itself writes go back to the envelope sender, a Maildir of Postfix's virtual(8) agent, and are
copied to OUTDIR unchanged: user-unknown, delayed (the warning about the second message) and
expired. The third message's own delay warning is not kept. Takes about 90 s; the instance is
stopped and its directory removed (KEEP=1 keeps it, with its maillog). /etc/postfix is not used.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path

from aiosmtpd.controller import Controller

SENDER = "bounces@bounces.gll-test.example"
UNKNOWN = ("nadia.haddad@example.com", "<d10.gll-test@gll.who.int>")
SLOW = ("tomas.novak@example.net", "<d11.gll-test@gll.who.int>")
FULL = ("akosua.mensah@example.org", "<d12.gll-test@gll.who.int>")
ACCEPT_AFTER = 40  # seconds SLOW's mailbox stays full

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {work}/queue
data_directory = {work}/data
maillog_file_prefixes = {work}
maillog_file = {work}/maillog
myhostname = mx.gll-test.example
mydomain = gll-test.example
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
biff = no
smtp_dns_support_level = disabled
default_transport = smtp:[127.0.0.1]:{next_hop}
virtual_mailbox_domains = bounces.gll-test.example
virtual_mailbox_base = {work}/mail
virtual_mailbox_maps = inline:{{ {sender}=Maildir/ }}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
delay_warning_time = 20s
maximal_queue_lifetime = 75s
bounce_queue_lifetime = 75s
"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class NextHop:
    """The recipients' MX: refuses, defers or accepts each RCPT."""

    def __init__(self) -> None:
        self.first_try: dict[str, float] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        addr = address.lower()
        if addr == UNKNOWN[0]:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        first = self.first_try.setdefault(addr, time.monotonic())
        if addr == FULL[0] or (addr == SLOW[0] and time.monotonic() - first < ACCEPT_AFTER):
            return f"452 4.2.2 <{address}>: Mailbox full, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok: queued"


def campaign_message(to: str, message_id: str, n: int) -> bytes:
    """Shaped like gll_mail.campaigns.message.MessageBuilder output (plain text only, short)."""
    return (
        "From: GLL <news@gll-test.example>\r\n"
        "List-Id: GLL news <news.gll-test.example>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "Feedback-ID: nov-news:newsletter:gll:gll-mail\r\n"
        "Precedence: bulk\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=\"utf-8\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "Content-Language: en\r\n"
        "Subject: GLL newsletter\r\n"
        f"To: {to}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"List-Unsubscribe: <https://gll.example.org/u/test-token-{n}>,\r\n"
        f" <mailto:unsubscribe@bounces.gll-test.example?subject=unsubscribe%20test-token-{n}>\r\n"
        "\r\n"
        "Dear member,\r\n\r\nthe November news of the Global Learning Lab.\r\n"
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postfix(config: Path, *args: str) -> None:
    subprocess.run(["/usr/sbin/postfix", "-c", str(config), *args], check=True)


def wait_for(maildir: Path, wanted: dict[str, tuple[str, str]], found: dict[str, Path], timeout: float) -> None:
    """Fill ``found`` {name: file} with the DSN about each wanted (Message-ID, Action)."""
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted) and time.monotonic() < deadline:
        time.sleep(2)
        for path in sorted((maildir / "new").glob("*")):
            text = path.read_text("utf-8", "replace")
            for name, (mid, action) in wanted.items():
                if name not in found and f"Message-ID: {mid}" in text and f"\nAction: {action}\n" in text:
                    found[name] = path
    if len(found) < len(wanted):
        raise SystemExit(f"timed out; DSNs found: {sorted(found)}")


def main(outdir: Path) -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix's master(8) must start as root")
    version = subprocess.run(["/usr/sbin/postconf", "-h", "mail_version"], capture_output=True, text=True)
    print(f"Postfix {version.stdout.strip()}")
    work = Path(tempfile.mkdtemp(prefix="gll-postfix-", dir="/tmp"))
    work.chmod(0o755)  # the postfix and nobody users must reach their directories
    config = work / "etc"
    config.mkdir()
    for sub in ("queue", "data", "mail"):
        (work / sub).mkdir()
    shutil.chown(work / "data", "postfix")
    shutil.chown(work / "mail", 65534, 65534)
    port, next_hop = free_port(), free_port()
    (config / "main.cf").write_text(MAIN_CF.format(work=work, next_hop=next_hop, sender=SENDER))
    (config / "master.cf").write_text(MASTER_CF.format(port=port))
    hop = Controller(NextHop(), hostname="127.0.0.1", port=next_hop, server_hostname="mx.recipients.example")
    hop.start()
    started = False
    try:
        postfix(config, "start")
        started = True
        with smtplib.SMTP("127.0.0.1", port, local_hostname="campaign.gll-test.example") as smtp:
            for n, (to, mid) in enumerate((UNKNOWN, SLOW, FULL), start=10):
                smtp.sendmail(SENDER, [to], campaign_message(to, mid, n))
        found: dict[str, Path] = {}
        wait_for(work / "mail" / "Maildir", {"user-unknown": (UNKNOWN[1], "failed"),
                                             "delayed": (SLOW[1], "delayed"),
                                             "expired": (FULL[1], "failed")}, found, timeout=240)
        outdir.mkdir(parents=True, exist_ok=True)
        for name, path in found.items():
            target = outdir / f"postfix-real-{name}.eml"
            target.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
            print(target)
    finally:
        if started:
            postfix(config, "stop")
        hop.stop()
        if os.environ.get("KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
