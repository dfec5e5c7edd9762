"""Benchmark: gated-link clicks per second under gunicorn (`gll-mail serve`), with a static Flask "hello" ceiling.

A fresh SQLite database in a temp folder gets ``--members`` registered members (a fifth of them in
the compassion pod) and the GLL catalog plus one URL resource. The load generator is ``wrk`` on
loopback (installed with apt-get when missing), cycling through one signed gated link per member:
every request verifies the token, reads the member, decides, records a click event (one INSERT and
a commit) and answers the redirect. In the same run, with the same worker count and wrk settings,
a minimal Flask app answering "hello" from one route under gunicorn gives the ceiling.

Last line: JSON ``{"req_per_s", "p50_ms", "p99_ms", "hello_req_per_s", "hello_p99_ms", "ratio",
"non_2xx_3xx", "workers", "connections", "seconds", "target_req_per_s", "target_p99_ms"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from gll_mail import links  # noqa: E402
from gll_mail.db import make_engine, migrate  # noqa: E402
from gll_mail.demo.data import seed_catalog  # noqa: E402
from gll_mail.models import Pod, PodMembership, Resource, Subscriber, utcnow  # noqa: E402
from gll_mail.settings import Settings  # noqa: E402

KEY = secrets.token_urlsafe(48)
HELLO_APP = """
from flask import Flask
app = Flask(__name__)

@app.get("/hello")
def hello():
    return "hello"
"""
LUA = """
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  counter = math.random(#paths)
end
request = function()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("WRKJSON {\\"requests\\": %d, \\"seconds\\": %f, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), bad))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk with apt-get …", file=sys.stderr)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=False,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_wrk(
    wrk: str, url: str, paths_file: Path, script: Path, seconds: int, connections: int, threads: int, *extra: str
) -> dict:
    out = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
            str(paths_file),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not match:
        raise SystemExit(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    figures = json.loads(match.group(1))
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    figures["non_2xx_3xx"] = int(non_ok.group(1)) if non_ok else 0
    figures["req_per_s"] = figures["requests"] / figures["seconds"]
    return figures


def seed(database_url: str, resources_dir: Path, members: int, settings: Settings) -> list[str]:
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        seed_catalog(session, resources_dir)
        session.add(
            Resource(
                slug="quality-handbook",
                title="Handbook for national quality policy",
                url="https://www.who.int/publications/i/item/9789241565561",
                access="registered",
            )
        )
        session.commit()
        now = utcnow()
        rows = [
            {
                "public_id": secrets.token_urlsafe(16),
                "email": f"m{i:06d}@example.org",
                "name": f"Member {i}",
                "language": "en",
                "country": "",
                "organization": "",
                "role": "",
                "status": "active",
                "paused": False,
                "registered_at": now,
                "consent_source": "bench",
                "created_at": now,
                "updated_at": now,
                "attributes": {},
            }
            for i in range(members)
        ]
        session.execute(insert(Subscriber.__table__), rows)
        pod_id = session.exec(select(Pod.id).where(Pod.slug == "compassion")).one()
        ids = session.exec(select(Subscriber.id).order_by(Subscriber.id)).all()
        session.execute(
            insert(PodMembership.__table__),
            [{"subscriber_id": i, "pod_id": pod_id, "joined_at": now} for i in ids[::5]],
        )
        session.commit()
    engine.dispose()
    prefix = settings.base_url.rstrip("/")
    return [links.gate_url(settings, r["public_id"], "quality-handbook")[len(prefix) :] for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    args = parser.parse_args()
    wrk = ensure_wrk()
    gll = Path(sys.executable).parent / "gll-mail"
    with tempfile.TemporaryDirectory(prefix="gll-bench-web-") as tmp:
        folder = Path(tmp)
        port, hello_port = free_port(), free_port()
        settings = Settings(
            env="development",
            database_url=f"sqlite:///{folder / 'web.db'}",
            secret_keys=(KEY,),
            base_url=f"http://127.0.0.1:{port}",
            resources_dir=folder / "resources",
        )
        paths = seed(settings.database_url, settings.resources_dir, args.members, settings)
        paths_file = folder / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        hello_paths = folder / "hello.txt"
        hello_paths.write_text("/hello\n")
        script = folder / "wrk.lua"
        script.write_text(LUA)
        (folder / "hello_app.py").write_text(HELLO_APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
        env.update(
            GLL_MAIL_ENV="development",
            GLL_MAIL_DATABASE_URL=settings.database_url,
            GLL_MAIL_SECRET_KEYS=KEY,
            GLL_MAIL_BASE_URL=settings.base_url,
            GLL_MAIL_RESOURCES_DIR=str(settings.resources_dir),
            GLL_MAIL_WEB_RATE_LIMIT="0",
        )
        results = {}
        servers = {
            "hello": (
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-w",
                    str(args.workers),
                    "-b",
                    f"127.0.0.1:{hello_port}",
                    "--no-control-socket",
                    "--chdir",
                    str(folder),
                    "hello_app:app",
                ],
                hello_port,
                "/hello",
                hello_paths,
            ),
            "gated": (
                [str(gll), "serve", "--port", str(port), "--workers", str(args.workers)],
                port,
                "/healthz",
                paths_file,
            ),
        }
        for name, (command, server_port, probe, plist) in servers.items():
            proc = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                base = f"http://127.0.0.1:{server_port}"
                wait_ready(base + probe)
                run_wrk(wrk, base, plist, script, 2, args.connections, args.threads)  # warm-up
                results[name] = run_wrk(wrk, base, plist, script, args.seconds, args.connections, args.threads)
            finally:
                stop(proc)
        engine = make_engine(settings.database_url)
        from gll_mail.models import Event

        with Session(engine) as session:
            clicks = session.exec(select(func.count()).select_from(Event)).one()
        engine.dispose()
    gated, hello = results["gated"], results["hello"]
    print(
        f"gated links: {gated['req_per_s']:.0f} req/s, p50 {gated['p50_us'] / 1000:.1f} ms, "
        f"p99 {gated['p99_us'] / 1000:.1f} ms ({gated['non_2xx_3xx']} non-2xx/3xx, {clicks} click events)"
    )
    print(f"hello ceiling: {hello['req_per_s']:.0f} req/s, p99 {hello['p99_us'] / 1000:.1f} ms")
    print(
        json.dumps(
            {
                "req_per_s": round(gated["req_per_s"]),
                "p50_ms": round(gated["p50_us"] / 1000, 2),
                "p99_ms": round(gated["p99_us"] / 1000, 2),
                "hello_req_per_s": round(hello["req_per_s"]),
                "hello_p99_ms": round(hello["p99_us"] / 1000, 2),
                "ratio": round(gated["req_per_s"] / hello["req_per_s"], 3),
                "non_2xx_3xx": gated["non_2xx_3xx"],
                "errors": gated["errors"],
                "click_events": clicks,
                "workers": args.workers,
                "connections": args.connections,
                "seconds": args.seconds,
                "target_req_per_s": 1500,
                "target_p99_ms": 25,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
