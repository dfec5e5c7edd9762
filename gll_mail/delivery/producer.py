"""The producer side of a :class:`~gll_mail.delivery.drainer.Drainer`: claim a batch of due
deliveries with a lease, re-check each recipient at send time, then render and build the rest — in
the event loop, or for a large campaign in the render helpers
(:mod:`gll_mail.delivery.render_pool`), while the next batch is claimed. DKIM signing runs in
threads or in the helpers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlmodel import Session

from gll_mail.addresses import domain_of
from gll_mail.campaigns.lifecycle import halt
from gll_mail.campaigns.message import MessageBuilder, MessageError
from gll_mail.campaigns.render import Recipient
from gll_mail.delivery.ledger import Work, recheck, record_skipped
from gll_mail.delivery.outbox import Claimed, claim, release, waiting_count
from gll_mail.delivery.render_pool import (
    CHUNK,
    Built,
    Job,
    RenderPool,
    SourceChanged,
    build_one,
    load_builder,
    sign_all,
)
from gll_mail.errors import GllMailError
from gll_mail.models import CampaignStatus, utcnow
from gll_mail.smtp.pool import Prepared


@dataclass
class CampaignContext:
    renderer: object
    builder: MessageBuilder
    recent: deque = field(default_factory=deque)


class Ready(NamedTuple):
    """A claimed row that passed the send-time check: to render and send."""

    claimed: Claimed
    recipient: Recipient
    context: CampaignContext


class Producer:
    """Claims, re-checks and builds for the Drainer that inherits it: it uses the Drainer's engine,
    settings, owner, batch size, sources, signer, render pool and its per-campaign contexts."""

    def _context(self, session: Session, campaign_id: int) -> CampaignContext | None:
        if campaign_id in self.contexts:
            return self.contexts[campaign_id]
        try:
            renderer, builder = load_builder(self.settings, session, campaign_id, self.sources.get(campaign_id))
        except SourceChanged as exc:
            reason = str(exc)
        except (GllMailError, OSError) as exc:
            reason = f"cannot render: {exc}"
        else:
            context = CampaignContext(renderer, builder, deque(maxlen=max(1, self.settings.failure_window)))
            self.contexts[campaign_id] = context
            self._maybe_start_pool(session, campaign_id)
            return context
        halt(self.engine, campaign_id, reason)
        self.halted.add(campaign_id)
        self.contexts[campaign_id] = None
        return None

    def claim_batch(self) -> list[Ready]:
        """Claim a batch and re-check each recipient at send time; what is left to render and send."""
        claimed = claim(
            self.engine,
            self.owner,
            limit=self.batch,
            lease_seconds=self.settings.lease_seconds,
            campaign_ids=self.campaign_ids,
        )
        if not claimed:
            return []
        ready: list[Ready] = []
        with Session(self.engine) as session:
            found = recheck(session.connection(), claimed)
            for campaign_id, status in found.statuses.items():
                if status == CampaignStatus.SENDING and campaign_id in self.halted:
                    self.halted.discard(campaign_id)  # resumed: start afresh
                    self.contexts.pop(campaign_id, None)
            self.halted.update(item.campaign_id for item in found.stopped)
            to_release = [item.id for item in found.stopped]
            for item, recipient in found.eligible:
                context = self._context(session, item.campaign_id)
                if context is None:
                    to_release.append(item.id)
                else:
                    ready.append(Ready(item, recipient, context))
        if to_release:
            release(self.engine, self.owner, to_release)
        if found.skipped:
            self._record_skipped(found.skipped)
        return ready

    def _maybe_start_pool(self, session: Session, campaign_id: int) -> None:
        """Start the render helpers when a campaign with many queued messages comes up."""
        if self.pool is not None or self.render_processes <= 0:
            return
        queued = waiting_count(session.connection(), campaign_id)
        if queued >= max(self.settings.render_pool_min, 1):
            self.pool = RenderPool(self.settings, self.render_processes)

    def build_work(self, item: Claimed, recipient, context: CampaignContext) -> Work | None:
        """Render and build one message (no database); None when it cannot be built (recorded failed)."""
        try:
            built = build_one(context.renderer, context.builder, item.id, item.language, recipient)
        except (MessageError, GllMailError) as exc:
            self._record_skipped([(item, f"failed: {exc}")])
            return None
        return Work(item, recipient.email, domain_of(recipient.email), built.sender, built.data, built.message_id)

    def submit_chunks(self, batch: list[Ready]) -> list[tuple[list[Ready], asyncio.Future]]:
        """Hand a claimed batch to the render pool, in jobs of one campaign each."""
        assert self.pool is not None
        jobs = []
        for start in range(0, len(batch), CHUNK):
            by_campaign: dict[int, list[Ready]] = {}
            for entry in batch[start : start + CHUNK]:
                by_campaign.setdefault(entry.claimed.campaign_id, []).append(entry)
            for campaign_id, entries in by_campaign.items():
                future = self.pool.submit(
                    campaign_id,
                    self.sources.get(campaign_id),
                    [Job(item.id, item.language, recipient) for item, recipient, _ in entries],
                )
                jobs.append((entries, asyncio.wrap_future(future)))
                self.pool_jobs += 1
        return jobs

    async def collect_chunk(self, entries: list[Ready], future: asyncio.Future) -> list[Work]:
        """The messages of one pool job; if the pool broke, build them here instead."""
        try:
            results: list[Built] = await future
        except Exception:
            self._close_pool(cancel=False)  # jobs still running may finish and be used
            works = [w for w in (self.build_work(*entry) for entry in entries) if w is not None]
            if self.signer is not None:  # the helper would have signed them
                await asyncio.to_thread(sign_all, self.signer, works)
            return works
        works, failed = [], []
        for (item, recipient, _), built in zip(entries, results, strict=False):
            if built.error:
                failed.append((item, f"failed: {built.error}"))
            else:
                works.append(
                    Work(
                        item,
                        recipient.email,
                        domain_of(recipient.email),
                        built.sender,
                        Prepared(built.data),
                        built.message_id,
                    )
                )
        if failed:
            self._record_skipped(failed)
        return works

    def _close_pool(self, cancel: bool = True) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            self.render_processes = 0  # do not start another one in this run
            pool.close(cancel=cancel)

    def _record_skipped(self, skipped: list[tuple[Claimed, str]]) -> None:
        with self.engine.begin() as connection:
            record_skipped(connection, self.owner, skipped, utcnow())
