"""The send loop's writes and checks, as plain functions on a connection (no event loop needed).

- :func:`recheck`: just before rendering, every claimed recipient is checked again — still
  ``active``, not paused, not suppressed, its campaign still ``sending`` — in four queries per
  batch, whatever its size.
- :func:`record_skipped`: recipients that get nothing (no longer mailable) or whose message could
  not be built: ``suppressed`` or ``failed``, with an event.
- :func:`record_outcomes`: the group commit of the senders' results — ``sent``, retried with
  backoff, ``failed``, given back — and the "handed to the server" marks of the next messages.
- :func:`suppress_hard_bounces`: addresses a server refused as unknown are suppressed.

Every outcome write is guarded by the claim (:func:`gll_mail.delivery.outbox.held_by`): a worker
whose lease ran out never overwrites the row's newer claim.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from gll_mail.addresses import email_hash
from gll_mail.campaigns.render import Recipient
from gll_mail.delivery.outbox import (
    BACK_TO_QUEUE,
    Claimed,
    held_by,
    mark_handed,
    mark_sent,
    release_rows,
)
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
)
from gll_mail.smtp.pool import OK, PERMANENT, UNREACHABLE, SendResult

D = Delivery.__table__
C = Campaign.__table__
E = Event.__table__
FAILURE_MIN_SENDS = 20  # judge the failure rate from this many sends on, not only once the window is full


class Person(NamedTuple):
    """A claimed recipient as the send-time check reads them."""

    id: int
    public_id: str
    email: str
    name: str
    status: str
    paused: bool


@dataclass(slots=True)
class Rechecked:
    statuses: dict[int, str]  # campaign id → its status now
    eligible: list[tuple[Claimed, Recipient]] = field(default_factory=list)  # to render and send
    skipped: list[tuple[Claimed, str]] = field(default_factory=list)  # no longer mailable: why
    stopped: list[Claimed] = field(default_factory=list)  # campaign no longer sending: give back


def recheck(connection: Connection, claimed: list[Claimed]) -> Rechecked:
    """Who of a claimed batch may still be mailed; changes since the enqueue count."""
    sub_ids = [c.subscriber_id for c in claimed]
    people = {
        row.id: row
        for row in (
            Person(*r)
            for r in connection.execute(
                select(
                    Subscriber.id,
                    Subscriber.public_id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.status,
                    Subscriber.paused,
                ).where(Subscriber.id.in_(sub_ids))
            )
        )
    }
    hashes = {email_hash(person.email): person.id for person in people.values()}
    suppressed = {
        hashes[h]
        for h in connection.execute(
            select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes)))
        ).scalars()
    }
    pods: dict[int, list[str]] = {}
    for sid, slug in connection.execute(
        select(PodMembership.subscriber_id, Pod.slug)
        .join(Pod, Pod.id == PodMembership.pod_id)
        .where(PodMembership.subscriber_id.in_(sub_ids), PodMembership.left_at.is_(None))
        .order_by(Pod.slug)
    ):
        pods.setdefault(sid, []).append(slug)
    found = Rechecked(
        dict(connection.execute(select(C.c.id, C.c.status).where(C.c.id.in_({c.campaign_id for c in claimed}))).all())
    )
    for item in claimed:
        if found.statuses.get(item.campaign_id) != CampaignStatus.SENDING:
            found.stopped.append(item)
            continue
        person = people.get(item.subscriber_id)
        if person is None:
            found.skipped.append((item, "deleted"))
        elif person.status != SubscriberStatus.ACTIVE or person.paused:
            found.skipped.append((item, "paused" if person.paused else person.status))
        elif item.subscriber_id in suppressed:
            found.skipped.append((item, "suppressed"))
        else:
            found.eligible.append(
                (
                    item,
                    Recipient(
                        person.public_id,
                        person.email,
                        person.name,
                        item.language,
                        tuple(pods.get(item.subscriber_id, ())),
                    ),
                )
            )
    return found


def _insert_events(connection: Connection, now: datetime, events: list[tuple[str, Claimed, dict]]) -> None:
    if events:
        connection.execute(
            insert(E),
            [
                {
                    "type": str(type_),
                    "created_at": now,
                    "source": "worker",
                    "subscriber_id": item.subscriber_id,
                    "campaign_id": item.campaign_id,
                    "delivery_id": item.id,
                    "is_bot": False,
                    "data": {k: v for k, v in data.items() if v is not None},
                }
                for type_, item, data in events
            ],
        )


def record_skipped(connection: Connection, owner: str, skipped: list[tuple[Claimed, str]], now: datetime) -> None:
    """Rows that get no message: ``failed`` when the reason starts with "failed: ", else ``suppressed``."""
    events = []
    for item, why in skipped:
        failed = why.startswith("failed: ")
        connection.execute(
            update(D)
            .where(held_by(owner, item.id, item.attempts))
            .values(
                status=DeliveryStatus.FAILED.value if failed else DeliveryStatus.SUPPRESSED.value,
                lease_owner=None,
                lease_expires_at=None,
                last_error=why[:1000],
            )
        )
        events.append(
            (EventType.FAILED if failed else EventType.SUPPRESSED, item, {"reason": why, "at": now.isoformat()})
        )
    _insert_events(connection, now, events)


@dataclass(slots=True)
class Work:
    """One message on its way: the claimed row, its recipient and its bytes."""

    claimed: Claimed
    email: str
    domain: str
    sender: str = ""
    data: bytes = b""
    message_id: str = ""
    lost: bool = False  # the claim expired and the row was claimed again: never hand it over


@dataclass(slots=True)
class SendOutcome:
    work: Work | None
    result: SendResult | None  # None: released unsent (campaign halted, worker stopping)
    future: asyncio.Future | None = None
    handing: Work | None = None  # the next message of this connection, about to be handed to the server


@dataclass(slots=True)
class Recorded:
    sent: int = 0
    unreachable: dict[int, str] = field(default_factory=dict)  # campaign id → why it must pause
    bounces: list[tuple[str, Claimed, str]] = field(default_factory=list)  # (address, row, error) to suppress


def record_outcomes(
    connection: Connection,
    owner: str,
    outcomes: list[SendOutcome],
    *,
    now: datetime,
    lease_seconds: float,
    max_attempts: int,
    backoff: Callable[[int], float],
) -> Recorded:
    """Write a group of outcomes, and the marks of the messages about to be handed over.

    This is the hot path of the ledger (about one call per message and connection): prepared
    Core statements, no ORM session. A handed message whose mark did not take (the row was
    claimed again after its lease ran out) gets ``lost`` set: its sender must not send it.
    """
    handing = [o.handing for o in outcomes if o.handing is not None]
    marks = [(w.claimed.id, w.message_id, w.claimed.attempts) for w in handing]
    sent, released, events = [], [], []
    recorded = Recorded()
    for outcome in outcomes:
        work, result = outcome.work, outcome.result
        if work is None:
            continue
        item = work.claimed
        if result is None or result.outcome == UNREACHABLE:
            released.append(item.id)
            if result is not None:
                recorded.unreachable[item.campaign_id] = f"SMTP server unreachable: {result.message}"[:500]
            continue
        if result.outcome == OK:
            sent.append((item.id, work.message_id, item.attempts))
            if item.taken_over:
                events.append((EventType.POSSIBLE_DUPLICATE, item, {"reason": "lease expired; resent"}))
            continue
        error = f"{result.code or ''} {result.message}".strip()[:1000]
        flag = {"possible_duplicate": True} if result.ambiguous else {}
        ours = held_by(owner, item.id, item.attempts)
        if result.outcome == PERMANENT or item.attempts >= max_attempts:
            connection.execute(
                update(D)
                .where(ours)
                .values(
                    status=DeliveryStatus.FAILED.value,
                    smtp_code=result.code,
                    last_error=error,
                    lease_owner=None,
                    lease_expires_at=None,
                    **flag,
                )
            )
            events.append((EventType.FAILED, item, {"code": result.code, "error": error, "attempts": item.attempts}))
            if result.hard_bounce:
                recorded.bounces.append((work.email, item, error))
        else:
            delay = backoff(item.attempts)
            connection.execute(
                update(D)
                .where(ours)
                .values(
                    status=BACK_TO_QUEUE,
                    smtp_code=result.code,
                    last_error=error,
                    next_attempt_at=now + timedelta(seconds=delay),
                    lease_owner=None,
                    lease_expires_at=None,
                    message_id=None,
                    **flag,
                )
            )
            events.append(
                (EventType.DEFERRED, item, {"code": result.code, "error": error, "retry_in": round(delay, 1)})
            )
            if result.ambiguous:
                events.append((EventType.POSSIBLE_DUPLICATE, item, {"reason": error}))
    mark_sent(connection, owner, now, sent)
    if released:
        release_rows(connection, owner, released)
    if marks:
        if mark_handed(connection, owner, now + timedelta(seconds=lease_seconds), marks) == len(marks):
            handing = []  # every mark took: nothing was claimed again
        held = (
            dict(
                connection.execute(
                    select(D.c.id, D.c.attempts).where(
                        D.c.id.in_([w.claimed.id for w in handing]),
                        D.c.lease_owner == owner,
                        D.c.status == DeliveryStatus.SENDING.value,
                    )
                ).all()
            )
            if handing
            else {}
        )
        for work in handing:  # a newer claim of the same row (even our own) has a higher attempt
            work.lost = held.get(work.claimed.id) != work.claimed.attempts
    _insert_events(connection, now, events)
    recorded.sent = len(sent)
    return recorded


def failure_pauses(
    windows: dict[int, deque], outcomes: list[SendOutcome], threshold: float, *, skip=()
) -> dict[int, str]:
    """Campaigns to pause because too many of their latest sends failed, with the reason (naming
    the last failure). ``windows`` keeps each campaign's latest sends (True: accepted); the
    ``outcomes`` just recorded are added to them first."""
    for outcome in outcomes:
        if outcome.work is not None and outcome.result is not None and outcome.result.outcome != UNREACHABLE:
            window = windows.get(outcome.work.claimed.campaign_id)
            if window is not None:
                window.append(outcome.result.outcome == OK)
    reasons = {}
    for campaign_id, window in windows.items():
        if campaign_id in skip or not window.maxlen or len(window) < min(window.maxlen, FAILURE_MIN_SENDS):
            continue
        failures = window.count(False)
        if failures / len(window) >= threshold:
            last = next(
                (
                    o.result
                    for o in reversed(outcomes)
                    if o.work is not None
                    and o.work.claimed.campaign_id == campaign_id
                    and o.result is not None
                    and o.result.outcome != OK
                ),
                None,
            )
            detail = f" (last: {last.code or ''} {last.message})" if last else ""
            reasons[campaign_id] = f"{failures} of the last {len(window)} sends failed{detail}"[:500]
    return reasons


def suppress_hard_bounces(connection: Connection, bounces: list[tuple[str, Claimed, str]]) -> None:
    """Suppress each address a server refused as unknown, with a ``bounce-hard`` event."""
    from gll_mail.suppressions import suppress

    with Session(bind=connection) as session:
        for email, item, error in bounces:
            suppress(
                session, email, reason="hard-bounce", source="smtp", note=f"campaign {item.campaign_id}: {error}"[:500]
            )
            record_event(
                session,
                EventType.BOUNCE_HARD,
                source="worker",
                subscriber_id=item.subscriber_id,
                campaign_id=item.campaign_id,
                delivery_id=item.id,
                error=error,
            )
        session.flush()
