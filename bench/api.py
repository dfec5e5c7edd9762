"""Benchmark: the REST API under gunicorn (`gll-mail serve`): ``GET /api/v1/subscribers/{id}`` against a
Flask "hello" in the same run, and bulk creation through ``POST /api/v1/subscribers/batch``.

A fresh SQLite database gets ``--members`` members and an API token (viewer for the reads, editor for
the batches). wrk cycles through one member URL per member with the bearer token; the same wrk
settings against a minimal Flask app under gunicorn with the same worker count give the ceiling.
Then ``--batches`` batches of ``--batch-size`` new members are POSTed one after another; the same
records written directly by the importer in this process give the bulk baseline.

Last line: JSON ``{"req_per_s", "p99_ms", "hello_req_per_s", "ratio", "target_ratio", "bulk_per_s",
"direct_per_s", "bulk_vs_direct", "bulk_vs_target", "non_2xx_3xx", "workers", "connections", "seconds"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from sqlmodel import Session, select  # noqa: E402
from web import HELLO_APP, KEY, ensure_wrk, free_port, run_wrk, seed, stop, wait_ready  # noqa: E402

from gll_mail.db import make_engine, session_scope  # noqa: E402
from gll_mail.importer import import_rows  # noqa: E402
from gll_mail.models import Subscriber  # noqa: E402
from gll_mail.settings import Settings  # noqa: E402
from gll_mail.spreadsheets import ImportReport, rows_from_records  # noqa: E402
from gll_mail.team.api_tokens import create_token  # noqa: E402
from gll_mail.team.audit import COMMAND_LINE  # noqa: E402

LUA = """
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
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
TARGET_RATIO = 0.5
TARGET_BULK = 1000


def records(start: int, count: int) -> list[dict]:
    return [
        {"email": f"bulk{i:07d}@example.org", "name": f"Bulk {i}", "country": "Kenya", "language": "fr"}
        for i in range(start, start + count)
    ]


def post_batch(base: str, token: str, batch: list[dict]) -> dict:
    request = urllib.request.Request(
        base + "/api/v1/subscribers/batch",
        data=json.dumps({"subscribers": batch}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    wrk = ensure_wrk()
    gll = Path(sys.executable).parent / "gll-mail"
    with tempfile.TemporaryDirectory(prefix="gll-bench-api-") as tmp:
        folder = Path(tmp)
        port, hello_port = free_port(), free_port()
        settings = Settings(
            env="development",
            database_url=f"sqlite:///{folder / 'api.db'}",
            secret_keys=(KEY,),
            base_url=f"http://127.0.0.1:{port}",
            resources_dir=folder / "resources",
        )
        seed(settings.database_url, settings.resources_dir, args.members, settings)
        engine = make_engine(settings.database_url)
        with session_scope(engine) as session:
            reader = create_token(session, COMMAND_LINE, "bench-read", "viewer")[1]
            writer = create_token(session, COMMAND_LINE, "bench-write", "editor")[1]
        with Session(engine) as session:
            ids = session.exec(select(Subscriber.public_id)).all()
        (folder / "paths.txt").write_text("".join(f"/api/v1/subscribers/{i}\n" for i in ids))
        (folder / "hello.txt").write_text("/hello\n")
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
            GLL_MAIL_API_RATE_LIMIT="0",
        )
        hello_cmd = [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{hello_port}"]
        hello_cmd += ["--no-control-socket", "--chdir", str(folder), "hello_app:app"]
        results: dict[str, dict] = {}
        proc = subprocess.Popen(hello_cmd, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{hello_port}"
            wait_ready(base + "/hello")
            run_wrk(wrk, base, folder / "hello.txt", script, 2, args.connections, args.threads)
            results["hello"] = run_wrk(
                wrk, base, folder / "hello.txt", script, args.seconds, args.connections, args.threads
            )
        finally:
            stop(proc)
        serve = [str(gll), "serve", "--port", str(port), "--workers", str(args.workers)]
        proc = subprocess.Popen(serve, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/healthz")
            paths = folder / "paths.txt"
            run_wrk(wrk, base, paths, script, 2, args.connections, args.threads, reader)
            results["api"] = run_wrk(wrk, base, paths, script, args.seconds, args.connections, args.threads, reader)
            started = time.perf_counter()
            created = 0
            for n in range(args.batches):
                created += post_batch(base, writer, records(n * args.batch_size, args.batch_size))["imported"]
            bulk_seconds = time.perf_counter() - started
        finally:
            stop(proc)
        direct = records(10_000_000, args.batches * args.batch_size)
        started = time.perf_counter()
        for n in range(args.batches):
            chunk = direct[n * args.batch_size : (n + 1) * args.batch_size]
            report = ImportReport()
            import_rows(engine, rows_from_records(chunk, report), report, source_name="bench")
        direct_seconds = time.perf_counter() - started
        engine.dispose()
    api, hello = results["api"], results["hello"]
    bulk_per_s, direct_per_s = created / bulk_seconds, len(direct) / direct_seconds
    print(f"GET /api/v1/subscribers/ID: {api['req_per_s']:.0f} req/s, p99 {api['p99_us'] / 1000:.1f} ms")
    print(f"hello ceiling: {hello['req_per_s']:.0f} req/s; bulk {bulk_per_s:.0f} members/s ({created} created)")
    figures = {
        "req_per_s": round(api["req_per_s"]),
        "p99_ms": round(api["p99_us"] / 1000, 2),
        "hello_req_per_s": round(hello["req_per_s"]),
        "ratio": round(api["req_per_s"] / hello["req_per_s"], 3),
        "target_ratio": TARGET_RATIO,
        "bulk_per_s": round(bulk_per_s),
        "direct_per_s": round(direct_per_s),
        "bulk_vs_direct": round(bulk_per_s / direct_per_s, 3),
        "bulk_vs_target": round(bulk_per_s / TARGET_BULK, 2),
        "bulk_created": created,
        "non_2xx_3xx": api["non_2xx_3xx"],
        "errors": api["errors"],
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
