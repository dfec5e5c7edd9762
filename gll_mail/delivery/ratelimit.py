"""Rate and concurrency limits that hold for all delivery workers together, through the database.

Rates (``GLL_MAIL_RATE_PER_SECOND``, ``GLL_MAIL_PER_DOMAIN_RATE``) are time slots: the row of a key
(``global``, ``domain:example.org``) holds the next free send time. A worker reserves ``k`` slots
with one atomic ``UPDATE sendrate SET next_at = max(next_at, now) + k/rate … RETURNING next_at``,
so two workers never get the same slot, on one machine or many, and sends are spaced ``1/rate``
apart. Slots a worker reserved but did not use are simply lost (sending gets slower, never faster).

Concurrency per domain (``GLL_MAIL_PER_DOMAIN_CONNECTIONS``) is a set of leased slot rows per key:
a sender takes a free (or expired) slot for the duration of one SMTP transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine

from gll_mail.db import is_sqlite, upsert
from gll_mail.models import SendRate, SendSlot

R = SendRate.__table__
S = SendSlot.__table__
GLOBAL = "global"
LATE = 0.05  # seconds a reserved slot may be used late (a busy loop); older ones are dropped


def reserve(engine: Engine, key: str, rate: float, count: int = 1, *, now: float | None = None) -> float:
    """Reserve ``count`` consecutive slots of ``key``; the Unix time of the first one."""
    now = time.time() if now is None else now
    span = count / rate
    greatest = func.max if is_sqlite(engine) else func.greatest
    with engine.begin() as connection:
        connection.execute(upsert(engine, R).values(key=key, next_at=0.0).on_conflict_do_nothing())
        end = connection.execute(
            update(R).where(R.c.key == key).values(next_at=greatest(R.c.next_at, now) + span).returning(R.c.next_at)
        ).scalar_one()
    return end - span


def chunk_for(rate: float) -> int:
    """Slots reserved per database round trip: about 1/20 s of sending, 1 to 100."""
    return max(1, min(100, int(rate / 20)))


class SendRateLimiter:
    """Per-process view of the shared limits: keeps reserved slots and waits for them."""

    def __init__(
        self,
        engine: Engine,
        *,
        rate: float = 0.0,
        per_domain_rate: float = 0.0,
        per_domain_connections: int = 0,
        owner: str = "worker",
        slot_ttl: float = 120.0,
        domain_limits: dict[str, tuple[float | None, int | None]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``clock`` (Unix seconds) and ``sleep`` are injectable, so tests can run the spacing of
        the sends on a simulated clock."""
        self.engine = engine
        self.clock = clock
        self.sleep = sleep
        self.rate = rate
        self.per_domain_rate = per_domain_rate
        self.per_domain_connections = per_domain_connections
        self.domain_limits = {d.lower(): v for d, v in (domain_limits or {}).items()}  # exceptions by domain
        self.owner = owner
        self.slot_ttl = slot_ttl
        self._slots: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def active(self) -> bool:
        return bool(
            self.rate > 0
            or self.per_domain_rate > 0
            or self.per_domain_connections > 0
            or any((r or 0) > 0 or (c or 0) > 0 for r, c in self.domain_limits.values())
        )

    def limits_for(self, domain: str) -> tuple[float, int]:
        """(messages per second, messages in flight) to ``domain``; 0 means no limit."""
        rate, connections = self.domain_limits.get(domain.lower(), (None, None))
        return (
            self.per_domain_rate if rate is None else rate,
            self.per_domain_connections if connections is None else connections,
        )

    async def _next_slot(self, key: str, rate: float) -> float:
        queue = self._slots.setdefault(key, deque())
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = self.clock()
            while queue and queue[0] < now - max(1.0 / rate, LATE):
                queue.popleft()  # a slot long past that nobody used in time: sending it now would burst
            if not queue:
                count = chunk_for(rate)
                start = reserve(self.engine, key, rate, count, now=now)  # one short UPDATE; no thread hop
                queue.extend(start + i / rate for i in range(count))
            return queue.popleft()

    async def wait(self, domain: str) -> None:
        """Wait for a global slot and a slot of the recipient's domain."""
        at = 0.0
        if self.rate > 0:
            at = await self._next_slot(GLOBAL, self.rate)
        domain_rate = self.limits_for(domain)[0]
        if domain_rate > 0:
            at = max(at, await self._next_slot("domain:" + domain, domain_rate))
        delay = at - self.clock()
        if delay > 0:
            await self.sleep(delay)

    async def acquire_connection(self, domain: str, holder: str) -> int | None:
        """A concurrency slot of the domain (its row id), waiting while all are taken."""
        limit = self.limits_for(domain)[1]
        if limit <= 0:
            return None
        delay = 0.005
        while True:
            slot = take_slot(self.engine, "domain:" + domain, limit, holder, self.slot_ttl)
            if slot is not None:
                return slot
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def release_connection(self, slot: int | None, holder: str) -> None:
        if slot is not None:
            give_slot(self.engine, slot, holder)


def take_slot(engine: Engine, key: str, limit: int, holder: str, ttl: float) -> int | None:
    """Lease one of the ``limit`` slots of ``key`` to ``holder``, or None when all are held."""
    now = time.time()
    with engine.begin() as connection:
        existing = connection.execute(select(func.count()).select_from(S).where(S.c.key == key)).scalar_one()
        if existing < limit:
            connection.execute(
                upsert(engine, S)
                .values([{"key": key, "slot": n, "holder": None, "expires_at": 0.0} for n in range(existing, limit)])
                .on_conflict_do_nothing()
            )
        free = (
            select(S.c.id)
            .where(S.c.key == key, S.c.slot < limit, or_(S.c.holder.is_(None), S.c.expires_at < now))
            .order_by(S.c.slot)
            .limit(1)
        )
        if not is_sqlite(engine):
            free = free.with_for_update(skip_locked=True)
        return connection.execute(
            update(S)
            .where(S.c.id.in_(free.scalar_subquery()))
            .values(holder=holder, expires_at=now + ttl)
            .returning(S.c.id)
        ).scalar()


def give_slot(engine: Engine, slot: int, holder: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(S).where(and_(S.c.id == slot, S.c.holder == holder)).values(holder=None, expires_at=0.0)
        )
