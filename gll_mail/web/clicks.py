"""Click events written in batches, off the request path.

A gated click is the hottest request of the site (a campaign to 100,000 members brings its clicks
in bursts). Its redirect must not wait for a database commit, so each web worker queues click
events and a background thread inserts them in one transaction every ``interval`` seconds (or at
``batch`` events). Clicks are analytics, not member state: a worker killed with SIGKILL loses at
most the last fraction of a second of them; a normal stop (SIGTERM, exit) flushes the queue.
Every change of member state (joining, registering, unsubscribing) is still committed before the
answer.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from gll_mail.models import Event, utcnow

log = logging.getLogger(__name__)


class ClickWriter:
    def __init__(self, engine: Engine, *, interval: float = 0.2, batch: int = 500) -> None:
        """``interval`` 0 writes each click at once (the test app does, so tests see them directly)."""
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False

    def add(self, **row: Any) -> None:
        row.setdefault("created_at", utcnow())
        row.setdefault("source", "web")
        row.setdefault("data", {})
        for key in ("subscriber_id", "campaign_id", "delivery_id", "resource_id", "pod_id"):
            row.setdefault(key, None)
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self.batch
        if self.interval <= 0:
            self.flush()
            return
        self._ensure_thread()
        if full:
            self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="gll-click-writer", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write click events")

    def flush(self) -> int:
        """Write every queued click now; returns how many were written."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(Event.__table__), rows)
            return len(rows)
        except Exception:
            log.warning("batch insert of %d click events failed; writing them one by one", len(rows), exc_info=True)
        written = 0
        for row in rows:
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(Event.__table__), [row])
                written += 1
            except Exception:
                log.exception("dropped a click event that cannot be stored")
        return written

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()
