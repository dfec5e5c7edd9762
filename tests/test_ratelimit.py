"""Shared limits through the database: time slots never overlap between workers; concurrency slots are leased."""

from __future__ import annotations

import threading

from gll_mail.db import make_engine
from gll_mail.delivery.ratelimit import chunk_for, give_slot, reserve, take_slot


def test_slots_of_concurrent_workers_never_overlap(any_engine):
    url = any_engine.url.render_as_string(hide_password=False)
    found: list[tuple[float, int]] = []
    lock = threading.Lock()

    def worker():
        engine = make_engine(url)  # a separate engine: as another process would have
        try:
            for _ in range(20):
                start = reserve(engine, "global", 100.0, 5, now=1000.0)
                with lock:
                    found.append((start, 5))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    starts = sorted(start for start, _ in found)
    assert len(starts) == 60
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.05 - 1e-9  # 5 slots of 1/100 s each: consecutive reservations, no overlap
    assert abs(starts[-1] - starts[0] - 59 * 0.05) < 1e-6


def test_an_idle_key_starts_now_and_keys_are_independent(any_engine):
    assert reserve(any_engine, "domain:a.org", 10.0, 1, now=5000.0) == 5000.0
    assert reserve(any_engine, "domain:a.org", 10.0, 1, now=5000.0) == 5000.1
    assert reserve(any_engine, "domain:b.org", 10.0, 1, now=5000.0) == 5000.0
    assert reserve(any_engine, "domain:a.org", 10.0, 1, now=6000.0) == 6000.0
    assert chunk_for(1) == 1 and chunk_for(2000) == 100


def test_concurrency_slots_are_limited_and_expire(any_engine):
    first = take_slot(any_engine, "domain:x.org", 2, "a", ttl=60)
    second = take_slot(any_engine, "domain:x.org", 2, "b", ttl=60)
    assert first is not None and second is not None and first != second
    assert take_slot(any_engine, "domain:x.org", 2, "c", ttl=60) is None
    give_slot(any_engine, first, "a")
    assert take_slot(any_engine, "domain:x.org", 2, "c", ttl=-1) == first  # taken, but already expired
    assert take_slot(any_engine, "domain:x.org", 2, "d", ttl=60) == first  # so a dead holder loses it
