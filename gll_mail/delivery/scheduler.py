"""When campaigns start: APScheduler 3.11 with its job store in our own database.

``campaign schedule`` writes a one-off date job ``campaign-<id>`` into the ``apscheduler_jobs``
table (created by APScheduler); each ``gll-mail worker`` runs a scheduler on the same table and,
when the job is due, runs the campaign's preflight again and launches it (status ``sending``,
audience enqueued), or pauses it with the reason if it no longer passes. Launching is
idempotent, so several workers firing the same job (PostgreSQL scale-out) enqueue nothing twice.
A worker also launches, at start and every minute, any ``scheduled`` campaign whose time has
passed, in case its job was lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gll_mail.members.imports import resume_interrupted
from gll_mail.models import Campaign, CampaignStatus, utcnow
from gll_mail.settings import Settings

JOB_TABLE = "apscheduler_jobs"
_runtime: dict[str, object] = {}  # this worker's engine and settings, for jobs from the store
log = logging.getLogger(__name__)


def job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def make_scheduler(engine: Engine) -> BackgroundScheduler:
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    return BackgroundScheduler(
        jobstores={"default": store},
        timezone=UTC,
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
    )


def _with_paused_scheduler(engine: Engine, action) -> None:
    scheduler = make_scheduler(engine)
    scheduler.start(paused=True)  # jobs go straight to the store; nothing runs in this process
    try:
        action(scheduler)
    finally:
        scheduler.shutdown(wait=False)


def schedule_job(engine: Engine, campaign_id: int, when: datetime) -> None:
    _with_paused_scheduler(
        engine,
        lambda s: s.add_job(
            "gll_mail.delivery.scheduler:fire",
            trigger="date",
            run_date=when,
            args=[campaign_id],
            id=job_id(campaign_id),
            replace_existing=True,
        ),
    )


def unschedule_job(engine: Engine, campaign_id: int) -> None:
    def remove(scheduler) -> None:
        try:
            scheduler.remove_job(job_id(campaign_id))
        except JobLookupError:
            pass

    _with_paused_scheduler(engine, remove)


def fire(campaign_id: int) -> None:
    """The job: launch a scheduled campaign (runs in a worker's scheduler thread)."""
    from gll_mail.delivery.control import launch_checked

    settings = _runtime.get("settings") or Settings.from_env()
    engine = _runtime.get("engine")
    if engine is None:
        from gll_mail.db import engine_for

        engine = engine_for(settings.database_url)
    with engine.connect() as connection:
        status = connection.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar()
    if status == CampaignStatus.SCHEDULED:
        added = launch_checked(engine, settings, campaign_id)
        log.info("campaign %s launched: %s deliveries enqueued", campaign_id, added, extra={"campaign_id": campaign_id})


def launch_due(engine: Engine, settings: Settings) -> list[int]:
    """Launch (after its preflight) every scheduled campaign whose ``send_at`` has passed; their ids."""
    from gll_mail.delivery.control import launch_checked

    with engine.connect() as connection:
        ids = list(
            connection.execute(
                select(Campaign.id).where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= utcnow())
            ).scalars()
        )
    for campaign_id in ids:
        launch_checked(engine, settings, campaign_id)
    return ids


def start_worker_scheduler(engine: Engine, settings: Settings) -> BackgroundScheduler:
    """The running scheduler of a worker process: fires due jobs from the shared store, and resumes
    the member imports a stopped process left interrupted."""
    _runtime.update(engine=engine, settings=settings)
    scheduler = make_scheduler(engine)
    scheduler.add_jobstore(MemoryJobStore(), "local")
    scheduler.add_job(
        launch_due,
        "interval",
        args=[engine, settings],
        seconds=60,
        id="launch-due",
        jobstore="local",
        next_run_time=utcnow(),
    )
    scheduler.add_job(  # member lists whose run stopped with its process (a restart) go on here
        resume_interrupted,
        "interval",
        args=[engine],
        seconds=60,
        id="resume-imports",
        jobstore="local",
        next_run_time=utcnow(),
    )
    scheduler.start()
    return scheduler
