"""Shared limits through the database: time slots never overlap between workers; concurrency slots are leased."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading

import pytest
from delivery_support import max_in_window

from gll_mail.db import make_engine
from gll_mail.delivery.ratelimit import SendRateLimiter, chunk_for, give_slot, reserve, take_slot


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


class SimulatedTime:
    """A clock that moves only when every task waits: each ``sleep`` wakes exactly at its time."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def run(self, *coroutines) -> None:
        tasks = [asyncio.create_task(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every task run until it sleeps or ends
                await asyncio.sleep(0)
            if self._sleepers:
                at, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                future.set_result(None)
        for t in tasks:
            t.result()


@pytest.mark.parametrize("rate", [20.0, 150.0])
def test_three_workers_never_exceed_the_global_rate_on_a_simulated_clock(any_engine, rate):
    """The spacing the limiter hands out, free of any machine's scheduling jitter: three workers
    (each its own limiter, as in its own process) sending at once stay within the rate in every
    one-second window, and together take the time the rate says."""
    url = any_engine.url.render_as_string(hide_password=False)
    time_ = SimulatedTime(start=10_000.0)
    sent: list[float] = []
    engines = [make_engine(url) for _ in range(3)]
    limiters = [
        SendRateLimiter(engine, rate=rate, owner=f"w{n}", clock=time_.clock, sleep=time_.sleep)
        for n, engine in enumerate(engines)
    ]

    async def worker(limiter, count):
        for _ in range(count):
            await limiter.wait("example.org")
            sent.append(time_.clock())

    try:
        per_worker = int(rate)  # a second of sending each: three seconds together
        asyncio.run(time_.run(*(worker(limiter, per_worker) for limiter in limiters)))
    finally:
        for engine in engines:
            engine.dispose()
    assert len(sent) == 3 * int(rate)
    assert max_in_window(sent, window=1.0 - 1e-6) <= rate  # slots are exactly 1/rate apart (float sums)
    assert max(sent) - min(sent) >= (len(sent) - 1) / rate - 1e-6
