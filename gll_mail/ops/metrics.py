"""Prometheus metrics: what the database knows, counted at scrape time, and the web's requests.

- :class:`DatabaseCollector` reads the outbox, the events and the heartbeats when Prometheus asks,
  so every process (each gunicorn worker, each `gll-mail worker`) answers the same figures and
  nothing is lost when a process restarts: messages sent, failed and deferred per campaign and
  recipient domain (the :data:`TOP_DOMAINS` busiest domains by name, the others as ``other``),
  queue depth, the oldest queued message's age, bounces, complaints and worker heartbeats.
- :data:`REQUESTS` and :data:`LATENCY` count the web's requests by route and status. Under gunicorn,
  ``PROMETHEUS_MULTIPROC_DIR`` (set by `gll-mail serve`) makes them shared by all worker processes.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from gll_mail.db import is_sqlite
from gll_mail.models import Campaign, Delivery, DeliveryStatus, Event, EventType, Subscriber, WorkerHeartbeat, utcnow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOP_DOMAINS = 20
WEB = CollectorRegistry(auto_describe=True)  # this process's web metrics (one gunicorn worker's share)
REQUESTS = Counter(
    "gll_mail_http_requests", "Web requests answered, by route and status.", ["route", "method", "status"], registry=WEB
)
LATENCY = Histogram(
    "gll_mail_http_request_duration_seconds",
    "Time to answer a web request, by route.",
    ["route"],
    registry=WEB,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _domain(engine: Engine):
    email = Subscriber.email
    if is_sqlite(engine):
        return func.lower(func.substr(email, func.instr(email, "@") + 1))
    return func.lower(func.split_part(email, "@", 2))


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine, clock=utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def _outcomes(self, connection) -> list[tuple[str, str, str, int]]:
        """(campaign, domain, outcome, count): sent and failed from the outbox, deferred from the events."""
        domain = _domain(self.engine).label("domain")
        final = (
            select(Campaign.slug, domain, Delivery.status, func.count())
            .select_from(Delivery)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.FAILED]))
            .group_by(Campaign.slug, domain, Delivery.status)
        )
        deferred = (
            select(Campaign.slug, domain, func.count())
            .select_from(Event)
            .join(Campaign, Campaign.id == Event.campaign_id)
            .outerjoin(Delivery, Delivery.id == Event.delivery_id)
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Event.type == EventType.DEFERRED)
            .group_by(Campaign.slug, domain)
        )
        rows = [(c, d or "unknown", s, n) for c, d, s, n in connection.execute(final)]
        rows += [(c, d or "unknown", "deferred", n) for c, d, n in connection.execute(deferred)]
        volume: Tally[str] = Tally()
        for _, d, _, n in rows:
            volume[d] += n
        named = {d for d, _ in volume.most_common(TOP_DOMAINS)}
        merged: Tally[tuple[str, str, str]] = Tally()
        for c, d, s, n in rows:
            merged[(c, d if d in named else "other", s)] += n
        return [(c, d, s, n) for (c, d, s), n in sorted(merged.items())]

    def collect(self):
        now = self.clock()
        with self.engine.connect() as connection:
            outcomes = self._outcomes(connection)
            waiting = connection.execute(
                select(Campaign.slug, func.count(), func.min(Delivery.created_at))
                .select_from(Delivery)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
                .group_by(Campaign.slug)
            ).all()
            events = dict(
                connection.execute(
                    select(Event.type, func.count())
                    .where(Event.type.in_([EventType.BOUNCE_HARD, EventType.BOUNCE_SOFT, EventType.COMPLAINT]))
                    .group_by(Event.type)
                ).all()
            )
            workers = connection.execute(select(WorkerHeartbeat.owner, WorkerHeartbeat.seen_at)).all()
        messages = CounterMetricFamily(
            "gll_mail_messages",
            "Campaign messages by outcome (sent, failed, deferred).",
            labels=["campaign", "domain", "outcome"],
        )
        for campaign, domain, outcome, count in outcomes:
            messages.add_metric([campaign, domain, outcome], count)
        yield messages
        depth = GaugeMetricFamily("gll_mail_queue_depth", "Messages waiting to be sent.", labels=["campaign"])
        oldest = GaugeMetricFamily("gll_mail_queue_oldest_age_seconds", "Age of the oldest message waiting to be sent.")
        ages = []
        for campaign, count, first in waiting:
            depth.add_metric([campaign], count)
            if first is not None:
                ages.append((now - _aware(first)).total_seconds())
        oldest.add_metric([], max(ages, default=0.0))
        yield depth
        yield oldest
        bounces = CounterMetricFamily("gll_mail_bounces", "Bounces received, by kind.", labels=["kind"])
        bounces.add_metric(["hard"], events.get(EventType.BOUNCE_HARD, 0))
        bounces.add_metric(["soft"], events.get(EventType.BOUNCE_SOFT, 0))
        yield bounces
        yield CounterMetricFamily(
            "gll_mail_complaints", "Spam complaints received.", value=events.get(EventType.COMPLAINT, 0)
        )
        beats = GaugeMetricFamily(
            "gll_mail_worker_heartbeat_timestamp_seconds",
            "When each worker was last seen (Unix time).",
            labels=["worker"],
        )
        for owner, seen in workers:
            beats.add_metric([owner], _aware(seen).timestamp())
        yield beats


def _aware(moment):
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(engine: Engine, *, web: bool = True) -> bytes:
    """The metrics page: the database's figures, and the web's requests (of every gunicorn worker
    when ``PROMETHEUS_MULTIPROC_DIR`` is set, else of this process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    if web and multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    page = generate_latest(registry)
    return page + generate_latest(WEB) if web else page


def observe(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def serve_worker_metrics(engine: Engine, port: int, host: str = "127.0.0.1"):
    """The worker's own /metrics on ``host:port`` (a thread); returns (server, thread)."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    return start_http_server(port, addr=host, registry=registry)


def clear_multiprocess_dir(path: str) -> None:
    """Remove the files of a previous run (stale counters of dead processes)."""
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def timer() -> float:
    return time.perf_counter()
