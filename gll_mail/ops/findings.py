"""What `gll-mail doctor` reports: findings (pass, warn or fail), each with what to do."""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class Finding:
    area: str  # dns, transport, web, settings, database, process
    check: str  # e.g. "SPF", "DKIM gll2026._domainkey.who.int"
    status: str  # pass, warn or fail
    detail: str  # what was found
    fix: str = ""  # what to do about it (empty when it passes)


def passed(area: str, check: str, detail: str) -> Finding:
    return Finding(area, check, PASS, detail)


def warned(area: str, check: str, detail: str, fix: str) -> Finding:
    return Finding(area, check, WARN, detail, fix)


def failed(area: str, check: str, detail: str, fix: str) -> Finding:
    return Finding(area, check, FAIL, detail, fix)


def any_failed(findings: list[Finding]) -> bool:
    return any(f.status == FAIL for f in findings)
