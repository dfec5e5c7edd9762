"""Benchmark: a whole campaign sent end to end — enqueue, render, headers, SMTP, ledger — messages per second.

A fresh database (SQLite in a temp folder, or ``--database URL``) gets ``--subscribers`` members and
a campaign with personalization, three gated links and every bulk-sender header. An SMTP sink runs
in a separate process (Postfix's ``smtp-sink`` when installed, else an aiosmtpd sink). The run
measures the enqueue (``INSERT … SELECT``), then the drain until the campaign is ``sent`` (every
delivery recorded in the database).

In the same run, on the same sink:
- the naive baseline: a loop of ``smtplib`` + ``EmailMessage`` per recipient (same rendered content);
- the same engine with DKIM (RSA-2048) on, on a second campaign to as many members (``--dkim-subscribers``).

Last line: JSON ``{"subscribers", "msgs_per_s", "baseline_msgs_per_s", "ratio", "dkim_msgs_per_s",
"enqueue_s", "peak_rss_mb", "database"}`` (plus a few details: ``peak_total_mb`` is the memory of the
sending process and its helpers or workers together, sampled during the main run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from gll_mail.campaigns.render import CampaignRenderer, Recipient  # noqa: E402
from gll_mail.campaigns.sources import load_source  # noqa: E402
from gll_mail.db import make_engine, migrate  # noqa: E402
from gll_mail.delivery.control import launch, prepare  # noqa: E402
from gll_mail.delivery.drainer import Drainer  # noqa: E402
from gll_mail.delivery.outbox import summary  # noqa: E402
from gll_mail.demo.data import seed_catalog  # noqa: E402
from gll_mail.models import Subscriber, utcnow  # noqa: E402
from gll_mail.settings import Settings  # noqa: E402

BODY = """{{ salutation }}

Thank you, {{ subscriber.name }}, for your part in the co-development call. The
[co-development call synthesis report](resource:codevelopment-synthesis-report) is out, with the
[scoping report on compassion and quality of care](resource:compassion-scoping-report) and its
[tools and resources](resource:compassion-tools).

You can [manage your subscription](manage:) at any time.
"""
NAMES = ["Amina Haddad", "Wei Zhang", "Olga Petrova", "Carlos García", "", "Jean Dubois", "Priya Sharma"]
SINK_SCRIPT = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
"""


class TreeMemory:
    """Samples the memory of this process and all its descendants (workers, render helpers; the
    sink is excluded) every ``interval`` seconds; ``peak_mb`` is the largest sum seen. PSS from
    /proc/PID/smaps_rollup counts shared pages once; RSS where that file is missing."""

    def __init__(self, exclude: set[int], interval: float = 0.25) -> None:
        import threading

        self.exclude, self.interval, self.peak_mb = exclude, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [os.getpid()]
        while todo:
            pid = todo.pop()
            if pid not in self.exclude:
                found.append(pid)
                todo.extend(children.get(pid, []))
        return found

    @staticmethod
    def _kb(pid: int) -> int:
        for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(path) as fh:
                    for line in fh:
                        if line.startswith(key):
                            return int(line.split()[1])
            except OSError:
                continue
        return 0

    def _run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, sum(self._kb(pid) for pid in self._tree()) / 1024)


class CpuMeter:
    """Machine-wide CPU time while the block runs, from /proc/stat: ``busy_s`` (every core, all
    processes: ours, the sink, the database) and ``busy_share`` of the cores' capacity. Per message,
    it is the cost that does not depend on how loaded the shared machine's host is."""

    busy_s = 0.0
    busy_share = 0.0

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq = fields[:7]  # steal (not ours to use) left out
        busy = user + nice + system + irq + softirq
        return busy, busy + idle + iowait

    def __enter__(self) -> CpuMeter:
        self._start = self._read() if os.path.exists("/proc/stat") else None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is None:
            return
        busy, total = self._read()
        ticks = os.sysconf("SC_CLK_TCK")
        self.busy_s = (busy - self._start[0]) / ticks
        self.busy_share = (busy - self._start[0]) / max(1, total - self._start[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink() -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    binary = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)
    if binary:
        args = [binary, "-u", "nobody"] if os.geteuid() == 0 else [binary]
        proc = subprocess.Popen(
            args + [f"127.0.0.1:{port}", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        kind = "postfix smtp-sink"
    else:
        proc = subprocess.Popen(
            [sys.executable, "-c", SINK_SCRIPT, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()
        kind = "aiosmtpd sink"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, port, kind


def add_subscribers(engine, count: int, start: int = 0) -> None:
    now = utcnow()
    langs = ["en"] * 4 + ["fr", "es"]
    step = 20_000
    for offset in range(start, start + count, step):
        rows = [
            {
                "public_id": secrets.token_urlsafe(16),
                "email": f"member{i:07d}@example.org",
                "name": NAMES[i % 7],
                "language": langs[i % len(langs)],
                "country": "",
                "organization": "",
                "role": "",
                "status": "active",
                "paused": False,
                "consent_source": "bench",
                "created_at": now,
                "updated_at": now,
                "attributes": {},
            }
            for i in range(offset, min(offset + step, start + count))
        ]
        with engine.begin() as connection:
            connection.execute(insert(Subscriber.__table__), rows)


def campaign_source(folder: Path, slug: str, audience: str) -> Path:
    path = folder / f"{slug}.md"
    path.write_text(
        f'---\nslug: {slug}\nkind: report-release\nsubject: "Reports on compassion, '
        f"{{{{ subscriber.name or 'colleague' }}}}\"\naudience:\n  {audience}\n---\n\n{BODY}",
        encoding="utf-8",
    )
    return path


def drain(engine, settings, campaign_id: int) -> float:
    started = time.perf_counter()
    asyncio.run(Drainer(engine, settings, campaign_ids=[campaign_id]).run(until_idle=True, poll=0.1))
    return time.perf_counter() - started


def baseline(settings, engine, source_path: Path, port: int, count: int) -> float:
    """The naive way: per recipient render, build an EmailMessage, and send it with smtplib."""
    with Session(engine) as session:
        renderer = CampaignRenderer(settings, session, load_source(source_path), None)
        people = session.execute(
            text("SELECT public_id, email, name, language FROM subscriber ORDER BY id LIMIT :n"), {"n": count}
        ).all()
    started = time.perf_counter()
    for public_id, email, name, language in people:
        rendered = renderer.render(Recipient(public_id, email, name, language, ()))
        message = EmailMessage()
        message["From"] = settings.from_address
        message["To"] = email
        message["Subject"] = rendered.subject
        message["List-Id"] = settings.list_id
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--dkim-subscribers",
        type=int,
        default=0,
        help="recipients of the DKIM run (default: as many as --subscribers, so both runs "
        "carry the same start-up costs)",
    )
    parser.add_argument("--baseline", type=int, default=2_000, help="recipients of the naive smtplib loop")
    parser.add_argument("--database", default="", help="a PostgreSQL URL (default: SQLite in a temp folder)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="drain with this many worker processes")
    parser.add_argument(
        "--render-processes",
        type=int,
        default=-1,
        help="GLL_MAIL_RENDER_PROCESSES of each worker (-1: automatic, 0: render in the sender)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gll-bench-send-"))
    database = args.database or f"sqlite:///{workdir / 'bench.db'}"
    sink, port, sink_kind = start_sink()
    try:
        settings = Settings(
            env="test",
            database_url=database,
            base_url="https://gll.example.org",
            secret_keys=("bench-key-" + "x" * 40,),
            smtp_url=f"smtp://127.0.0.1:{port}",
            campaigns_dir=workdir / "campaigns",
            templates_dir=REPO / "templates" / "emails",
            resources_dir=workdir / "resources",
            smtp_connections=args.connections,
            render_processes=args.render_processes,
        )
        settings.campaigns_dir.mkdir()
        if not database.startswith("sqlite"):
            create_postgres_database(database)
        engine = make_engine(database)
        if not database.startswith("sqlite"):
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        migrate(engine)
        with Session(engine) as session:
            seed_catalog(session, settings.resources_dir)
            session.commit()
        add_subscribers(engine, args.subscribers)
        main_path = campaign_source(settings.campaigns_dir, "bench", "all: true")
        campaign = prepare(engine, settings, load_source(main_path))

        with TreeMemory(exclude={sink.pid}) as memory, CpuMeter() as cpu:
            started = time.perf_counter()
            launch(engine, campaign.id)
            enqueue_s = time.perf_counter() - started
            if args.workers > 1:
                drain_s = drain_with_processes(settings, campaign.id, args.workers)
            else:
                drain_s = drain(engine, settings, campaign.id)
            total_s = time.perf_counter() - started
        figures = summary(engine, campaign.id)
        assert figures.sent == args.subscribers and figures.status == "sent", figures

        # DKIM: the same engine, RSA-2048, on a second campaign over the first --dkim-subscribers members.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(65537, 2048)
        key_path = workdir / "dkim.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        dkim_settings = settings.replace(dkim_key_file=str(key_path), dkim_selector="bench", dkim_domain="who.int")
        dkim_count = min(args.dkim_subscribers or args.subscribers, args.subscribers)
        with engine.begin() as connection:
            connection.execute(text("UPDATE subscriber SET role = 'dkim' WHERE id <= :n"), {"n": dkim_count})
        dkim_path = campaign_source(settings.campaigns_dir, "bench-dkim", "all: true")
        dkim_campaign = prepare(engine, dkim_settings, load_source(dkim_path))
        with engine.begin() as connection:  # the audience spec cannot say "role"; enqueue exactly those members
            connection.execute(text("UPDATE subscriber SET paused = (role <> 'dkim')"))
        with CpuMeter() as dkim_cpu:
            started = time.perf_counter()
            launch(engine, dkim_campaign.id)
            drain(engine, dkim_settings, dkim_campaign.id)
        dkim_rate = dkim_count / (time.perf_counter() - started)
        with engine.begin() as connection:
            connection.execute(text("UPDATE subscriber SET paused = false"))

        baseline_rate = baseline(settings, engine, main_path, port, min(args.baseline, args.subscribers))
        rate = args.subscribers / total_s
        peak_rss_mb = (
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            / 1024
        )  # sink excluded: not ours
        result = {
            "subscribers": args.subscribers,
            "msgs_per_s": round(rate),
            "baseline_msgs_per_s": round(baseline_rate),
            "ratio": round(rate / baseline_rate, 2),
            "dkim_msgs_per_s": round(dkim_rate),
            "enqueue_s": round(enqueue_s, 2),
            "peak_rss_mb": round(peak_rss_mb),  # the largest single process
            "peak_total_mb": round(memory.peak_mb),  # all of ours together (PSS), during the main run
            "database": engine.url.get_backend_name(),
            "drain_s": round(drain_s, 2),
            "dkim_cost": round(1 - dkim_rate / rate, 3),
            # CPU of the whole machine per message, and how busy its cores were (1.0: saturated)
            "cpu_ms_per_msg": round(cpu.busy_s * 1000 / args.subscribers, 3),
            "dkim_cpu_ms_per_msg": round(dkim_cpu.busy_s * 1000 / dkim_count, 3),
            "cpu_busy": round(cpu.busy_share, 2),
            "dkim_cpu_busy": round(dkim_cpu.busy_share, 2),
            "connections": args.connections,
            "workers": args.workers,
            "render_processes": args.render_processes,
            "sink": sink_kind,
        }
        engine.dispose()
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))


def create_postgres_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = make_engine(
        target.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        if not connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).scalar():
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _worker_process(settings: Settings, campaign_id: int) -> None:
    engine = make_engine(settings.database_url)
    asyncio.run(Drainer(engine, settings, campaign_ids=[campaign_id]).run(until_idle=True, poll=0.1))


def drain_with_processes(settings: Settings, campaign_id: int, workers: int) -> float:
    import multiprocessing

    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker_process, args=(settings, campaign_id)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
