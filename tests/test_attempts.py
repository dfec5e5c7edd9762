"""Attempt counters in the database: atomic, per window, keyed digests, old windows forgotten."""

from __future__ import annotations

from sqlalchemy import select

from gll_mail.members.attempts import A, Attempts


def count(engine, attempts: Attempts, bucket: str, client: str, window: int, now: float) -> int:
    """The window's count of ``client``, read from the table as another web process would."""
    with engine.connect() as connection:
        found = connection.execute(
            select(A.c.count).where(
                A.c.bucket == bucket, A.c.key == attempts._key(client), A.c.slot == int(now // window)
            )
        ).scalar()
    return found or 0


def test_counts_per_client_and_window_and_forgets_old_windows(any_engine):
    attempts = Attempts(any_engine, "secret-one")
    assert [attempts.add("login", "203.0.113.9", 60, now=600.0 + n) for n in range(3)] == [1, 2, 3]
    assert attempts.add("login", "198.51.100.1", 60, now=610.0) == 1
    assert attempts.add("register", "203.0.113.9", 60, now=610.0) == 1
    assert count(any_engine, attempts, "login", "203.0.113.9", 60, now=619.0) == 3
    attempts.take_back("login", "203.0.113.9", 60, now=619.0)
    assert count(any_engine, attempts, "login", "203.0.113.9", 60, now=619.0) == 2
    with any_engine.connect() as connection:
        keys = {row.key for row in connection.execute(select(A))}
    assert len(keys) == 2 and not any("203.0" in k or "198.51" in k for k in keys)  # no address stored

    assert attempts.add("login", "203.0.113.9", 60, now=660.0) == 1  # a new window
    with any_engine.connect() as connection:
        left = sorted((row.bucket, row.slot) for row in connection.execute(select(A)))
    assert left == [("login", 11), ("register", 10)]  # the login window before is gone

    attempts.take_back("login", "192.0.2.1", 60, now=660.0)  # nothing to take back: no row, no negative
    assert count(any_engine, attempts, "login", "192.0.2.1", 60, now=660.0) == 0
    assert count(any_engine, Attempts(any_engine, "secret-two"), "login", "203.0.113.9", 60, now=660.0) == 0
