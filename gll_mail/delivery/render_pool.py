"""Render, build and DKIM-sign messages in helper processes, beside the process that sends them.

One Python process can render, encode, sign, speak SMTP and keep the ledger only one core's worth.
For a large campaign the :class:`~gll_mail.delivery.drainer.Drainer` hands the CPU-heavy part — Jinja fill
of the compiled layout, the MIME bytes, the DKIM signature — to :class:`RenderPool`, so the sending
process only claims, sends and records. Jobs carry no database work: each helper opens its own
engine once per campaign to build the same :class:`~gll_mail.campaigns.render.CampaignRenderer` the sending
process would, and returns plain bytes.

The helpers are started with ``spawn`` (never ``fork``: the sending process has an event loop,
threads and open connections). A helper that dies breaks the pool; the drainer then renders in
its own process, so nothing is lost.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple

from gll_mail.campaigns.render import Recipient
from gll_mail.errors import GllMailError
from gll_mail.settings import Settings

CHUNK = 32  # messages per job: big enough that pickling is cheap, small enough to keep the helpers busy


class Job(NamedTuple):
    delivery_id: int
    language: str
    recipient: Recipient


class Built(NamedTuple):
    """A job's result: ``data`` is the message, or ``error`` says why it could not be built."""

    delivery_id: int
    sender: str
    data: bytes
    message_id: str
    error: str


def helper_count(settings: Settings) -> int:
    """``GLL_MAIL_RENDER_PROCESSES``; -1 (automatic) means one fewer than the usable CPU cores, or as
    many as there are cores when DKIM is on: RSA signing (about 1 ms a message) then dominates and
    the sending process has time to spare."""
    if settings.render_processes >= 0:
        return settings.render_processes
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if cores <= 1:
        return 0
    return cores if settings.dkim_key_file else cores - 1


class RenderPool:
    def __init__(self, settings: Settings, processes: int) -> None:
        self.processes = processes
        self._executor = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start, initargs=(settings,)
        )

    def submit(self, campaign_id: int, source, jobs: list[Job]) -> Future:
        """Build ``jobs`` of one campaign; ``source`` is its parsed source, or None to read its file."""
        return self._executor.submit(_build, campaign_id, source, jobs)

    def close(self, cancel: bool = True) -> None:
        """Stop the helpers; ``cancel`` drops the jobs not yet started."""
        self._executor.shutdown(wait=True, cancel_futures=cancel)


# --- in the helper processes ----------------------------------------------------------------------

_state: dict = {}


def _start(settings: Settings) -> None:
    from gll_mail.db import make_engine
    from gll_mail.smtp.dkim import DkimSigner

    _watch_parent(os.getppid())

    _state.update(
        settings=settings,
        engine=make_engine(settings.database_url),
        contexts={},
        signer=DkimSigner.from_settings(settings),
    )


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """Exit when the sending process is gone (``kill -9`` included): a helper keeps its own end of
    the job queue open, so it would never see end-of-file and would wait for work forever."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def campaign_builder(settings: Settings, session, campaign, source, signer=None):
    """The (renderer, message builder) pair of one campaign: the same in every process."""
    from gll_mail.campaigns.message import MessageBuilder
    from gll_mail.campaigns.render import CampaignRenderer

    renderer = CampaignRenderer(settings, session, source, campaign)
    builder = MessageBuilder(
        settings,
        campaign_id=campaign.id,
        slug=campaign.slug,
        kind=campaign.kind,
        from_address=campaign.from_address,
        signer=signer,
    )
    return renderer, builder


class SourceChanged(GllMailError):
    pass


def load_builder(settings: Settings, session, campaign_id: int, source=None):
    """:func:`campaign_builder` for a campaign being sent, reading its source file when ``source``
    is None; :class:`SourceChanged` when the file is no longer what was launched."""
    from pathlib import Path

    from gll_mail.campaigns.sources import load_source
    from gll_mail.models import Campaign

    campaign = session.get(Campaign, campaign_id)
    if source is None:
        source = load_source(Path(campaign.source_path))
    if campaign.source_hash and source.source_hash != campaign.source_hash:
        raise SourceChanged(f"the source {campaign.source_path} changed after sending started")
    return campaign_builder(settings, session, campaign, source)


def sign_all(signer, works) -> None:
    """DKIM-sign built messages in place (in a thread: OpenSSL releases the GIL)."""
    from gll_mail.campaigns.message import split_message

    for work in works:
        headers, body = split_message(work.data)
        work.data = signer.sign(headers, body) + work.data


def build_one(renderer, builder, delivery_id: int, language: str, recipient: Recipient):
    """Render and build one message: a :class:`~gll_mail.campaigns.message.BuiltMessage`."""
    rendered = renderer.render(recipient, language=language)
    unsubscribe = renderer.minter.url("unsubscribe", recipient.public_id, rendered.language)
    return builder.build(
        rendered, delivery_id=delivery_id, name=recipient.name, email=recipient.email, unsubscribe_url=unsubscribe
    )


def _context(campaign_id: int, source):
    found = _state["contexts"].get(campaign_id)
    if found is None:
        from pathlib import Path

        from sqlmodel import Session

        from gll_mail.campaigns.sources import load_source
        from gll_mail.models import Campaign

        with Session(_state["engine"]) as session:
            campaign = session.get(Campaign, campaign_id)
            if source is None:
                source = load_source(Path(campaign.source_path))
            found = campaign_builder(_state["settings"], session, campaign, source, _state["signer"])
        _state["contexts"][campaign_id] = found
    return found


def _build(campaign_id: int, source, jobs: list[Job]) -> list[Built]:
    """Build the jobs' messages, their DATA already line-normalized and dot-stuffed (work taken off
    the sending process, which wraps it in :class:`~gll_mail.smtp.pool.Prepared`)."""
    from gll_mail.errors import GllMailError
    from gll_mail.smtp.pool import prepare_data

    renderer, builder = _context(campaign_id, source)
    out = []
    for job in jobs:
        try:
            built = build_one(renderer, builder, job.delivery_id, job.language, job.recipient)
        except GllMailError as exc:
            out.append(Built(job.delivery_id, "", b"", "", str(exc) or exc.__class__.__name__))
            continue
        out.append(Built(job.delivery_id, built.sender, prepare_data(built.data), built.message_id, ""))
    return out
