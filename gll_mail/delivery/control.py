"""The campaign operations that touch the outbox, the scheduler's job store or the send loop.

The status changes themselves are :mod:`gll_mail.campaigns.lifecycle`'s (the one writer of
``Campaign.status``); it sits below ``delivery/`` and cannot enqueue, so these functions do the
outbox's part and call its transitions, in the same transaction where both write:

- :func:`prepare`: preflight, then the campaign row in step with its source;
- :func:`schedule`: ``lifecycle.schedule`` plus the APScheduler job;
- :func:`launch`: the audience enqueued, then ``lifecycle.launch`` (idempotent);
- :func:`launch_checked`: at the scheduled time, the preflight again, then :func:`launch` or
  ``lifecycle.hold`` with the reason;
- :func:`send_now`: prepare, launch and drain in the foreground (``campaign send``);
- :func:`resume`: ``lifecycle.resume``, or for a campaign never launched ``resume_scheduled``
  and, when its time has passed, :func:`launch_checked`;
- :func:`cancel`: ``lifecycle.cancel`` and the waiting rows cancelled, then the job removed;
- :func:`retry_failed`: the failed rows queued again and a sent campaign reopened.

Pausing touches nothing but the status: callers use ``lifecycle.pause`` directly. Each function
takes the engine and a campaign id (or a source), returns plain values and raises
:class:`~gll_mail.errors.GllMailError` subclasses: the CLI, the console and the API call these.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gll_mail.campaigns import lifecycle
from gll_mail.campaigns.lifecycle import LifecycleError
from gll_mail.delivery.drainer import Drainer
from gll_mail.delivery.outbox import (
    SendSummary,
    Snapshot,
    cancel_waiting,
    enqueue,
    has_deliveries,
    requeue_failed,
    summary,
)
from gll_mail.errors import GllMailError
from gll_mail.models import Campaign, CampaignStatus, utcnow
from gll_mail.settings import Settings

log = logging.getLogger(__name__)


class DeliveryError(GllMailError):
    pass


def prepare(engine: Engine, settings: Settings, source) -> Campaign:
    """Preflight, then the approvals (``GLL_MAIL_APPROVALS_REQUIRED``: the current content must carry
    them), then the campaign row in step with its source. Raises when it may not be sent.

    A campaign that has started sending is frozen (``sync_campaign`` refuses changed content); its
    preflight may fail for reasons of the moment (say, everyone left the audience), which must not
    keep its remaining messages from going out.
    """
    from gll_mail.campaigns.approvals import require_approved
    from gll_mail.campaigns.preflight import check
    from gll_mail.campaigns.records import get_campaign, sync_campaign

    with Session(engine, expire_on_commit=False) as session:
        report = check(settings, session, source)
        existing = get_campaign(session, source.slug)
        started = existing is not None and existing.status in (
            CampaignStatus.SENDING,
            CampaignStatus.PAUSED,
            CampaignStatus.SENT,
        )
        if not report.ok and not started:
            problems = "\n".join(f"  {p}" for p in report.errors)
            raise DeliveryError(f"{source.slug} fails its preflight ({report.summary()}):\n{problems}")
        if not started:
            require_approved(settings, session, source)  # keeps the revision it checked
        campaign = sync_campaign(session, source)
        session.commit()
        return campaign


def schedule(engine: Engine, settings: Settings, source, when: datetime | None = None) -> Campaign:
    """Preflight ``source``, then schedule it for ``when`` (default: its ``send_at``); the campaign."""
    from gll_mail.delivery.scheduler import schedule_job

    campaign = prepare(engine, settings, source)
    when = when or campaign.send_at
    if when is None:
        raise DeliveryError(f"{campaign.slug} has no send_at in its front matter: give --at ISO8601")
    lifecycle.schedule(engine, campaign.id, when)
    schedule_job(engine, campaign.id, when)
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Campaign, campaign.id)


def launch(engine: Engine, campaign_id: int) -> int:
    """Start sending: the audience enqueued, then status ``sending``. Idempotent; the number enqueued.

    Only a draft or scheduled campaign is expanded: the audience is the one at launch time. The
    status changes after the enqueue, so a crash midway leaves it ``scheduled`` and the next launch
    adds what is missing.
    """
    _, status = lifecycle.current(engine, campaign_id)
    if not lifecycle.allowed("launch", status):
        return 0
    added = enqueue(engine, campaign_id)
    lifecycle.launch(engine, campaign_id)
    return added


def launch_checked(engine: Engine, settings: Settings, campaign_id: int) -> int:
    """Launch a scheduled campaign when its time comes, after its preflight again: between
    ``campaign schedule`` and the send time a resource file can be deleted, a pod removed or the
    source edited. A campaign that fails is paused before anything is enqueued, with the first
    problem as the reason (`campaign status` shows it); fixed, `campaign resume` launches it."""
    from gll_mail.campaigns.approvals import ApprovalRequired, require_approved
    from gll_mail.campaigns.preflight import check
    from gll_mail.campaigns.sources import SourceError, load_source

    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise DeliveryError(f"no campaign with id {campaign_id}")
        if not lifecycle.allowed("launch", campaign.status) or not campaign.source_path:
            return launch(engine, campaign_id)
        problem = ""
        try:
            source = load_source(Path(campaign.source_path))
        except SourceError as exc:
            problem = f"cannot read its source: {exc}"
        else:
            if campaign.source_hash and source.source_hash != campaign.source_hash:
                problem = f"{campaign.source_path} changed after it was scheduled: check and schedule it again"
            else:
                report = check(settings, session, source)
                if not report.ok:
                    problem = f"preflight failed at send time ({report.summary()}): {report.errors[0]}"
                else:
                    try:  # the approved content, and nothing else, goes out
                        require_approved(settings, session, source)
                        session.commit()
                    except ApprovalRequired as exc:
                        problem = f"not approved at send time: {exc}"
    if problem:
        log.warning("campaign %s not launched: %s", campaign_id, problem, extra={"campaign_id": campaign_id})
        lifecycle.hold(engine, campaign_id, problem)
        return 0
    return launch(engine, campaign_id)


def send_now(
    engine: Engine,
    settings: Settings,
    source,
    progress: Callable[[Snapshot], None] | None = None,
    *,
    retry_wait: float = 300.0,
) -> SendSummary:
    """Preflight, sync, enqueue and send ``source`` in the foreground; the campaign's figures after.

    Retries due within ``retry_wait`` seconds are waited for; later ones stay queued for
    ``gll-mail worker`` (or the next ``campaign send``).
    """
    campaign = prepare(engine, settings, source)
    if campaign.status == CampaignStatus.PAUSED:
        raise DeliveryError(
            f"{campaign.slug} is paused ({campaign.paused_reason or 'no reason given'}); "
            f"`gll-mail campaign resume {campaign.slug}` first"
        )
    launch(engine, campaign.id)
    drainer = Drainer(engine, settings, campaign_ids=[campaign.id], progress=progress, sources={campaign.id: source})
    asyncio.run(drainer.run(until_idle=True, retry_wait=retry_wait, poll=0.2))
    return summary(engine, campaign.id)


def resume(engine: Engine, settings: Settings, campaign_id: int) -> Campaign:
    """Go on with a paused campaign; the campaign after (``sending``, or ``scheduled`` when it was
    never launched and its time is still ahead). One never launched whose time has come is
    launched after its preflight; if that fails it stays paused and this raises with the reason."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise LifecycleError(f"no campaign with id {campaign_id}")
        started = has_deliveries(session.connection(), campaign_id)
    if started:
        lifecycle.resume(engine, campaign_id)
    else:
        lifecycle.resume_scheduled(engine, campaign_id)
        if campaign.send_at is None or campaign.send_at <= utcnow():
            launch_checked(engine, settings, campaign_id)  # its preflight first, as at its scheduled time
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
    if campaign.status == CampaignStatus.PAUSED:
        raise LifecycleError(f"{campaign.slug} is still paused: {campaign.paused_reason}")
    return campaign


def cancel(engine: Engine, campaign_id: int, reason: str = "cancelled by hand") -> CampaignStatus:
    """Nothing more is sent: the campaign ``cancelled``, its waiting messages too, its job removed.
    Messages in flight are finished; what was sent stays recorded."""
    from gll_mail.delivery.scheduler import unschedule_job

    with engine.begin() as connection:
        status = lifecycle.cancel(connection, campaign_id, reason)
        cancel_waiting(connection, campaign_id)
    unschedule_job(engine, campaign_id)
    return status


def retry_failed(engine: Engine, campaign_id: int) -> int:
    """Queue a campaign's failed messages again (hard-bounced addresses stay suppressed at send
    time); a sent campaign goes back to ``sending``. How many were queued."""
    with engine.begin() as connection:
        lifecycle.check_retry(connection, campaign_id)
        count = requeue_failed(connection, campaign_id)
        if count:
            lifecycle.reopen(connection, campaign_id)
    return count
