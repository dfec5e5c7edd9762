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

The checks and writes themselves are plain functions on a connection in
:mod:`gll_mail.delivery.ledger`; this module keeps the loop around them. Launching, ``send_now``
and the other campaign operations are in :mod:`gll_mail.delivery.control`; the worker's pauses go
through :func:`gll_mail.campaigns.lifecycle.halt`. A campaign becomes ``sent`` only in
:func:`gll_mail.delivery.outbox.finalize`, when every delivery is final.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from gll_mail.campaigns.lifecycle import halt
from gll_mail.db import is_sqlite
from gll_mail.delivery.ledger import (
    SendOutcome,
    Work,
    failure_pauses,
    record_outcomes,
    suppress_hard_bounces,
)
from gll_mail.delivery.outbox import (
    Snapshot,
    finalize,
    next_due,
    release,
    running,
    summary,
)
from gll_mail.delivery.producer import CampaignContext, Producer
from gll_mail.delivery.ratelimit import SendRateLimiter
from gll_mail.delivery.render_pool import (
    CHUNK,
    RenderPool,
    helper_count,
    sign_all,
)
from gll_mail.models import utcnow
from gll_mail.settings import Settings
from gll_mail.smtp.client import SmtpConfig
from gll_mail.smtp.dkim import DkimSigner
from gll_mail.smtp.pool import UNREACHABLE, SmtpPool

log = logging.getLogger(__name__)
UNREACHABLE_TRIES = (0.2, 0.5, 1.0)
GROUP_WAIT = 0.005  # seconds the recorder waits for more outcomes to commit together
AHEAD = 6  # render-pool jobs kept in flight while the sending process claims and sends


def default_owner() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Drainer(Producer):
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        owner: str | None = None,
        campaign_ids: list[int] | None = None,
        progress: Callable[[Snapshot], None] | None = None,
        sources: dict | None = None,
        connections: int | None = None,
        batch: int | None = None,
    ) -> None:
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
        self.limiter = SendRateLimiter(
            engine,
            rate=settings.rate_per_second,
            per_domain_rate=settings.per_domain_rate,
            per_domain_connections=settings.per_domain_connections,
            owner=self.owner,
            domain_limits=domain_limits,
        )
        self.contexts: dict[int, CampaignContext | None] = {}
        self.halted: set[int] = set()
        self.stopping = False
        self._pending: list[SendOutcome] = []
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

    # -- recorder side --

    def _backoff(self, attempts: int) -> float:
        base = self.settings.retry_base_seconds * (2 ** max(attempts - 1, 0))
        return base * random.uniform(0.5, 1.5)

    def record(self, outcomes: list[SendOutcome]) -> list[tuple[int, str]]:
        """Commit a group of outcomes in one transaction; the campaigns to pause, with the reason."""
        with self.engine.begin() as connection:
            recorded = record_outcomes(
                connection,
                self.owner,
                outcomes,
                now=utcnow(),
                lease_seconds=self.settings.lease_seconds,
                max_attempts=self.settings.max_attempts,
                backoff=self._backoff,
            )
        if recorded.bounces:
            with self.engine.begin() as connection:
                suppress_hard_bounces(connection, recorded.bounces)
        self.sent_here += recorded.sent
        for outcome in outcomes:
            if outcome.work is not None and outcome.result is not None:
                claimed = outcome.work.claimed
                log.info(
                    "delivery %s of campaign %s to a member at %s: %s %s",
                    claimed.id,
                    claimed.campaign_id,
                    outcome.work.domain,
                    outcome.result.outcome,
                    outcome.result.code or "",
                    extra={"campaign_id": claimed.campaign_id, "delivery_id": claimed.id},
                )
        windows = {cid: context.recent for cid, context in self.contexts.items() if context is not None}
        to_pause = recorded.unreachable
        to_pause.update(failure_pauses(windows, outcomes, self.settings.failure_pause_threshold, skip=to_pause))
        return list(to_pause.items())

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
            except Exception as exc:
                for outcome in group:
                    if outcome.future is not None and not outcome.future.done():
                        outcome.future.set_exception(exc)
                raise
            finally:
                self._recording = False
            for campaign_id, reason in pauses:
                halt(self.engine, campaign_id, reason)
                self.halted.add(campaign_id)
            for outcome in group:
                if outcome.future is not None and not outcome.future.done():
                    outcome.future.set_result(None)
            await self._report()

    async def _submit(self, outcome: SendOutcome) -> None:
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
        previous: SendOutcome | None = None
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

    async def _send_one(self, connection, holder: str, work: Work, previous: SendOutcome | None) -> SendOutcome | None:
        if work.claimed.campaign_id in self.halted or self.stopping:
            if previous is not None:
                await self._submit(previous)
            await self._submit(SendOutcome(work, None))
            return None
        carrier = previous if previous is not None else SendOutcome(None, None)
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
        return SendOutcome(work, result)

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
        self.progress(Snapshot.of(figures, self.sent_here / max(now - self.started, 1e-6)))

    def _next_due(self) -> float | None:
        """Seconds until the earliest queued retry or foreign lease of our campaigns comes due."""
        with self.engine.connect() as connection:
            due = next_due(connection, running(connection, self.campaign_ids))
        return None if due is None else max((due - utcnow()).total_seconds(), 0.0)

    def _finalize_all(self) -> None:
        with self.engine.connect() as connection:
            ids = running(connection, self.campaign_ids)
        for campaign_id in ids:
            finalize(self.engine, campaign_id)

    def stop(self) -> None:
        """Finish the messages in flight, give back the rest, and return from :meth:`run`."""
        self.stopping = True

    async def run(
        self,
        *,
        until_idle: bool = False,
        retry_wait: float = 300.0,
        poll: float = 1.0,
        stop_event: asyncio.Event | None = None,
    ) -> None:
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
                            release(self.engine, self.owner, [b.claimed.id for b in batch[index:]])
                            break
                        work = self.build_work(item, recipient, context)
                        if work is not None:
                            chunk.append(work)
                        if len(chunk) >= 8 or index == len(batch) - 1:
                            if signing is not None and chunk:
                                await loop.run_in_executor(signing, sign_all, self.signer, chunk)
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
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(wait)
        finally:
            self.stopping = True
            if ahead:  # claimed but never queued: give them back at once
                release(self.engine, self.owner, [entry.claimed.id for entries, _ in ahead for entry in entries])
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
