"""The event ledger: every change to a member, every click and every delivery outcome."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from gll_mail.models import Event, Subscriber

# Link scanners in mail gateways, previewers and scripts: their clicks are kept as bot events.
SCANNER_AGENTS = re.compile(
    r"(bot|crawler|spider|scanner|preview|proofpoint|mimecast|barracuda|safelinks|microsoft office|"
    r"google-safety|symantec|forcepoint|trendmicro|sophos|fortinet|python-requests|curl|wget|"
    r"go-http-client|headlesschrome|phantomjs|msoffice|outlook-ios-linkpreview|slackbot|facebookexternalhit)",
    re.I,
)


def is_scanner(method: str, user_agent: str | None) -> bool:
    """A HEAD request or a known link scanner / preview agent: record as a bot, change nothing."""
    return method.upper() == "HEAD" or bool(SCANNER_AGENTS.search(user_agent or ""))


def record_event(
    session: Session,
    type: str,
    *,
    subscriber: Subscriber | None = None,
    subscriber_id: int | None = None,
    source: str = "",
    is_bot: bool = False,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
    resource_id: int | None = None,
    pod_id: int | None = None,
    **data: Any,
) -> Event:
    event = Event(
        type=str(type),
        source=source,
        subscriber_id=subscriber.id if subscriber is not None else subscriber_id,
        campaign_id=campaign_id,
        delivery_id=delivery_id,
        resource_id=resource_id,
        pod_id=pod_id,
        is_bot=is_bot,
        data={k: v for k, v in data.items() if v is not None},
    )
    session.add(event)
    return event


def events_of(session: Session, subscriber: Subscriber, limit: int = 50) -> list[Event]:
    return list(
        session.exec(
            select(Event)
            .where(Event.subscriber_id == subscriber.id)
            .order_by(Event.created_at.desc(), Event.id.desc())
            .limit(limit)
        )
    )
