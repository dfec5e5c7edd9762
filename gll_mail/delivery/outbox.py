"""The outbox: one ``Delivery`` row per campaign × recipient, claimed with leases, finalized once.

- :func:`enqueue` expands the audience with ``INSERT INTO delivery … SELECT … WHERE NOT EXISTS``
  in id ranges, so the audience is never loaded into Python and launching twice adds nothing.
- :func:`claim` hands a worker a batch of due rows and a lease on them. On PostgreSQL the rows are
  picked with ``FOR UPDATE SKIP LOCKED``, so any number of workers share a campaign without
  taking the same row; on SQLite the one ``UPDATE … RETURNING`` runs under the database's single
  write lock. A row whose lease expired (its worker died) is claimed again and flagged as a
  possible duplicate: the dead worker may have handed it to the SMTP server already.
- :func:`mark_handed` and :func:`mark_sent` are the two writes per message of the send loop,
  made for a whole group of messages at once (on PostgreSQL one ``UPDATE … FROM unnest(…)``).
- :func:`finalize` marks a campaign ``sent`` (through :func:`gll_mail.campaigns.lifecycle.finish`) only
  when no delivery is left that is not final.
- :func:`cancel_waiting` and :func:`requeue_failed` are the outbox's part of cancelling a campaign and
  of retrying its failed messages (:mod:`gll_mail.delivery.control` pairs them with the transition).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from gll_mail.campaigns import lifecycle
from gll_mail.campaigns.audience import audience_select
from gll_mail.db import is_sqlite
from gll_mail.errors import GllMailError
from gll_mail.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    utcnow,
)

ENQUEUE_BATCH = 50_000
FINAL = DeliveryStatus.final()
D = Delivery.__table__
C = Campaign.__table__


class OutboxError(GllMailError):
    pass


def enqueue(engine: Engine, campaign_id: int, *, batch: int = ENQUEUE_BATCH) -> int:
    """Add a queued delivery for every audience member who has none yet; the number added.

    Each id range is its own transaction, so a crash midway leaves whole batches, and the next
    launch adds only what is missing.
    """
    added = 0
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise OutboxError(f"no campaign with id {campaign_id}")
        low, high = session.execute(select(func.min(Subscriber.id), func.max(Subscriber.id))).one()
    if low is None:
        return 0
    if not is_sqlite(engine):
        # fresh statistics: right after a big import the planner otherwise guesses "1 row" and
        # picks a plan that is 20x slower for the INSERT … SELECT
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE subscriber")
            connection.exec_driver_sql("ANALYZE delivery")
    now = utcnow()
    start = low
    while start <= high:
        end = start + batch
        with Session(engine) as session:
            audience = audience_select(session, campaign.audience, campaign=campaign).order_by(None)
            audience = audience.where(Subscriber.id >= start, Subscriber.id < end).subquery()
            rows = select(
                literal(campaign_id),
                audience.c.id,
                literal(DeliveryStatus.QUEUED.value),
                audience.c.language,
                literal(0),
                literal(""),
                literal(False),
                literal(now, D.c.created_at.type),
            )
            columns = [
                "campaign_id",
                "subscriber_id",
                "status",
                "language",
                "attempts",
                "last_error",
                "possible_duplicate",
                "created_at",
            ]
            if is_sqlite(engine):
                statement = insert(D).from_select(
                    columns,
                    rows.where(~exists().where(D.c.campaign_id == campaign_id, D.c.subscriber_id == audience.c.id)),
                )
            else:
                # the unique (campaign, subscriber) index does the dedup: an anti-join planned on
                # statistics of a still-empty outbox degrades to a scan per row (9 s for 30,000)
                statement = (
                    pg_insert(D)
                    .from_select(columns, rows)
                    .on_conflict_do_nothing(index_elements=["campaign_id", "subscriber_id"])
                )
            result = session.execute(statement, execution_options={"preserve_rowcount": True})
            added += max(result.rowcount or 0, 0)
            session.commit()
        start = end
    return added


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    campaign_id: int
    subscriber_id: int
    language: str
    attempts: int
    taken_over: bool  # its previous lease expired: a dead worker may have sent it


def _due(now: datetime, campaign_ids: list[int] | None):
    running = select(C.c.id).where(C.c.status == CampaignStatus.SENDING.value)
    if campaign_ids is not None:
        running = running.where(C.c.id.in_(campaign_ids))
    return and_(
        D.c.campaign_id.in_(running.scalar_subquery()),
        # redundant with the OR below, but it lets the planner walk ix_delivery_claim instead of
        # every row of the campaign (sent ones included): 4 ms instead of 430 ms at 1,000,000
        D.c.status.in_((DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)),
        or_(
            and_(
                D.c.status == DeliveryStatus.QUEUED.value,
                or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= now),
            ),
            and_(D.c.status == DeliveryStatus.SENDING.value, D.c.lease_expires_at < now),
        ),
    )


TAKEOVER = "possible duplicate: the lease of "


def claim(
    engine: Engine, owner: str, *, limit: int, lease_seconds: float, campaign_ids: list[int] | None = None
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries of running campaigns to ``owner``.

    A row still ``sending`` under an expired lease that was marked as handed to the SMTP server
    (its ``message_id`` is set just before) is flagged ``possible_duplicate`` in the same statement
    (its ``last_error`` names the dead owner), so the flag survives any later crash. Rows the dead
    worker had claimed but not yet handed over are taken over without the flag.
    """
    now = utcnow()
    # No ORDER BY: sorting every due row would cost a scan of the whole outbox per claim. The
    # index hands fresh rows out in id order anyway (campaign, status, next_attempt_at, id).
    picked = select(D.c.id).where(_due(now, campaign_ids)).limit(limit)
    if not is_sqlite(engine):
        picked = picked.with_for_update(skip_locked=True)
    was_sending = D.c.status == DeliveryStatus.SENDING.value
    was_handed = and_(was_sending, D.c.message_id.is_not(None))  # marked just before it went to the server
    statement = (
        update(D)
        .where(D.c.id.in_(picked.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=D.c.attempts + 1,
            possible_duplicate=case((was_handed, True), else_=D.c.possible_duplicate),
            last_error=case(
                (was_handed, literal(TAKEOVER) + func.coalesce(D.c.lease_owner, "?") + " expired"), else_=D.c.last_error
            ),
        )
        .returning(D.c.id, D.c.campaign_id, D.c.subscriber_id, D.c.language, D.c.attempts, D.c.last_error)
    )
    with engine.begin() as connection:
        rows = connection.execute(statement).all()
    return sorted(
        (Claimed(r[0], r[1], r[2], r[3], r[4], r[5].startswith(TAKEOVER)) for r in rows),
        key=lambda c: c.id,
    )


# where a row goes when it is given back or waits for a retry: queued, unless its campaign was
# cancelled meanwhile (then nothing is left waiting in it)
BACK_TO_QUEUE = case(
    (
        exists().where(C.c.id == D.c.campaign_id, C.c.status == CampaignStatus.CANCELLED.value),
        DeliveryStatus.CANCELLED.value,
    ),
    else_=DeliveryStatus.QUEUED.value,
)


def held_by(owner: str, delivery_id, attempts):
    """The condition that ``owner`` still holds its claim of a row (same worker, same attempt):
    an outcome is written only then, never over a newer claim after a lease expired."""
    return and_(
        D.c.id == delivery_id,
        D.c.status == DeliveryStatus.SENDING.value,
        D.c.lease_owner == owner,
        D.c.attempts == attempts,
    )


def release(engine: Engine, owner: str, ids: list[int] | None = None) -> int:
    """Give claimed rows back (a clean stop, a pause): queued again, the attempt not counted."""
    if ids is not None and not ids:
        return 0
    with engine.begin() as connection:
        return release_rows(connection, owner, ids)


def release_rows(connection: Connection, owner: str, ids: list[int] | None = None) -> int:
    """:func:`release` inside the caller's transaction (the send loop's group commit)."""
    condition = and_(D.c.lease_owner == owner, D.c.status == DeliveryStatus.SENDING.value)
    if ids is not None:
        condition = and_(condition, D.c.id.in_(ids))
    attempts = D.c.attempts - 1
    return connection.execute(
        update(D)
        .where(condition)
        .values(
            status=BACK_TO_QUEUE,
            lease_owner=None,
            lease_expires_at=None,
            last_error="",
            message_id=None,
            attempts=func.max(attempts, 0) if connection.dialect.name == "sqlite" else func.greatest(attempts, 0),
        )
    ).rowcount


_HANDED = (
    update(D)
    .where(held_by(bindparam("b_owner"), bindparam("b_id"), bindparam("b_attempts")))
    .values(message_id=bindparam("b_mid"), lease_expires_at=bindparam("b_until"))
)
_SENT = (
    update(D)
    .where(held_by(bindparam("b_owner"), bindparam("b_id"), bindparam("b_attempts")))
    .values(
        status=DeliveryStatus.SENT.value,
        sent_at=bindparam("b_now"),
        smtp_code=250,
        message_id=bindparam("b_mid"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
# PostgreSQL: one statement for the whole group instead of one per row (a tenth of the server's work)
_HANDED_PG = text(
    "UPDATE delivery AS d SET message_id = v.mid, lease_expires_at = :until "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:mids AS text[]), CAST(:attempts AS integer[])) AS v(id, mid, attempts) "
    "WHERE d.id = v.id AND d.status = 'sending' AND d.lease_owner = :owner AND d.attempts = v.attempts"
)
_SENT_PG = text(
    "UPDATE delivery AS d SET status = 'sent', sent_at = :now, smtp_code = 250, message_id = v.mid, "
    "lease_owner = NULL, lease_expires_at = NULL "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:mids AS text[]), CAST(:attempts AS integer[])) AS v(id, mid, attempts) "
    "WHERE d.id = v.id AND d.status = 'sending' AND d.lease_owner = :owner AND d.attempts = v.attempts"
)


def mark_handed(connection: Connection, owner: str, until: datetime, rows: list[tuple[int, str, int]]) -> int:
    """Record the Message-ID of each (id, message_id, attempts) about to be handed to the SMTP server,
    and renew its lease, where ``owner`` still holds that claim. Returns how many rows were marked."""
    if not rows:
        return 0
    if connection.dialect.name == "postgresql":
        ids, mids, attempts = (list(column) for column in zip(*rows, strict=False))
        return connection.execute(
            _HANDED_PG, {"ids": ids, "mids": mids, "attempts": attempts, "until": until, "owner": owner}
        ).rowcount
    result = connection.execute(
        _HANDED, [{"b_id": i, "b_mid": m, "b_attempts": a, "b_owner": owner, "b_until": until} for i, m, a in rows]
    )
    return result.rowcount if connection.dialect.supports_sane_multi_rowcount else -1


def mark_sent(connection: Connection, owner: str, now: datetime, rows: list[tuple[int, str, int]]) -> None:
    """Final ``sent`` for each (id, message_id, attempts) the SMTP server accepted, where ``owner``
    still holds that claim (if its lease ran out, the worker that took the row over records it)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        ids, mids, attempts = (list(column) for column in zip(*rows, strict=False))
        connection.execute(_SENT_PG, {"ids": ids, "mids": mids, "attempts": attempts, "now": now, "owner": owner})
        return
    connection.execute(
        _SENT, [{"b_id": i, "b_mid": m, "b_attempts": a, "b_owner": owner, "b_now": now} for i, m, a in rows]
    )


def pending_count(session: Session, campaign_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(D).where(D.c.campaign_id == campaign_id, D.c.status.not_in(FINAL))
    ).scalar_one()


def finalize(engine: Engine, campaign_id: int) -> bool:
    """Mark a sending campaign ``sent`` if, and only if, every delivery is final. True when it did."""
    return lifecycle.finish(engine, campaign_id)


def cancel_waiting(connection: Connection, campaign_id: int) -> int:
    """Queued rows of a campaign being cancelled become ``cancelled`` (claimed ones follow when
    they are given back or wait for a retry: :data:`BACK_TO_QUEUE`). How many."""
    return connection.execute(
        update(D)
        .where(D.c.campaign_id == campaign_id, D.c.status == DeliveryStatus.QUEUED.value)
        .values(status=DeliveryStatus.CANCELLED.value)
    ).rowcount


def requeue_failed(connection: Connection, campaign_id: int) -> int:
    """A campaign's failed rows queued again as if new (attempts from zero). How many."""
    return connection.execute(
        update(D)
        .where(D.c.campaign_id == campaign_id, D.c.status == DeliveryStatus.FAILED.value)
        .values(
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            next_attempt_at=None,
            lease_owner=None,
            lease_expires_at=None,
        )
    ).rowcount


def has_deliveries(connection: Connection, campaign_id: int) -> bool:
    """Whether a campaign was ever launched (its audience is in the outbox)."""
    return connection.execute(select(D.c.id).where(D.c.campaign_id == campaign_id).limit(1)).first() is not None


def running(connection: Connection, campaign_ids: list[int] | None = None) -> list[int]:
    """The ids of the campaigns that are ``sending`` (of ``campaign_ids``, when given)."""
    query = select(C.c.id).where(C.c.status == CampaignStatus.SENDING.value)
    if campaign_ids is not None:
        query = query.where(C.c.id.in_(campaign_ids))
    return list(connection.execute(query).scalars())


def next_due(connection: Connection, campaign_ids: list[int]) -> datetime | None:
    """When the earliest queued retry or running lease of these campaigns comes due (None: nothing waits)."""
    if not campaign_ids:
        return None
    retry = connection.execute(
        select(func.min(D.c.next_attempt_at)).where(
            D.c.campaign_id.in_(campaign_ids), D.c.status == DeliveryStatus.QUEUED.value
        )
    ).scalar()
    lease = connection.execute(
        select(func.min(D.c.lease_expires_at)).where(
            D.c.campaign_id.in_(campaign_ids), D.c.status == DeliveryStatus.SENDING.value
        )
    ).scalar()
    times = [t for t in (retry, lease) if t is not None]
    return min(times) if times else None


def waiting_count(connection: Connection, campaign_id: int) -> int:
    """A campaign's messages not yet sent nor given up: queued or claimed."""
    return connection.execute(
        select(func.count())
        .select_from(D)
        .where(
            D.c.campaign_id == campaign_id, D.c.status.in_((DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value))
        )
    ).scalar_one()


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Deliveries by status, plus ``possible_duplicates`` and ``deferred`` (queued after a failed try)."""
    found = dict(
        session.execute(
            select(D.c.status, func.count()).where(D.c.campaign_id == campaign_id).group_by(D.c.status)
        ).all()
    )
    result = {str(s): found.get(str(s), 0) for s in DeliveryStatus}
    result["possible_duplicates"] = session.execute(
        select(func.count()).select_from(D).where(D.c.campaign_id == campaign_id, D.c.possible_duplicate.is_(True))
    ).scalar_one()
    result["deferred"] = session.execute(
        select(func.count())
        .select_from(D)
        .where(D.c.campaign_id == campaign_id, D.c.status == DeliveryStatus.QUEUED.value, D.c.attempts > 0)
    ).scalar_one()
    result["total"] = sum(found.values())
    return result


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


def summary(engine: Engine, campaign_id: int) -> SendSummary:
    """A campaign's figures: deliveries by outcome, with its status and the reason of a pause."""
    with Session(engine) as session:
        found = counts(session, campaign_id)
        campaign = session.get(Campaign, campaign_id)
    return SendSummary(
        sent=found["sent"],
        failed=found["failed"],
        suppressed=found["suppressed"],
        deferred=found["deferred"],
        possible_duplicates=found["possible_duplicates"],
        cancelled=found["cancelled"],
        remaining=found["queued"] + found["sending"],
        total=found["total"],
        status=campaign.status if campaign else "",
        paused_reason=campaign.paused_reason if campaign else "",
    )


@dataclass
class Snapshot:
    """What a progress display shows."""

    total: int
    sent: int
    failed: int
    suppressed: int
    deferred: int
    remaining: int
    rate: float  # messages per second since the start
    eta: float | None  # seconds

    @classmethod
    def of(cls, figures: SendSummary, rate: float) -> Snapshot:
        return cls(
            figures.total,
            figures.sent,
            figures.failed,
            figures.suppressed,
            figures.deferred,
            figures.remaining,
            rate,
            figures.remaining / rate if rate > 0 else None,
        )
