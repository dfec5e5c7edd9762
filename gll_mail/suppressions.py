"""The suppression list: addresses that must never be mailed again (hashed, so nothing else remains)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from gll_mail.addresses import email_hash, normalize_email
from gll_mail.events import record_event
from gll_mail.models import EventType, Subscriber, SubscriberStatus, Suppression, utcnow

REASONS = ("hard-bounce", "soft-bounce", "complaint", "unsubscribe", "deleted", "manual")
STATUS_FOR_REASON = {
    "hard-bounce": SubscriberStatus.BOUNCED,
    "soft-bounce": SubscriberStatus.BOUNCED,
    "complaint": SubscriberStatus.COMPLAINED,
}


def is_suppressed(session: Session, normalized_email: str) -> bool:
    digest = email_hash(normalized_email)
    return session.exec(select(Suppression.id).where(Suppression.email_hash == digest)).first() is not None


def suppressed_hashes(session: Session, normalized_emails: list[str]) -> set[str]:
    """Which of these addresses are suppressed (one query for a batch)."""
    hashes = {email_hash(e): e for e in normalized_emails}
    if not hashes:
        return set()
    found = session.exec(select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes))))
    return {hashes[h] for h in found}


def suppress(
    session: Session,
    email: str,
    *,
    reason: str,
    source: str = "",
    note: str = "",
    keep_address: bool = True,
    subscriber: Subscriber | None = None,
) -> Suppression:
    """Add an address (idempotent). ``keep_address=False`` stores only its hash (deleted accounts).

    A subscriber with that address stops being mailable at once (status bounced, complained or
    unsubscribed), so audiences, which select by status, never include them. Pass ``subscriber``
    when the caller has it loaded already (saves a query on the bounce hot path).
    """
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    normalized = normalize_email(email)
    if subscriber is None or subscriber.email != normalized:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == normalized)).first()
    if subscriber is not None and subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        subscriber.status = STATUS_FOR_REASON.get(reason, SubscriberStatus.UNSUBSCRIBED)
        subscriber.updated_at = utcnow()
        session.add(subscriber)
    digest = email_hash(normalized)
    existing = session.exec(select(Suppression).where(Suppression.email_hash == digest)).first()
    if existing is not None:
        if not keep_address:  # and not in the note either (a bounce diagnostic often quotes it)
            existing.email = None
            existing.note = re.sub(re.escape(normalized), "[erased]", existing.note or "", flags=re.I)
            session.add(existing)
        return existing
    row = Suppression(
        email_hash=digest, email=normalized if keep_address else None, reason=reason, source=source, note=note
    )
    session.add(row)
    session.flush()
    return row


def unsuppress(session: Session, email: str) -> bool:
    row = session.exec(select(Suppression).where(Suppression.email_hash == email_hash(normalize_email(email)))).first()
    if row is None:
        return False
    session.delete(row)
    return True


def list_suppressions(session: Session) -> list[Suppression]:
    return list(session.exec(select(Suppression).order_by(Suppression.created_at.desc())))


def suppress_by_hand(session: Session, email: str, *, reason: str = "manual", note: str = "") -> Suppression:
    """`gll-mail suppressions add`: suppress, and record the decision (with the member when known)."""
    row = suppress(session, email, reason=reason, source="cli", note=note)
    record_event(
        session,
        EventType.SUPPRESSED,
        source="cli",
        subscriber=_member(session, email),
        reason=reason,
        note=note or None,
        email_hash=row.email_hash,
    )
    return row


def unsuppress_by_hand(session: Session, email: str) -> bool:
    """`gll-mail suppressions remove`: take the address off the list, and record it."""
    if not unsuppress(session, email):
        return False
    record_event(
        session,
        EventType.UNSUPPRESSED,
        source="cli",
        subscriber=_member(session, email),
        email_hash=email_hash(normalize_email(email)),
    )
    return True


def _member(session: Session, email: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.email == normalize_email(email))).first()
