"""The suppression list as the team sees it: search it, add or remove an address with a reason (in
the audit log, by the address's hash), and open the raw message behind a bounce or complaint."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from gll_mail.addresses import clean_text, email_hash, normalize_email
from gll_mail.errors import GllMailError
from gll_mail.models import InboundMessage, Suppression
from gll_mail.suppressions import REASONS, suppress_by_hand, unsuppress_by_hand
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize


def search(
    session: Session, actor: Actor, *, q: str = "", reason: str = "", limit: int = 50, cursor: int | None = None
) -> tuple[list[Suppression], int | None]:
    """A page of the list, newest first, and the cursor of the next page (None: the last)."""
    authorize(actor, "suppression.view")
    query = select(Suppression)
    q = clean_text(q)
    if q:
        digest = _digest(q)
        like = Suppression.email.ilike("%" + q.replace("%", "").replace("_", "\\_") + "%", escape="\\")
        query = query.where(like | (Suppression.email_hash == digest) if digest else like)
    if reason:
        query = query.where(Suppression.reason == reason)
    if cursor is not None:
        query = query.where(Suppression.id < cursor)
    rows = list(session.exec(query.order_by(Suppression.id.desc()).limit(limit + 1)))
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def _digest(text: str) -> str | None:
    """The hash of a whole address typed in the search box (deleted accounts keep only that)."""
    try:
        return email_hash(normalize_email(text))
    except GllMailError:
        return None


def add(session: Session, actor: Actor, email: str, *, reason: str = "manual", note: str) -> Suppression:
    who = authorize(actor, "suppression.edit")
    if reason not in REASONS:
        raise GllMailError(f"unknown reason {reason!r} (use {', '.join(REASONS)})")
    if not clean_text(note):
        raise GllMailError("say why the address is suppressed (the note goes to the audit log)")
    row = suppress_by_hand(session, email, reason=reason, note=clean_text(note)[:500])
    audit.record(
        session,
        who,
        "suppression.add",
        object_type="suppression",
        object_id=row.email_hash,
        note=note,
        details={"reason": reason},
    )
    return row


def remove(session: Session, actor: Actor, email: str, *, note: str) -> bool:
    """Take an address off the list (it does not re-subscribe anyone)."""
    who = authorize(actor, "suppression.edit")
    if not clean_text(note):
        raise GllMailError("say why the address may be mailed again (the note goes to the audit log)")
    if not unsuppress_by_hand(session, email):
        return False
    digest = email_hash(normalize_email(email))
    audit.record(session, who, "suppression.remove", object_type="suppression", object_id=digest, note=note)
    return True


def inbound_message(session: Session, actor: Actor, inbound_id: int) -> dict[str, Any]:
    """The bounce, complaint or mailto unsubscribe exactly as received (erased with a member's account)."""
    authorize(actor, "suppression.view")
    row = session.get(InboundMessage, inbound_id)
    if row is None:
        raise GllMailError(f"no inbound message {inbound_id}")
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "source": row.source,
        "envelope_from": row.envelope_from,
        "envelope_to": row.envelope_to,
        "kind": row.kind,
        "status": row.status,
        "error": row.error,
        "raw": row.raw.decode("utf-8", "replace"),
    }
