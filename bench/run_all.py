"""Run every benchmark under bench/ and print their figures (`make bench`).

Each benchmark is a script whose last output line is one JSON object with its figures and the
baseline it measured in the same run. This runner starts each one in its own process (so peak
memory figures are per benchmark), saves the JSON under bench/results/ (ignored by git) and prints
a summary. Pass names to run only some: `python bench/run_all.py send web`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ORDER = ("import", "render", "send", "bounces", "web", "api")


def available() -> list[str]:
    found = {p.stem for p in HERE.glob("*.py") if p.stem not in ("run_all",) and not p.stem.startswith("_")}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def run(name: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        return {"error": f"exit code {proc.returncode}", "seconds": round(elapsed, 1)}
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"last line is not JSON: {lines[-1][:200]}", "seconds": round(elapsed, 1)}
    figures["process_seconds"] = round(elapsed, 1)  # the whole run; a benchmark's own "seconds" stays
    return figures


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(available())}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        figures = run(name)
        (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures), flush=True)
        failed += "error" in figures
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
