"""Idempotency keys of the REST API: the first POST with a key stores its answer, a retry with the
same key (from the same token) gets that answer again and changes nothing. Keys expire after a day.

The key is claimed in its own transaction before the work starts (a unique row per token and key), so
two concurrent retries cannot both do the work: the second sees the claim and is told to retry later
(409) until the first has stored its answer. A failed request (5xx) frees its key."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.models import IdempotencyRecord, utcnow

KEEP = timedelta(hours=24)
MAX_KEY = 200


class IdempotencyConflict(GllMailError):
    """The key was used for another request, or its first request is still running."""


@dataclass(frozen=True)
class Stored:
    status: int
    body: str
    headers: dict[str, Any]


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(
    engine: Engine, token_id: int, key: str, fingerprint_: str, *, clock: Callable[[], datetime] = utcnow
) -> Stored | None:
    """Claim ``key`` for a new request (None: go ahead), or the stored answer of its first request."""
    if not key or len(key) > MAX_KEY:
        raise GllMailError(f"Idempotency-Key must have 1 to {MAX_KEY} characters")
    now = clock()
    with session_scope(engine) as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    try:
        with session_scope(engine) as session:
            session.add(
                IdempotencyRecord(
                    token_id=token_id, key=key, fingerprint=fingerprint_, created_at=now, expires_at=now + KEEP
                )
            )
        return None
    except IntegrityError:
        pass
    with Session(engine) as session:
        row = session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key)
        ).first()
    if row is None:
        raise IdempotencyConflict("the Idempotency-Key is being used by another request; retry shortly")
    if row.fingerprint != fingerprint_:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request")
    if row.status == 0:
        raise IdempotencyConflict("the first request with this Idempotency-Key is still running; retry shortly")
    return Stored(row.status, row.body, row.headers or {})


def store(engine: Engine, token_id: int, key: str, answer: Stored) -> None:
    """Keep the answer of the request that claimed ``key``; a server error frees the key instead."""
    with session_scope(engine) as session:
        row = session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key)
        ).first()
        if row is None:
            return
        if answer.status >= 500:
            session.delete(row)
            return
        row.status, row.body, row.headers = answer.status, answer.body, answer.headers
        session.add(row)
