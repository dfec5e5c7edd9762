"""Helpers for the team console tests: a campaigns and a layouts folder of this test's own, team
accounts with roles, a small English and Arabic announcement with a gated link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from werkzeug.security import generate_password_hash

from gll_mail.catalog import add_resource, create_pod, create_topic
from gll_mail.models import AdminUser

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
SLUG = "dec-news"
PASSWORD_HASH = generate_password_hash(PASSWORD)  # once: hashing is slow on purpose

EN = """---
slug: dec-news
kind: announcement
subject: "December news"
audience:
  topics: [announcements]
---

Dear member, read the [new report](resource:dec-report) and [join the pod](pod:ipc).
"""

AR = """---
subject: "أخبار ديسمبر"
---

عزيزي العضو، اقرأ [التقرير الجديد](resource:dec-report) و[انضم إلى المجموعة](pod:ipc).
"""


class Clock:
    """An injected clock: each call returns the time, which only moves when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def seed_catalog(session, settings) -> None:
    create_topic(session, slug="announcements", name="Announcements")
    create_pod(session, slug="ipc", name="Infection prevention and control")
    add_resource(
        session,
        slug="dec-report",
        title="December report",
        access="registered",
        url="https://www.who.int/publications/dec-report",
        resources_dir=settings.resources_dir,
    )


def team(session) -> dict:
    """One account of each role, plus a second approver (all with the password PASSWORD)."""
    users = {
        name: AdminUser(username=name, password_hash=PASSWORD_HASH, role=role)
        for name, role in (
            ("ada", "admin"),
            ("eve", "editor"),
            ("abe", "approver"),
            ("amy", "approver"),
            ("vic", "viewer"),
        )
    }
    session.add_all(users.values())
    session.flush()
    return users


def write_campaign(settings, en: str = EN, ar: str | None = AR, slug: str = SLUG) -> Path:
    base = settings.campaigns_dir / f"{slug}.md"
    base.write_text(en, encoding="utf-8")
    if ar is not None:
        (settings.campaigns_dir / f"{slug}.ar.md").write_text(ar, encoding="utf-8")
    return base
