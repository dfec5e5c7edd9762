"""Draining the outbox: claim, re-check, render, send over the pool, record — and stop when it must.

One :class:`Drainer` runs in one asyncio loop:

- a *producer* claims a batch of due deliveries with a lease, re-checks every
  recipient at send time (still active, not paused, not on the suppression list — changes after
  enqueue count), marks the others ``suppressed``, renders and builds the rest (for a large
  campaign in helper processes, :mod:`gll_mail.delivery.render_pool`, while it claims the next batch);
- one *sender* task per pooled SMTP connection: before it hands a message to the server it has
  the recorder commit the previous message's outcome together with a mark on this one (its
  ``message_id``), and **waits for that commit**. So at any moment at most one message per
  connection has been handed to the server without its outcome in the ledger: a ``kill -9`` can
  duplicate at most that many, and those rows carry the mark, so they are recorded as possible
  duplicates when another worker takes them over; then it waits for the shared rate limits and sends;
- the *recorder* commits the outcomes of all senders in one transaction (group commit), schedules
  retries with exponential backoff and jitter, suppresses hard-bounced addresses, records events,
  and pauses a campaign when the server is unreachable or too many recent sends failed.

A campaign becomes ``sent`` only in :func:`gll_mail.delivery.outbox.finalize`, when every delivery is final.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gll_mail.addresses import domain_of, email_hash
from gll_mail.campaigns.message import MessageBuilder, MessageError, split_message
from gll_mail.db import is_sqlite
from gll_mail.delivery.outbox import (
    BACK_TO_QUEUE,
    Claimed,
    claim,
    counts,
    enqueue,
    finalize,
    held_by,
    mark_handed,
    mark_sent,
    release,
    release_rows,
)
from gll_mail.delivery.ratelimit import RateLimiter
from gll_mail.delivery.render_pool import (
    CHUNK,
    Built,
    Job,
    RenderPool,
    build_one,
    campaign_builder,
    helper_count,
)
from gll_mail.errors import GllMailError
from gll_mail.events import record_event
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    Pod,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from gll_mail.settings import Settings
from gll_mail.smtp.client import SmtpConfig
from gll_mail.smtp.dkim import DkimSigner
from gll_mail.smtp.pool import (
    OK,
    PERMANENT,
    UNREACHABLE,
    Prepared,
    SendResult,
    SmtpPool,
)

D = Delivery.__table__
C = Campaign.__table__
E = Event.__table__
log = logging.getLogger(__name__)
# The mark before a message is handed to the server; it only takes while this claim still holds the
# row (same owner, same attempt), and it renews the lease for the send.
UNREACHABLE_TRIES = (0.2, 0.5, 1.0)
FAILURE_MIN_SENDS = 20  # judge the failure rate from this many sends on, not only once the window is full
GROUP_WAIT = 0.005  # seconds the recorder waits for more outcomes to commit together
AHEAD = 6  # render-pool jobs kept in flight while the sending process claims and sends


class DeliveryError(GllMailError):
    pass


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    deferred: int = 0
    possible_duplicates: int = 0
    cancelled: int = 0
    remaining: int = 0
    total: int = 0
    status: str = ""
    paused_reason: str = ""


@dataclass
class Snapshot:
    """What a progress display shows."""

    total: int
    sent: int
    failed: int
    suppressed: int
    deferred: int
    remaining: int
    rate: float       # messages per second since the start
    eta: float | None  # seconds


def summary(engine: Engine, campaign_id: int) -> SendSummary:
    with Session(engine) as session:
        found = counts(session, campaign_id)
        campaign = session.get(Campaign, campaign_id)
    return SendSummary(
        sent=found["sent"], failed=found["failed"], suppressed=found["suppressed"], deferred=found["deferred"],
        possible_duplicates=found["possible_duplicates"], cancelled=found["cancelled"],
        remaining=found["queued"] + found["sending"], total=found["total"],
        status=campaign.status if campaign else "", paused_reason=campaign.paused_reason if campaign else "",
    )


# --- launching -------------------------------------------------------------------------------

def prepare(engine: Engine, settings: Settings, source) -> Campaign:
    """Preflight, then the campaign row in step with its source. Raises when it may not be sent.

    A campaign that has started sending is frozen (``sync_campaign`` refuses changed content); its
    preflight may fail for reasons of the moment (say, everyone left the audience), which must not
    keep its remaining messages from going out.
    """
    from gll_mail.campaigns.preflight import check
    from gll_mail.campaigns.records import get_campaign, sync_campaign

    with Session(engine, expire_on_commit=False) as session:
        report = check(settings, session, source)
        existing = get_campaign(session, source.slug)
        started = existing is not None and existing.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED,
                                                               CampaignStatus.SENT)
        if not report.ok and not started:
            problems = "\n".join(f"  {p}" for p in report.errors)
            raise DeliveryError(f"{source.slug} fails its preflight ({report.summary()}):\n{problems}")
        campaign = sync_campaign(session, source)
        session.commit()
        return campaign


def launch(engine: Engine, campaign_id: int) -> int:
    """Start sending: the audience enqueued, then status ``sending``. Idempotent; the number enqueued.

    Only a draft or scheduled campaign is expanded: the audience is the one at launch time. The
    status changes after the enqueue, so a crash midway leaves it ``scheduled`` and the next launch
    adds what is missing.
    """
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise DeliveryError(f"no campaign with id {campaign_id}")
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            return 0
    added = enqueue(engine, campaign_id)
    with engine.begin() as connection:
        now = utcnow()
        connection.execute(
            update(C).where(C.c.id == campaign_id,
                            C.c.status.in_([CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value]))
            .values(status=CampaignStatus.SENDING.value, started_at=now, updated_at=now))
    return added


def launch_checked(engine: Engine, settings: Settings, campaign_id: int) -> int:
    """Launch a scheduled campaign when its time comes, after its preflight again: between
    ``campaign schedule`` and the send time a resource file can be deleted, a pod removed or the
    source edited. A campaign that fails is paused before anything is enqueued, with the first
    problem as the reason (`campaign status` shows it); fixed, `campaign resume` launches it."""
    from pathlib import Path

    from gll_mail.campaigns.preflight import check
    from gll_mail.campaigns.sources import SourceError, load_source

    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise DeliveryError(f"no campaign with id {campaign_id}")
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) or not campaign.source_path:
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
    if problem:
        log.warning("campaign %s not launched: %s", campaign_id, problem)
        set_status(engine, campaign_id, CampaignStatus.PAUSED, problem,
                   only_from=(CampaignStatus.DRAFT, CampaignStatus.SCHEDULED))
        return 0
    return launch(engine, campaign_id)


def set_status(engine: Engine, campaign_id: int, status: str, reason: str = "", *,
               only_from: tuple[str, ...] | None = None) -> bool:
    condition = [C.c.id == campaign_id]
    if only_from is not None:
        condition.append(C.c.status.in_([str(s) for s in only_from]))
    with engine.begin() as connection:
        done = connection.execute(update(C).where(*condition).values(
            status=str(status), paused_reason=reason[:500], updated_at=utcnow())).rowcount == 1
        if done and status == CampaignStatus.CANCELLED:
            connection.execute(update(D).where(D.c.campaign_id == campaign_id,
                                               D.c.status == DeliveryStatus.QUEUED.value)
                               .values(status=DeliveryStatus.CANCELLED.value))
    return done


def pause(engine: Engine, campaign_id: int, reason: str) -> bool:
    return set_status(engine, campaign_id, CampaignStatus.PAUSED, reason, only_from=(CampaignStatus.SENDING,))


def send_now(engine: Engine, settings: Settings, source, progress: Callable[[Snapshot], None] | None = None, *,
             retry_wait: float = 300.0) -> SendSummary:
    """Preflight, sync, enqueue and send ``source`` in the foreground; the campaign's figures after.

    Retries due within ``retry_wait`` seconds are waited for; later ones stay queued for
    ``gll-mail worker`` (or the next ``campaign send``).
    """
    campaign = prepare(engine, settings, source)
    if campaign.status == CampaignStatus.PAUSED:
        raise DeliveryError(f"{campaign.slug} is paused ({campaign.paused_reason or 'no reason given'}); "
                            f"`gll-mail campaign resume {campaign.slug}` first")
    launch(engine, campaign.id)
    drainer = Drainer(engine, settings, campaign_ids=[campaign.id], progress=progress, sources={campaign.id: source})
    asyncio.run(drainer.run(until_idle=True, retry_wait=retry_wait, poll=0.2))
    return summary(engine, campaign.id)


# --- the drain -------------------------------------------------------------------------------

@dataclass(slots=True)
class Work:
    claimed: Claimed
    email: str
    domain: str
    sender: str = ""
    data: bytes = b""
    message_id: str = ""
    lost: bool = False  # the claim expired and the row was claimed again: never hand it over


@dataclass(slots=True)
class Outcome:
    work: Work | None
    result: SendResult | None  # None: released unsent (campaign halted, worker stopping)
    future: asyncio.Future | None = None
    handing: Work | None = None  # the next message of this connection, about to be handed to the server


@dataclass
class _CampaignContext:
    renderer: object
    builder: MessageBuilder
    recent: deque = field(default_factory=deque)


def default_owner() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Drainer:
    def __init__(self, engine: Engine, settings: Settings, *, owner: str | None = None,
                 campaign_ids: list[int] | None = None, progress: Callable[[Snapshot], None] | None = None,
                 sources: dict | None = None, connections: int | None = None, batch: int | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or default_owner()
        self.campaign_ids = campaign_ids
        self.progress = progress
        self.sources = dict(sources or {})
        self.connections = max(1, connections or settings.smtp_connections)
        self.batch = batch or max(self.connections * 8, 64)
        domain_limits = settings.domain_limit_map()
        domain_rates = [rate for rate, _ in domain_limits.values() if rate]
        for rate in (settings.rate_per_second, settings.per_domain_rate, *domain_rates):
            if rate > 0:  # a batch (even all to one domain) must be sendable well within the lease
                self.batch = max(1, min(self.batch, int(rate * settings.lease_seconds / 4)))
        self.signer = DkimSigner.from_settings(settings)
        self.limiter = RateLimiter(engine, rate=settings.rate_per_second, per_domain_rate=settings.per_domain_rate,
                                   per_domain_connections=settings.per_domain_connections, owner=self.owner,
                                   domain_limits=domain_limits)
        self.contexts: dict[int, _CampaignContext | None] = {}
        self.halted: set[int] = set()
        self.stopping = False
        self._pending: list[Outcome] = []
        self._wake: asyncio.Event | None = None
        self.sent_here = 0
        self._busy = 0
        self._recording = False
        self._offload = not is_sqlite(engine)
        self._last_report = 0.0
        self._report_every = 0.5
        self._senders_done = False
        self.started = time.monotonic()
        self.render_processes = helper_count(settings)
        self.pool: RenderPool | None = None
        self.pool_jobs = 0  # jobs handed to the render pool in this run

    # -- producer side: claim, re-check, render (in the event loop; DKIM signing in threads) --

    def _context(self, session: Session, campaign_id: int) -> _CampaignContext | None:
        if campaign_id in self.contexts:
            return self.contexts[campaign_id]
        from pathlib import Path

        from gll_mail.campaigns.sources import SourceError, load_source

        campaign = session.get(Campaign, campaign_id)
        source = self.sources.get(campaign_id)
        reason = ""
        try:
            if source is None:
                source = load_source(Path(campaign.source_path))
            if campaign.source_hash and source.source_hash != campaign.source_hash:
                reason = f"the source {campaign.source_path} changed after sending started"
            else:
                renderer, builder = campaign_builder(self.settings, session, campaign, source)
                context = _CampaignContext(renderer, builder, deque(maxlen=max(1, self.settings.failure_window)))
                self.contexts[campaign_id] = context
                self._maybe_start_pool(session, campaign_id)
                return context
        except (SourceError, GllMailError, OSError) as exc:
            reason = f"cannot render: {exc}"
        pause(self.engine, campaign_id, reason)
        self.halted.add(campaign_id)
        self.contexts[campaign_id] = None
        return None

    def claim_batch(self) -> list[tuple]:
        """Claim a batch and re-check each recipient at send time; what is left to render and send."""
        claimed = claim(self.engine, self.owner, limit=self.batch, lease_seconds=self.settings.lease_seconds,
                        campaign_ids=self.campaign_ids)
        if not claimed:
            return []
        from gll_mail.campaigns.render import Recipient

        works: list[tuple] = []
        skipped: list[tuple[Claimed, str]] = []
        with Session(self.engine) as session:
            sub_ids = [c.subscriber_id for c in claimed]
            people = {row[0]: row for row in session.execute(
                select(Subscriber.id, Subscriber.public_id, Subscriber.email, Subscriber.name, Subscriber.status,
                       Subscriber.paused).where(Subscriber.id.in_(sub_ids)))}
            hashes = {email_hash(row[2]): row[0] for row in people.values()}
            suppressed = {hashes[h] for h in session.execute(
                select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes)))).scalars()}
            pods: dict[int, list[str]] = {}
            for sid, slug in session.execute(
                    select(PodMembership.subscriber_id, Pod.slug).join(Pod, Pod.id == PodMembership.pod_id)
                    .where(PodMembership.subscriber_id.in_(sub_ids), PodMembership.left_at.is_(None))
                    .order_by(Pod.slug)):
                pods.setdefault(sid, []).append(slug)
            statuses = dict(session.execute(select(C.c.id, C.c.status).where(
                C.c.id.in_({c.campaign_id for c in claimed}))).all())
            to_release = []
            for campaign_id, status in statuses.items():
                if status == CampaignStatus.SENDING and campaign_id in self.halted:
                    self.halted.discard(campaign_id)  # resumed: start afresh
                    self.contexts.pop(campaign_id, None)
            for item in claimed:
                if statuses.get(item.campaign_id) != CampaignStatus.SENDING:
                    self.halted.add(item.campaign_id)
                    to_release.append(item.id)
                    continue
                person = people.get(item.subscriber_id)
                if person is None or person[4] != SubscriberStatus.ACTIVE or person[5]:
                    skipped.append((item, "paused" if person is not None and person[5] else
                                    (person[4] if person is not None else "deleted")))
                    continue
                if item.subscriber_id in suppressed:
                    skipped.append((item, "suppressed"))
                    continue
                context = self._context(session, item.campaign_id)
                if context is None:
                    to_release.append(item.id)
                    continue
                _, public_id, email, name, _, _ = person
                recipient = Recipient(public_id, email, name, item.language, tuple(pods.get(item.subscriber_id, ())))
                works.append((item, recipient, context))
        if to_release:
            release(self.engine, self.owner, to_release)
        if skipped:
            self._record_skipped(skipped)
        return works

    def _maybe_start_pool(self, session: Session, campaign_id: int) -> None:
        """Start the render helpers when a campaign with many queued messages comes up."""
        if self.pool is not None or self.render_processes <= 0:
            return
        queued = session.execute(select(func.count()).select_from(D).where(
            D.c.campaign_id == campaign_id, D.c.status.in_((DeliveryStatus.QUEUED.value,
                                                            DeliveryStatus.SENDING.value)))).scalar()
        if queued >= max(self.settings.render_pool_min, 1):
            self.pool = RenderPool(self.settings, self.render_processes)

    def build_work(self, item: Claimed, recipient, context: _CampaignContext) -> Work | None:
        """Render and build one message (no database); None when it cannot be built (recorded failed)."""
        try:
            built = build_one(context.renderer, context.builder, item.id, item.language, recipient)
        except (MessageError, GllMailError) as exc:
            self._record_skipped([(item, f"failed: {exc}")])
            return None
        return Work(item, recipient.email, domain_of(recipient.email), built.sender, built.data, built.message_id)

    def submit_chunks(self, batch: list[tuple]) -> list[tuple[list[tuple], asyncio.Future]]:
        """Hand a claimed batch to the render pool, in jobs of one campaign each."""
        assert self.pool is not None
        jobs = []
        for start in range(0, len(batch), CHUNK):
            by_campaign: dict[int, list[tuple]] = {}
            for entry in batch[start:start + CHUNK]:
                by_campaign.setdefault(entry[0].campaign_id, []).append(entry)
            for campaign_id, entries in by_campaign.items():
                future = self.pool.submit(campaign_id, self.sources.get(campaign_id),
                                          [Job(item.id, item.language, recipient) for item, recipient, _ in entries])
                jobs.append((entries, asyncio.wrap_future(future)))
                self.pool_jobs += 1
        return jobs

    async def collect_chunk(self, entries: list[tuple], future: asyncio.Future) -> list[Work]:
        """The messages of one pool job; if the pool broke, build them here instead."""
        try:
            results: list[Built] = await future
        except Exception:  # noqa: BLE001 - a dead helper (or any pool failure): render in this process
            self._close_pool(cancel=False)  # jobs still running may finish and be used
            works = [w for w in (self.build_work(*entry) for entry in entries) if w is not None]
            if self.signer is not None:  # the helper would have signed them
                await asyncio.to_thread(self._sign, works)
            return works
        works, failed = [], []
        for (item, recipient, _), built in zip(entries, results):
            if built.error:
                failed.append((item, f"failed: {built.error}"))
            else:
                works.append(Work(item, recipient.email, domain_of(recipient.email), built.sender,
                                  Prepared(built.data), built.message_id))
        if failed:
            self._record_skipped(failed)
        return works

    def _close_pool(self, cancel: bool = True) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            self.render_processes = 0  # do not start another one in this run
            pool.close(cancel=cancel)

    def _sign(self, works: list[Work]) -> None:
        """DKIM-sign in a thread: OpenSSL releases the GIL, so this runs beside the event loop."""
        for work in works:
            headers, body = split_message(work.data)
            work.data = self.signer.sign(headers, body) + work.data

    def _record_skipped(self, skipped: list[tuple[Claimed, str]]) -> None:
        now = utcnow()
        with Session(self.engine) as session:
            for item, why in skipped:
                failed = why.startswith("failed: ")
                session.execute(update(D).where(held_by(self.owner, item.id, item.attempts)).values(
                    status=DeliveryStatus.FAILED.value if failed else DeliveryStatus.SUPPRESSED.value,
                    lease_owner=None, lease_expires_at=None, last_error=why[:1000]))
                record_event(session, EventType.FAILED if failed else EventType.SUPPRESSED, source="worker",
                             subscriber_id=item.subscriber_id, campaign_id=item.campaign_id, delivery_id=item.id,
                             reason=why, at=now.isoformat())
            session.commit()

    # -- recorder side --

    def _backoff(self, attempts: int) -> float:
        base = self.settings.retry_base_seconds * (2 ** max(attempts - 1, 0))
        return base * random.uniform(0.5, 1.5)

    def record(self, outcomes: list[Outcome]) -> list[tuple[int, str]]:
        """Commit a group of outcomes in one transaction; the campaigns to pause, with the reason.

        This is the hot path of the ledger (about one call per message and connection), so it uses
        prepared Core statements and no ORM session.
        """
        now = utcnow()
        handing = [o.handing for o in outcomes if o.handing is not None]
        until = now + timedelta(seconds=self.settings.lease_seconds)
        marks = [(w.claimed.id, w.message_id, w.claimed.attempts) for w in handing]
        sent, released, events, bounces = [], [], [], []
        to_pause: dict[int, str] = {}
        with self.engine.begin() as connection:
            for outcome in outcomes:
                work, result = outcome.work, outcome.result
                if work is None:
                    continue
                item = work.claimed
                if result is None or result.outcome == UNREACHABLE:
                    released.append(item.id)
                    if result is not None:
                        to_pause[item.campaign_id] = f"SMTP server unreachable: {result.message}"[:500]
                    continue
                context = self.contexts.get(item.campaign_id)
                if context is not None:
                    context.recent.append(result.outcome == OK)
                if result.outcome == OK:
                    sent.append((item.id, work.message_id, item.attempts))
                    if item.taken_over:
                        events.append((EventType.POSSIBLE_DUPLICATE, item, {"reason": "lease expired; resent"}))
                    continue
                error = f"{result.code or ''} {result.message}".strip()[:1000]
                flag = {"possible_duplicate": True} if result.ambiguous else {}
                ours = held_by(self.owner, item.id, item.attempts)
                if result.outcome == PERMANENT or item.attempts >= self.settings.max_attempts:
                    connection.execute(update(D).where(ours).values(
                        status=DeliveryStatus.FAILED.value, smtp_code=result.code, last_error=error,
                        lease_owner=None, lease_expires_at=None, **flag))
                    events.append((EventType.FAILED, item, {"code": result.code, "error": error,
                                                            "attempts": item.attempts}))
                    if result.hard_bounce:
                        bounces.append((work.email, item, error))
                else:
                    delay = self._backoff(item.attempts)
                    connection.execute(update(D).where(ours).values(
                        status=BACK_TO_QUEUE, smtp_code=result.code, last_error=error,
                        next_attempt_at=now + timedelta(seconds=delay), lease_owner=None, lease_expires_at=None,
                        message_id=None, **flag))
                    events.append((EventType.DEFERRED, item, {"code": result.code, "error": error,
                                                              "retry_in": round(delay, 1)}))
                    if result.ambiguous:
                        events.append((EventType.POSSIBLE_DUPLICATE, item, {"reason": error}))
            mark_sent(connection, self.owner, now, sent)
            if released:
                release_rows(connection, self.owner, released)
            if marks:
                if mark_handed(connection, self.owner, until, marks) == len(marks):
                    handing = []  # every mark took: nothing was claimed again
                held = dict(connection.execute(select(D.c.id, D.c.attempts).where(
                    D.c.id.in_([w.claimed.id for w in handing]), D.c.lease_owner == self.owner,
                    D.c.status == DeliveryStatus.SENDING.value)).all()) if handing else {}
                for work in handing:  # a newer claim of the same row (even our own) has a higher attempt
                    work.lost = held.get(work.claimed.id) != work.claimed.attempts
            if events:
                connection.execute(insert(E), [
                    {"type": str(type_), "created_at": now, "source": "worker", "subscriber_id": item.subscriber_id,
                     "campaign_id": item.campaign_id, "delivery_id": item.id, "is_bot": False,
                     "data": {k: v for k, v in data.items() if v is not None}}
                    for type_, item, data in events])
        if bounces:
            self._suppress_hard_bounces(bounces)
        self.sent_here += len(sent)
        for campaign_id, context in list(self.contexts.items()):
            if context is None or campaign_id in to_pause:
                continue
            window = context.recent
            if window.maxlen and len(window) >= min(window.maxlen, FAILURE_MIN_SENDS):
                failures = window.count(False)
                if failures / len(window) >= self.settings.failure_pause_threshold:
                    last = next((o.result for o in reversed(outcomes) if o.work is not None
                                 and o.work.claimed.campaign_id == campaign_id
                                 and o.result is not None and o.result.outcome != OK), None)
                    detail = f" (last: {last.code or ''} {last.message})" if last else ""
                    to_pause[campaign_id] = (f"{failures} of the last {len(window)} sends failed{detail}")[:500]
        return list(to_pause.items())

    def _suppress_hard_bounces(self, bounces: list[tuple[str, Claimed, str]]) -> None:
        from gll_mail.suppressions import suppress

        with Session(self.engine) as session:
            for email, item, error in bounces:
                suppress(session, email, reason="hard-bounce", source="smtp",
                         note=f"campaign {item.campaign_id}: {error}"[:500])
                record_event(session, EventType.BOUNCE_HARD, source="worker", subscriber_id=item.subscriber_id,
                             campaign_id=item.campaign_id, delivery_id=item.id, error=error)
            session.commit()

    # -- the loop --

    async def _recorder(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._senders_done:
                    return
                continue
            if len(self._pending) < self._busy and not self._senders_done:
                await asyncio.sleep(GROUP_WAIT)  # let more senders join this commit
            group, self._pending = self._pending, []
            self._recording = True
            try:
                if self._offload:  # a server database: wait for it in a thread, the loop keeps sending
                    pauses = await asyncio.to_thread(self.record, group)
                else:  # SQLite is CPU work: in the loop's thread, no GIL ping-pong with a DB thread
                    pauses = self.record(group)
            except Exception as exc:  # noqa: BLE001 - hand the failure to every waiting sender
                for outcome in group:
                    if outcome.future is not None and not outcome.future.done():
                        outcome.future.set_exception(exc)
                raise
            finally:
                self._recording = False
            for campaign_id, reason in pauses:
                pause(self.engine, campaign_id, reason)
                self.halted.add(campaign_id)
            for outcome in group:
                if outcome.future is not None and not outcome.future.done():
                    outcome.future.set_result(None)
            await self._report()

    async def _submit(self, outcome: Outcome) -> None:
        outcome.future = asyncio.get_running_loop().create_future()
        self._pending.append(outcome)
        assert self._wake is not None
        self._wake.set()
        await outcome.future

    async def _sender(self, connection, queue: asyncio.Queue) -> None:
        """Send the queue's messages over one connection.

        Before a message is handed to the server, its ``message_id`` is committed (together with
        the previous message's outcome, in the recorder's group commit). A row taken over after a
        crash is a possible duplicate only if it carries that mark: at most one per connection.
        """
        holder = f"{self.owner}:{id(connection)}"
        previous: Outcome | None = None
        while True:
            try:
                work = queue.get_nowait()
            except asyncio.QueueEmpty:
                if previous is not None:
                    await self._submit(previous)
                    previous = None
                work = await queue.get()
            if work is None:
                if previous is not None:
                    await self._submit(previous)
                return
            self._busy += 1
            try:
                previous = await self._send_one(connection, holder, work, previous)
            finally:
                self._busy -= 1

    async def _send_one(self, connection, holder: str, work: Work, previous: Outcome | None) -> Outcome | None:
        if work.claimed.campaign_id in self.halted or self.stopping:
            if previous is not None:
                await self._submit(previous)
            await self._submit(Outcome(work, None))
            return None
        carrier = previous if previous is not None else Outcome(None, None)
        carrier.handing = work
        await self._submit(carrier)  # one commit: the previous outcome and this message's mark
        if work.lost:  # its lease ran out before its turn and it was claimed again: that claim sends it
            return None
        slot = await self.limiter.acquire_connection(work.domain, holder)
        await self.limiter.wait(work.domain)  # last, so the send follows its time slot closely
        try:
            result = await connection.send(work.sender, work.email, work.data)
            for delay in UNREACHABLE_TRIES:
                if result.outcome != UNREACHABLE or self.stopping:
                    break
                await asyncio.sleep(delay)
                result = await connection.send(work.sender, work.email, work.data)
        finally:
            await self.limiter.release_connection(slot, holder)
        return Outcome(work, result)

    async def _report(self, force: bool = False) -> None:
        if self.progress is None or not self.campaign_ids:
            return
        now = time.monotonic()
        if not force and now - self._last_report < self._report_every:
            return
        self._last_report = now
        figures = await asyncio.to_thread(summary, self.engine, self.campaign_ids[0])
        # counting a huge outbox is not free: spend at most a twentieth of the time on it
        self._report_every = max(0.5, 20 * (time.monotonic() - now))
        elapsed = max(now - self.started, 1e-6)
        rate = self.sent_here / elapsed
        eta = figures.remaining / rate if rate > 0 else None
        self.progress(Snapshot(figures.total, figures.sent, figures.failed, figures.suppressed, figures.deferred,
                               figures.remaining, rate, eta))

    def _next_due(self) -> float | None:
        """Seconds until the earliest queued retry or foreign lease of our campaigns comes due."""
        with Session(self.engine) as session:
            running = select(C.c.id).where(C.c.status == CampaignStatus.SENDING.value)
            if self.campaign_ids is not None:
                running = running.where(C.c.id.in_(self.campaign_ids))
            running_ids = list(session.execute(running).scalars())
            if not running_ids:
                return None
            retry = session.execute(select(func.min(D.c.next_attempt_at)).where(
                D.c.campaign_id.in_(running_ids), D.c.status == DeliveryStatus.QUEUED.value)).scalar()
            lease = session.execute(select(func.min(D.c.lease_expires_at)).where(
                D.c.campaign_id.in_(running_ids), D.c.status == DeliveryStatus.SENDING.value)).scalar()
        times = [t for t in (retry, lease) if t is not None]
        if not times:
            return None
        return max((min(times) - utcnow()).total_seconds(), 0.0)

    def _finalize_all(self) -> None:
        with Session(self.engine) as session:
            query = select(C.c.id).where(C.c.status == CampaignStatus.SENDING.value)
            if self.campaign_ids is not None:
                query = query.where(C.c.id.in_(self.campaign_ids))
            ids = list(session.execute(query).scalars())
        for campaign_id in ids:
            finalize(self.engine, campaign_id)

    def stop(self) -> None:
        """Finish the messages in flight, give back the rest, and return from :meth:`run`."""
        self.stopping = True

    async def run(self, *, until_idle: bool = False, retry_wait: float = 300.0, poll: float = 1.0,
                  stop_event: asyncio.Event | None = None) -> None:
        config = SmtpConfig.from_url(self.settings.smtp_url)
        pool = SmtpPool(config, self.connections, self.settings.max_messages_per_connection)
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.connections * 2)
        self._wake = asyncio.Event()
        self._senders_done = False
        recorder = asyncio.create_task(self._recorder())
        senders = [asyncio.create_task(self._sender(c, queue)) for c in pool.connections]
        loop = asyncio.get_running_loop()
        signing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dkim") if self.signer else None

        def halted() -> bool:
            return self.stopping or (stop_event is not None and stop_event.is_set()) or recorder.done()

        ahead: deque = deque()  # render-pool jobs in flight: (entries, future)
        ahead_jobs = max(1, min(AHEAD, -(-self.batch // CHUNK)))  # no more than a batch: leases must not run out

        async def put_ready(keep: int) -> None:
            while len(ahead) > keep and not halted():
                entries, future = ahead.popleft()
                for ready in await self.collect_chunk(entries, future):
                    await queue.put(ready)

        try:
            while not halted():
                batch = await asyncio.to_thread(self.claim_batch) if self._offload else self.claim_batch()
                if batch and self.pool is not None:
                    ahead.extend(self.submit_chunks(batch))
                    await put_ready(ahead_jobs)  # the helpers render the next jobs while these are sent
                    continue
                if ahead:  # the pool finished (or broke): send what it built first
                    await put_ready(0)
                    if not batch:
                        continue
                if batch:
                    chunk: list[Work] = []
                    for index, (item, recipient, context) in enumerate(batch):
                        if halted():
                            release(self.engine, self.owner, [b[0].id for b in batch[index:]])
                            break
                        work = self.build_work(item, recipient, context)
                        if work is not None:
                            chunk.append(work)
                        if len(chunk) >= 8 or index == len(batch) - 1:
                            if signing is not None and chunk:
                                await loop.run_in_executor(signing, self._sign, chunk)
                            for ready in chunk:
                                await queue.put(ready)
                            chunk = []
                            await asyncio.sleep(0)  # let the senders and the recorder run
                    continue
                await self._drain_queue(queue)
                self._finalize_all()
                await self._report(force=True)
                due = self._next_due()
                if until_idle and (due is None or due > retry_wait):
                    break
                wait = poll if due is None else min(due + 0.02, poll)
                if stop_event is not None:
                    try:
                        await asyncio.wait_for(stop_event.wait(), timeout=wait)
                    except asyncio.TimeoutError:
                        pass
                else:
                    await asyncio.sleep(wait)
        finally:
            self.stopping = True
            if ahead:  # claimed but never queued: give them back at once
                release(self.engine, self.owner, [entry[0].id for entries, _ in ahead for entry in entries])
            for _ in senders:
                if all(task.done() for task in senders):
                    break
                await queue.put(None)
            await asyncio.gather(*senders, return_exceptions=True)
            self._senders_done = True
            self._wake.set()
            await asyncio.gather(recorder, return_exceptions=True)
            if self._pending:
                self.record(self._pending)
                self._pending = []
            await pool.close()
            self._close_pool()
            if signing is not None:
                signing.shutdown(wait=True)
            release(self.engine, self.owner)
            self._finalize_all()
            await self._report(force=True)
        if recorder.done() and not recorder.cancelled() and recorder.exception() is not None:
            raise recorder.exception()

    async def _drain_queue(self, queue: asyncio.Queue) -> None:
        """Wait until every queued message was sent and recorded."""
        while not queue.empty() or self._pending or self._busy or self._recording:
            await asyncio.sleep(0.005)
