"""Attempts per client in fixed time windows, counted in the database so that every web process
(gunicorn workers, several machines) shares one count.

Used where a limit protects something that matters across processes: failed admin sign-ins (password
guessing) and registrations (each one may send an email). The count goes up first, atomically
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``), and the caller decides from the new value, so
requests running at the same time cannot all slip under the limit. Clients are stored as a keyed
digest, never as an address; a window's rows are deleted once it is over.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine

from gll_mail.db import upsert
from gll_mail.models import Attempt

A = Attempt.__table__


class Attempts:
    def __init__(self, engine: Engine, secret: str) -> None:
        self.engine = engine
        self._secret = hashlib.sha256(b"gll-mail attempts\x00" + secret.encode()).digest()

    def _key(self, client: str) -> str:
        return hmac.new(self._secret, client.encode(), hashlib.sha256).hexdigest()[:32]

    def add(self, bucket: str, client: str, window: int, *, now: float | None = None) -> int:
        """Count one attempt of ``client``; the window's new total, this attempt included."""
        slot = int((time.time() if now is None else now) // window)
        statement = upsert(self.engine, A).values(bucket=bucket, key=self._key(client), slot=slot, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=[A.c.bucket, A.c.key, A.c.slot],
            set_={"count": A.c.count + 1},
        ).returning(A.c.count)
        with self.engine.begin() as connection:
            total = connection.execute(statement).scalar_one()
            if total == 1:  # the client's first attempt in this window: forget the windows before it
                connection.execute(delete(A).where(A.c.bucket == bucket, A.c.slot < slot))
        return total

    def take_back(self, bucket: str, client: str, window: int, *, now: float | None = None) -> None:
        """Uncount one attempt of the current window (one that turned out not to count: a sign-in
        that succeeded)."""
        slot = int((time.time() if now is None else now) // window)
        with self.engine.begin() as connection:
            connection.execute(
                update(A)
                .where(A.c.bucket == bucket, A.c.key == self._key(client), A.c.slot == slot, A.c.count > 0)
                .values(count=A.c.count - 1)
            )
