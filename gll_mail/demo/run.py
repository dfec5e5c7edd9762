"""The main job on embedded defaults: SQLite, the GLL's catalog, demo members, a local SMTP server,
the demo's two campaigns from campaigns/ sent through the real pipeline, then the member web site.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlmodel import select

from gll_mail.db import has_schema, make_engine, migrate, session_scope
from gll_mail.demo.data import DEMO_DOMAIN, seed_catalog, seed_members
from gll_mail.errors import GllMailError
from gll_mail.links import gate_url
from gll_mail.models import Campaign, Subscriber
from gll_mail.settings import Settings
from gll_mail.smtp.sink import LocalSMTPServer


class DemoError(GllMailError):
    pass


@dataclass
class CampaignResult:
    slug: str
    kind: str
    sent: int
    failed: int
    suppressed: int


@dataclass
class DemoSummary:
    database: str
    outbox: Path
    members_added: int
    campaigns: list[CampaignResult] = field(default_factory=list)
    eml_files: int = 0
    sample_member: str = ""
    sample_link: str = ""


def reset_demo_database(database_url: str, outbox: Path) -> None:
    """Delete the SQLite demo database and outbox, refusing if the database holds real members."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise DemoError("--fresh only resets an SQLite file database; drop other databases yourself")
    path = Path(url.database)
    if path.exists():
        engine = make_engine(database_url)
        try:
            if has_schema(engine):
                with session_scope(engine) as session:
                    real = session.exec(
                        select(Subscriber.email).where(~Subscriber.email.like(f"%@{DEMO_DOMAIN}")).limit(1)
                    ).first()
                if real is not None:
                    raise DemoError(
                        f"{path} holds members who are not demo members (e.g. {real}); refusing to delete it. "
                        "Run the demo elsewhere: GLL_MAIL_DATABASE_URL=sqlite:///demo.db gll-mail demo --fresh"
                    )
        finally:
            engine.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.rmtree(outbox, ignore_errors=True)


DEMO_CAMPAIGNS = ("2019-06-compassion-reports", "2019-06-18-corrigendum")  # the original, then its corrigendum


def demo_sources(settings: Settings) -> list:
    """The demo's own campaigns from the campaigns folder, the original before the corrigendum that
    corrects it; other files there (the team's drafts) are never sent by the demo."""
    from gll_mail.campaigns.sources import load_source

    paths = [settings.campaigns_dir / f"{slug}.md" for slug in DEMO_CAMPAIGNS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DemoError(
            f"the demo campaigns are missing: {', '.join(missing)} (set GLL_MAIL_CAMPAIGNS_DIR to the "
            f"campaigns/ folder of gll-mail)"
        )
    return [load_source(p) for p in paths]


def run_demo(
    settings: Settings,
    engine: Engine,
    *,
    outbox: Path,
    members: int = 300,
    on_step: Callable[[str], None] = lambda _msg: None,
    progress=None,
    smtp_server: LocalSMTPServer,
) -> DemoSummary:
    """Seed, send every demo campaign through ``smtp_server`` and summarize what happened."""
    from gll_mail.campaigns.preflight import check
    from gll_mail.delivery.control import send_now

    on_step("Creating the database")
    migrate(engine)
    with session_scope(engine) as session:
        seed_catalog(session, settings.resources_dir)
        added = seed_members(session, members)
    summary = DemoSummary(database=engine.url.render_as_string(hide_password=True), outbox=outbox, members_added=added)
    settings = settings.replace(smtp_url=smtp_server.url)
    for source in demo_sources(settings):
        on_step(f"Checking {source.slug}")
        with session_scope(engine) as session:
            report = check(settings, session, source)
        if not report.ok:
            problems = "\n".join(f"  {e}" for e in report.errors)
            raise DemoError(f"campaign {source.slug} fails its preflight:\n{problems}")
        on_step(f"Sending {source.slug}")
        result = send_now(engine, settings, source, progress=progress)
        summary.campaigns.append(
            CampaignResult(source.slug, source.kind, result.sent, result.failed, result.suppressed)
        )
    summary.eml_files = len(list(outbox.glob("*.eml")))
    with session_scope(engine) as session:
        member = session.exec(
            select(Subscriber)
            .where(Subscriber.registered_at.is_(None), Subscriber.email.like(f"%@{DEMO_DOMAIN}"))
            .order_by(Subscriber.id)
        ).first()
        first = (
            session.exec(select(Campaign).where(Campaign.slug == summary.campaigns[0].slug)).first()
            if summary.campaigns
            else None
        )
        if member is not None:  # the link as the member's email has it: its click counts for that campaign
            summary.sample_member = member.email
            summary.sample_link = gate_url(
                settings, member.public_id, "codevelopment-synthesis-report", first.id if first else None
            )
    return summary
