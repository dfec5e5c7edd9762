"""Bounce intake: store every message raw first, then process it; failed ones wait for a retry.

``store`` commits the raw bytes in their own transaction before any processing, so a crash or a
bug in processing never loses a message (`gll-mail bounces retry` processes ``failed`` and ``new``
ones again). ``BounceHandler`` is the aiosmtpd handler of `gll-mail bounces receive`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gll_mail.bounces import classify
from gll_mail.campaigns.records import linked_campaign
from gll_mail.db import session_scope
from gll_mail.events import record_event
from gll_mail.members import preferences
from gll_mail.models import (
    Delivery,
    Event,
    EventType,
    InboundMessage,
    InboundStatus,
    Subscriber,
    utcnow,
)
from gll_mail.settings import Settings
from gll_mail.suppressions import suppress

log = logging.getLogger(__name__)

SOFT_THRESHOLD = 3
SOFT_WINDOW = timedelta(days=15)


@dataclass
class BounceOutcome:
    kind: str
    action: str  # suppressed, counted, unsubscribed, ignored, unmatched, forged
    subscriber_id: int | None = None


def store(
    engine: Engine,
    raw: bytes,
    *,
    source: str,
    envelope_from: str = "",
    envelope_to: str = "",
    source_key: str | None = None,
) -> int | None:
    """Commit the raw message; ``None`` if ``source_key`` was stored before (idempotent re-scan)."""
    try:
        with session_scope(engine) as session:
            row = InboundMessage(
                raw=raw,
                source=source[:300],
                source_key=source_key,
                envelope_from=envelope_from[:320],
                envelope_to=envelope_to[:1000],
            )
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return None


def store_many(engine: Engine, items: list[tuple[bytes, str, str, str]]) -> list[int | None]:
    """Commit a batch of raw messages in one transaction: ``(raw, source, envelope_to, source_key)``.

    Returns the new row id per item, ``None`` where the key was stored before (idempotent re-scan).
    One commit per batch instead of per message is what makes a Maildir scan fast; the guarantee
    is the same: every message is committed raw before any of them is processed.
    """
    keys = [key for _raw, _source, _to, key in items]
    table = InboundMessage.__table__
    with session_scope(engine) as session:
        known = set(session.exec(select(InboundMessage.source_key).where(InboundMessage.source_key.in_(keys))))
        fresh: list[dict] = []
        for raw, source, envelope_to, key in items:
            if key not in known:
                known.add(key)
                fresh.append(
                    {
                        "raw": raw,
                        "source": source[:300],
                        "source_key": key,
                        "envelope_from": "",
                        "envelope_to": envelope_to[:1000],
                        "status": InboundStatus.NEW,
                        "kind": "",
                        "error": "",
                        "attempts": 0,
                        "received_at": utcnow(),
                    }
                )
        ids: dict[str, int] = {}
        if fresh:
            # Core executemany with RETURNING: no ORM object per message on the hot path
            result = session.connection().execute(
                table.insert().returning(table.c.id, table.c.source_key, sort_by_parameter_order=True), fresh
            )
            ids = {key: mid for mid, key in result}
        return [ids.pop(key, None) for _raw, _source, _to, key in items]


def classify_many(settings: Settings, messages: list[tuple[bytes, str]]) -> list[classify.BounceResult]:
    """Classify ``(raw, envelope_to)`` pairs; pure CPU work, run in a helper process by big scans."""
    return [classify.classify(settings, raw, envelope_to) for raw, envelope_to in messages]


def process_many(
    engine: Engine, settings: Settings, message_ids: list[int], results: dict[int, classify.BounceResult] | None = None
) -> list[BounceOutcome | None]:
    """Process stored messages in one transaction; if any of them fails, one by one instead.

    The fast path commits a whole batch at once. When a message's processing raises, the batch is
    rolled back and every message is processed in its own transaction (``process_one``), so the
    failing one alone is marked ``failed`` with its error, for `gll-mail bounces retry`.
    """
    try:
        with session_scope(engine) as session:
            rows = {
                row.id: row for row in session.exec(select(InboundMessage).where(InboundMessage.id.in_(message_ids)))
            }
            outcomes: list[BounceOutcome | None] = []
            # apply() flushes where a later query must see its rows (suppressions, soft-bounce
            # counts); no flush before every other lookup of the batch
            session.autoflush = False
            for message_id in message_ids:
                row = rows.get(message_id)
                if row is None or row.status == InboundStatus.PROCESSED:
                    outcomes.append(None)
                    continue
                outcome = apply(
                    session,
                    settings,
                    row.raw,
                    row.envelope_to,
                    inbound_id=row.id,
                    result=(results or {}).get(message_id),
                )
                row.status, row.kind, row.error = InboundStatus.PROCESSED, outcome.kind, ""
                row.attempts += 1
                row.processed_at = utcnow()
                session.add(row)
                outcomes.append(outcome)
            return outcomes
    except Exception:
        log.warning("a batch of %d inbound messages failed; processing them one by one", len(message_ids))
        return [process_one(engine, settings, message_id) for message_id in message_ids]


def already_stored(engine: Engine, source_key: str) -> bool:
    with Session(engine) as session:
        return (
            session.exec(select(InboundMessage.id).where(InboundMessage.source_key == source_key)).first() is not None
        )


def process_one(engine: Engine, settings: Settings, message_id: int) -> BounceOutcome | None:
    """Process one stored message; on error mark it ``failed`` with the error and return None."""
    try:
        with session_scope(engine) as session:
            row = session.get(InboundMessage, message_id)
            if row is None or row.status == InboundStatus.PROCESSED:
                return None
            outcome = apply(session, settings, row.raw, row.envelope_to, inbound_id=row.id)
            row.status, row.kind, row.error = InboundStatus.PROCESSED, outcome.kind, ""
            row.attempts += 1
            row.processed_at = utcnow()
            session.add(row)
            return outcome
    except Exception as exc:
        log.exception("processing inbound message %s failed", message_id)
        with session_scope(engine) as session:
            row = session.get(InboundMessage, message_id)
            if row is not None:
                row.status = InboundStatus.FAILED
                row.error = f"{exc.__class__.__name__}: {exc}"[:2000]
                row.attempts += 1
                session.add(row)
        return None


def receive(engine: Engine, settings: Settings, raw: bytes, **kw) -> BounceOutcome | None:
    message_id = store(engine, raw, **kw)
    if message_id is None:
        return None
    return process_one(engine, settings, message_id)


def retry(engine: Engine, settings: Settings) -> tuple[int, int]:
    """Process every ``new`` or ``failed`` message again. Returns (processed, still failing)."""
    with Session(engine) as session:
        ids = list(
            session.exec(
                select(InboundMessage.id)
                .where(InboundMessage.status.in_([InboundStatus.NEW, InboundStatus.FAILED]))
                .order_by(InboundMessage.id)
            )
        )
    ok = failed = 0
    for mid in ids:
        if process_one(engine, settings, mid) is not None:
            ok += 1
        else:
            failed += 1
    return ok, failed


def _find(session: Session, result: classify.BounceResult) -> tuple[Delivery | None, Subscriber | None]:
    def member(delivery: Delivery) -> Subscriber | None:  # None: the account was deleted since
        return session.get(Subscriber, delivery.subscriber_id) if delivery.subscriber_id is not None else None

    if result.subscriber_id is not None:  # transactional mail: no delivery, the member is named
        return None, session.get(Subscriber, result.subscriber_id)
    if result.delivery_id is not None:
        delivery = session.get(Delivery, result.delivery_id)
        if delivery is not None:
            return delivery, member(delivery)
    for mid in result.message_ids:
        delivery = session.exec(select(Delivery).where(Delivery.message_id == mid)).first()
        if delivery is not None:
            return delivery, member(delivery)
    for addr in result.recipients:
        sub = session.exec(select(Subscriber).where(Subscriber.email == addr.lower())).first()
        if sub is not None:
            delivery = session.exec(
                select(Delivery).where(Delivery.subscriber_id == sub.id).order_by(Delivery.id.desc())
            ).first()
            if delivery is not None:  # only addresses we actually mailed
                return delivery, sub
    return None, None


def apply(
    session: Session,
    settings: Settings,
    raw: bytes,
    envelope_to: str = "",
    *,
    inbound_id: int | None = None,
    result: classify.BounceResult | None = None,
) -> BounceOutcome:
    """Decide what one inbound message means and record it. ``result``: its classification, when
    it was computed already (a Maildir scan classifies in a second process while this one writes)."""
    if result is None:
        result = classify.classify(settings, raw, envelope_to)
    if result.verp == "forged":
        log.warning("forged VERP token in inbound message %s ignored", inbound_id)
        return _ignored(session, BounceOutcome("forged-verp", "forged"), result, inbound_id)
    if result.kind == classify.UNSUBSCRIBE:
        return _unsubscribe(session, result, inbound_id)
    if result.test_send:  # a test send went to the team's own address: never a member's bounce
        return _ignored(session, BounceOutcome(result.kind, "test-send"), result, inbound_id)
    delivery, sub = _find(session, result)
    if result.kind in (classify.AUTO_REPLY, classify.CHALLENGE, classify.UNKNOWN):
        # never a bounce; shown with the member it answered, when it can be told
        return _ignored(session, BounceOutcome(result.kind, "ignored"), result, inbound_id, delivery, sub)
    if sub is None:
        return _ignored(session, BounceOutcome(result.kind, "unmatched"), result, inbound_id)
    match = _match_rule(result, delivery, sub)
    if match == "address":
        # neither our signed VERP token nor one of our (unguessable) Message-IDs: anybody can write
        # a DSN or an ARF report naming a member's address to postmaster@ and have them suppressed
        log.warning("inbound message %s names a member but proves nothing: recorded, not acted on", inbound_id)
        return _ignored(session, BounceOutcome(result.kind, "unverified"), result, inbound_id, delivery, sub)
    evidence = {
        "source": "bounce",
        "subscriber": sub,
        "delivery_id": delivery.id if delivery else None,
        "campaign_id": delivery.campaign_id if delivery else None,
        "status": result.status or None,
        "diagnostic": result.diagnostic or None,
        "rule": result.rule,
        "match": match,
        "inbound_id": inbound_id,
    }
    if result.kind == classify.COMPLAINT:
        record_event(session, EventType.COMPLAINT, **evidence)
        suppress(session, sub.email, reason="complaint", source="bounce", note=result.diagnostic[:500], subscriber=sub)
        sub.status = "complained"
        session.add(sub)
        record_event(session, EventType.SUPPRESSED, subscriber=sub, source="bounce", reason="complaint")
        return BounceOutcome(result.kind, "suppressed", sub.id)
    if result.kind == classify.HARD:
        record_event(session, EventType.BOUNCE_HARD, **evidence)
        suppress(
            session,
            sub.email,
            reason="hard-bounce",
            source="bounce",
            note=f"{result.status} {result.diagnostic}".strip()[:500],
            subscriber=sub,
        )
        record_event(session, EventType.SUPPRESSED, subscriber=sub, source="bounce", reason="hard-bounce")
        return BounceOutcome(result.kind, "suppressed", sub.id)
    record_event(session, EventType.BOUNCE_SOFT, **evidence)
    session.flush()
    since = utcnow() - SOFT_WINDOW
    # messages that soft-bounced, not notices: an MTA's "delayed" warnings at 4 h, 24 h and 48 h
    # about one slow message are one soft bounce
    count = session.exec(
        select(func.count(func.distinct(Event.delivery_id))).where(
            Event.subscriber_id == sub.id, Event.type == EventType.BOUNCE_SOFT, Event.created_at >= since
        )
    ).one()
    if count >= SOFT_THRESHOLD:
        suppress(
            session,
            sub.email,
            reason="soft-bounce",
            source="bounce",
            note=f"{count} messages soft-bounced within {SOFT_WINDOW.days} days",
            subscriber=sub,
        )
        record_event(
            session,
            EventType.SUPPRESSED,
            subscriber=sub,
            source="bounce",
            reason="soft-bounce",
            rule=f"{SOFT_THRESHOLD} messages soft-bounced within {SOFT_WINDOW.days} days",
            count=count,
        )
        return BounceOutcome(result.kind, "suppressed", sub.id)
    return BounceOutcome(result.kind, "counted", sub.id)


def _ignored(
    session: Session,
    outcome: BounceOutcome,
    result: classify.BounceResult,
    inbound_id: int | None,
    delivery: Delivery | None = None,
    sub: Subscriber | None = None,
) -> BounceOutcome:
    """A message that changes nothing is a decision too: recorded with its evidence."""
    record_event(
        session,
        EventType.BOUNCE_IGNORED,
        source="bounce",
        subscriber=sub,
        delivery_id=delivery.id if delivery else None,
        campaign_id=delivery.campaign_id if delivery else None,
        kind=outcome.kind,
        decision=outcome.action,
        rule=result.rule,
        status=result.status or None,
        diagnostic=result.diagnostic[:500] or None,
        inbound_id=inbound_id,
    )
    return BounceOutcome(outcome.kind, outcome.action, sub.id if sub else None)


def _unsubscribe(session: Session, result: classify.BounceResult, inbound_id: int | None) -> BounceOutcome:
    """The RFC 2369 mailto unsubscribe: the same change as the one-click POST, for the member the
    signed token names; a message without a valid token changes nothing."""
    if not result.public_id:
        log.warning("unsubscribe mail %s ignored: %s", inbound_id, result.diagnostic)
        action = "forged" if result.diagnostic.startswith("token") else "ignored"
        return _ignored(session, BounceOutcome(result.kind, action), result, inbound_id)
    sub = session.exec(select(Subscriber).where(Subscriber.public_id == result.public_id)).first()
    if sub is None:  # the member deleted their account since
        return _ignored(session, BounceOutcome(result.kind, "unmatched"), result, inbound_id)
    campaign_id = linked_campaign(session.connection(), result.campaign_id)
    changed = preferences.unsubscribe(session, sub, source="mailto", campaign_id=campaign_id, inbound_id=inbound_id)
    return BounceOutcome(result.kind, "unsubscribed" if changed else "ignored", sub.id)


def _match_rule(result: classify.BounceResult, delivery: Delivery | None, sub: Subscriber | None = None) -> str:
    if result.verp == "valid" and delivery is not None and delivery.id == result.delivery_id:
        return "verp"
    if result.verp == "valid" and sub is not None and sub.id == result.subscriber_id:
        return "verp"
    if delivery is not None and delivery.message_id in result.message_ids:
        return "message-id"
    return "address"


class BounceHandler:
    """aiosmtpd handler: accept mail for the bounce domain, store raw, then process."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not address.lower().endswith("@" + self.settings.bounce_domain.lower()):
            return "550 5.1.1 not a bounce address here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        message_id = await loop.run_in_executor(
            None,
            lambda: store(
                self.engine,
                raw,
                source="smtp",
                envelope_from=envelope.mail_from or "",
                envelope_to=",".join(envelope.rcpt_tos),
            ),
        )
        # stored and committed: accept, then process (a processing error leaves it `failed`)
        if message_id is not None:
            await loop.run_in_executor(None, process_one, self.engine, self.settings, message_id)
        return "250 Message accepted"


def make_controller(engine: Engine, settings: Settings, host: str = "127.0.0.1", port: int = 2525):
    from aiosmtpd.controller import Controller

    return Controller(BounceHandler(engine, settings), hostname=host, port=port, decode_data=False)
