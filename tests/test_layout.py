"""The layout stays what docs/architecture.md draws: areas as sub-packages over a small flat core,
layered imports (import-linter's contracts in pyproject.toml), modules of a readable size, one name
per class, and ruff's style."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "gll_mail"
BIN = Path(sys.executable).parent
# Data, not logic, would have no size limit; the words in six languages are gettext catalogs (.po), not modules.
DATA_MODULES: set[str] = set()


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_the_flat_core_has_at_most_15_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 15, top


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert {k: v for k, v in long.items() if k not in DATA_MODULES} == {}


def test_no_two_classes_share_a_name():
    where = defaultdict(list)
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: places for name, places in where.items() if len(places) > 1} == {}


def test_no_tracker_numbers_in_code():
    pattern = re.compile(r"\b(issue|task|stop|ticket)\s*#?\d+", re.IGNORECASE)
    found = [
        f"{p.relative_to(REPO)}:{n}"
        for p in [*modules(), *REPO.glob("tests/*.py"), *REPO.glob("bench/*.py")]
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_every_module_is_on_the_architecture_map():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if p.name != "__init__.py" and f"`{p.relative_to(PACKAGE).as_posix()}`" not in text
    ]
    assert missing == []
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text))
    assert [n for n in named if not n.startswith("tests/") and not (PACKAGE / n).exists()] == []


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_imports_keep_their_layers():
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize("command", [("check",), ("format", "--check")], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = _run(str(BIN / "ruff"), *command, "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
