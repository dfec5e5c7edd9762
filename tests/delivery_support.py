"""Helpers of the delivery-engine tests: a campaign source on disk, many subscribers fast, a timing sink."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path

from sqlalchemy import insert, literal, select

from gll_mail.campaigns.audience import audience_select
from gll_mail.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber, utcnow
from gll_mail.smtp.sink import LocalSMTPServer

BODY = """{{ salutation }}

A short note for {{ subscriber.name }}: see the [WHO web site](https://www.who.int/) or
[manage your subscription](manage:).
"""


def write_campaign(
    folder: Path,
    slug: str = "note",
    *,
    audience: str = "all: true",
    subject: str = "A GLL note",
    send_at: str | None = None,
    body: str = BODY,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.md"
    extra = f"send_at: {send_at}\n" if send_at else ""
    path.write_text(
        f'---\nslug: {slug}\nkind: announcement\nsubject: "{subject}"\n{extra}audience:\n  {audience}\n---\n\n{body}',
        encoding="utf-8",
    )
    return path


def add_subscribers(
    engine, count: int, *, domains=("example.org",), languages=("en",), prefix: str = "m", name: str = "Member"
) -> list[str]:
    """``count`` active subscribers ``m0000@domain`` …; their addresses in id order."""
    now = utcnow()
    rows = []
    for i in range(count):
        email = f"{prefix}{i:05d}@{domains[i % len(domains)]}"
        rows.append(
            {
                "public_id": secrets.token_urlsafe(16),
                "email": email,
                "name": f"{name} {i}",
                "language": languages[i % len(languages)],
                "country": "",
                "organization": "",
                "role": "",
                "status": "active",
                "paused": False,
                "consent_source": "test",
                "created_at": now,
                "updated_at": now,
                "attributes": {},
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(Subscriber.__table__), rows)
    return [r["email"] for r in rows]


def deliveries(engine, campaign_slug: str) -> list:
    with engine.connect() as connection:
        campaign_id = connection.execute(select(Campaign.id).where(Campaign.slug == campaign_slug)).scalar_one()
        return list(
            connection.execute(
                select(Delivery.__table__).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
            ).mappings()
        )


class TimedSink(LocalSMTPServer):
    """The real local SMTP server, noting when each message arrived and how many were open at once per domain."""

    def __init__(self, folder=None, data_delay: float = 0.0) -> None:
        super().__init__(folder)
        self.stamps: list[tuple[float, str]] = []
        self.open: dict[str, int] = {}
        self.max_open: dict[str, int] = {}
        self._lock = threading.Lock()
        handler = self.handler
        rcpt, data = handler.handle_RCPT, handler.handle_DATA

        async def handle_RCPT(server, session, envelope, address, options):
            answer = await rcpt(server, session, envelope, address, options)
            if answer.startswith("250"):
                domain = address.rpartition("@")[2].lower()
                with self._lock:
                    self.open[domain] = self.open.get(domain, 0) + 1
                    self.max_open[domain] = max(self.max_open.get(domain, 0), self.open[domain])
            return answer

        async def handle_DATA(server, session, envelope):
            if data_delay:
                await asyncio.sleep(data_delay)
            answer = await data(server, session, envelope)
            with self._lock:
                for address in envelope.rcpt_tos:
                    domain = address.rpartition("@")[2].lower()
                    self.open[domain] = self.open.get(domain, 1) - 1
                    self.stamps.append((time.time(), address))
            return answer

        handler.handle_RCPT = handle_RCPT
        handler.handle_DATA = handle_DATA


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any interval of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def recipients_of(server) -> list[str]:
    return [address for received in server.received for address in received.rcpt_tos]


def record_as_sent(session, campaign: Campaign, audience: dict | None = None) -> int:
    """What the delivery engine leaves behind, in short: one ``sent`` delivery per member of the
    audience (``INSERT … SELECT`` straight from the audience select) and the campaign ``sent``.
    ``audience``: a spec other than the campaign's own. The number of deliveries."""
    members = audience_select(session, campaign.audience if audience is None else audience, campaign=campaign)
    members = members.subquery()
    now = utcnow()
    columns = ["campaign_id", "subscriber_id", "language", "status", "attempts", "possible_duplicate", "last_error"]
    result = session.execute(
        insert(Delivery).from_select(
            [*columns, "created_at", "sent_at"],
            select(
                literal(campaign.id),
                members.c.id,
                members.c.language,
                literal(DeliveryStatus.SENT),
                literal(1),
                literal(False),
                literal(""),
                literal(now),
                literal(now),
            ),
        )
    )
    campaign.status = CampaignStatus.SENT
    campaign.started_at = campaign.finished_at = now
    session.add(campaign)
    session.flush()
    return result.rowcount
