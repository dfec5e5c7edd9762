"""The audit log: one row per team action (who, when, what, on which object, content hash before and
after). The author's name is kept on the row, so the log still says who after an account is deleted."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, AuditEntry, utcnow

COMMAND_LINE = "(command line)"  # the author of actions run from the CLI without --as
SYSTEM = "(system)"  # the author of what the engine does by itself (voiding on a change)


def record(
    session: Session,
    user: AdminUser | str | None,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    hash_before: str = "",
    hash_after: str = "",
    note: str = "",
    details: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AuditEntry:
    """Add one entry; ``user`` is an account, or a name such as :data:`SYSTEM` for actions nobody signed."""
    if isinstance(user, AdminUser):
        user_id, username = user.id, user.username
    else:
        user_id, username = None, user or COMMAND_LINE
    entry = AuditEntry(
        created_at=clock(),
        user_id=user_id,
        username=username,
        action=action,
        object_type=object_type,
        object_id=object_id[:200],
        hash_before=hash_before or "",
        hash_after=hash_after or "",
        note=note or "",
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def parse_object(text: str) -> tuple[str, str]:
    """``campaign:SLUG`` → ("campaign", "SLUG"); ``campaign`` alone → ("campaign", "")."""
    kind, _, ident = text.partition(":")
    if not re.fullmatch(r"[a-z][a-z-]*", kind):
        raise GllMailError(f"--object must look like campaign:SLUG or admin:USERNAME, not {text!r}")
    return kind, ident


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m`` (that long ago) or an ISO date / date-time (UTC unless it has a zone)."""
    now = now or utcnow()
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        return now - timedelta(**{unit_name: amount})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise GllMailError(
            f"--since must be a date (2026-11-01), a date-time or a span (7d, 12h), not {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def entries(
    session: Session,
    *,
    since: datetime | None = None,
    object: tuple[str, str] | str | None = None,
    action: str | None = None,
    limit: int | None = None,
    before: int | None = None,
) -> list[AuditEntry]:
    """The log, oldest first; ``object`` is ("campaign", "slug") or "campaign:slug" (an empty id: every
    object of that type). ``before``: only entries older than the entry of that id (the next page of
    a newest-first list that ended with it)."""
    query = select(AuditEntry)
    if before is not None:
        last = session.get(AuditEntry, before)
        if last is not None:
            query = query.where(
                (AuditEntry.created_at < last.created_at)
                | ((AuditEntry.created_at == last.created_at) & (AuditEntry.id < last.id))
            )
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if object is not None:
        kind, ident = parse_object(object) if isinstance(object, str) else object
        query = query.where(AuditEntry.object_type == kind)
        if ident:
            query = query.where(AuditEntry.object_id == ident)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if limit is not None:
        query = query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
        return list(reversed(session.exec(query).all()))
    return list(session.exec(query.order_by(AuditEntry.created_at, AuditEntry.id)))


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "user_id": entry.user_id,
        "username": entry.username,
        "action": entry.action,
        "object": f"{entry.object_type}:{entry.object_id}" if entry.object_type else "",
        "hash_before": entry.hash_before,
        "hash_after": entry.hash_after,
        "note": entry.note,
        "details": entry.details,
    }


def as_line(entry: AuditEntry) -> str:
    """One line for a terminal: time, who, what, object, short hashes, note."""
    parts = [f"{entry.created_at:%Y-%m-%d %H:%M:%S}Z", entry.username, entry.action]
    if entry.object_type:
        parts.append(f"{entry.object_type}:{entry.object_id}")
    if entry.hash_before or entry.hash_after:
        parts.append(f"{entry.hash_before[:8] or '-'}→{entry.hash_after[:8] or '-'}")
    if entry.note:
        parts.append(f"“{entry.note}”")
    return "  ".join(parts)
