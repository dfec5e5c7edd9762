"""`gll-mail worker`: fires scheduled campaigns, drains the outbox and sends the webhooks until SIGTERM.

Run one per machine (or several on PostgreSQL: they share the outbox through ``FOR UPDATE SKIP
LOCKED`` claims). On SIGTERM or Ctrl-C the worker stops claiming, finishes the messages already
handed to the SMTP server, records them, gives back everything else it had claimed, and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from sqlalchemy.engine import Engine

from gll_mail.delivery.drainer import Drainer
from gll_mail.delivery.scheduler import start_worker_scheduler
from gll_mail.models import utcnow
from gll_mail.settings import Settings
from gll_mail.webhooks.sender import deliver_all

log = logging.getLogger(__name__)


async def _run(drainer: Drainer, stop: asyncio.Event, poll: float) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    await drainer.run(until_idle=False, stop_event=stop, poll=poll)


def _webhooks(engine: Engine, settings: Settings) -> None:
    """Send the due webhooks (a scheduler job: one at a time, beside the mail)."""
    try:
        deliver_all(engine, settings)
    except Exception:  # the next run tries again; the mail goes on
        log.exception("webhook delivery round failed")


def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    concurrency: int | None = None,
    poll: float = 1.0,
    on_ready=None,
    every: tuple[Callable[[Drainer], None], float] | None = None,
) -> Drainer:
    """Run until SIGTERM/SIGINT; the drainer (its ``sent_here`` counts this worker's sends).

    ``every`` = (task, seconds): the scheduler also runs ``task(drainer)`` at once and then every so
    many seconds (the heartbeat, written from the scheduler's thread so it proves the scheduler alive)."""
    scheduler = start_worker_scheduler(engine, settings)
    scheduler.add_job(
        _webhooks, "interval", args=[engine, settings], seconds=max(poll, 0.1), id="webhooks", jobstore="local"
    )
    drainer = Drainer(engine, settings, connections=concurrency)
    if every is not None:
        task, seconds = every
        scheduler.add_job(
            task, "interval", args=[drainer], seconds=seconds, id="every", jobstore="local", next_run_time=utcnow()
        )
    stop = asyncio.Event()
    try:
        if on_ready is not None:
            on_ready(drainer)
        asyncio.run(_run(drainer, stop, poll))
    finally:
        scheduler.shutdown(wait=False)
    return drainer
