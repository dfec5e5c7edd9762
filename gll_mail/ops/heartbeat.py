"""Workers' heartbeats: each `gll-mail worker` writes its row from its scheduler every
:data:`PERIOD` seconds, so a row seen recently proves the worker and its scheduler alive."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from gll_mail.db import upsert
from gll_mail.models import WorkerHeartbeat, utcnow

PERIOD = 30.0  # seconds between beats
STALE = timedelta(seconds=PERIOD * 4)  # a worker not seen for this long is taken for dead
H = WorkerHeartbeat.__table__


@dataclass(frozen=True)
class Beat:
    owner: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    sent: int


def beat(engine: Engine, owner: str, *, sent: int = 0, started_at: datetime | None = None, now=None) -> None:
    """Record that worker ``owner`` is alive now."""
    now = now or utcnow()
    values = {
        "owner": owner[:100],
        "host": socket.gethostname()[:100],
        "pid": os.getpid(),
        "seen_at": now,
        "sent": sent,
    }
    statement = upsert(engine, H).values(**values, started_at=started_at or now)
    statement = statement.on_conflict_do_update(
        index_elements=[H.c.owner], set_={"seen_at": now, "sent": sent, "pid": values["pid"], "host": values["host"]}
    )
    with engine.begin() as connection:
        connection.execute(statement)


def gone(engine: Engine, owner: str) -> None:
    """A worker that stops cleanly removes its row."""
    with engine.begin() as connection:
        connection.execute(delete(H).where(H.c.owner == owner[:100]))


def beats(engine: Engine) -> list[Beat]:
    with engine.connect() as connection:
        rows = connection.execute(select(H).order_by(H.c.seen_at.desc())).all()
    return [Beat(r.owner, r.host, r.pid, r.started_at, r.seen_at, r.sent) for r in rows]


def alive(engine: Engine, now: datetime | None = None) -> list[Beat]:
    """The workers seen within :data:`STALE` of ``now``."""
    now = now or utcnow()
    return [b for b in beats(engine) if aware(b.seen_at) >= now - STALE]


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def forget_stale(engine: Engine, now: datetime | None = None, keep: timedelta = timedelta(days=7)) -> int:
    """Delete rows of workers not seen for ``keep`` (killed without a clean stop)."""
    now = now or utcnow()
    with engine.begin() as connection:
        return connection.execute(delete(H).where(H.c.seen_at < now - keep)).rowcount
