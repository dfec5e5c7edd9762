"""The event ledger: every change to a member, every click and every delivery outcome; and the
webhook outbox rows written with them, in the same transaction (:func:`emit_webhook`)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from gll_mail.models import Campaign, Event, EventType, Pod, Subscriber, WebhookDelivery, WebhookEndpoint, utcnow

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
    _webhook_of(session, event, subscriber)
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


# --- the webhook outbox ------------------------------------------------------------------------

WEBHOOK_EVENTS = (
    "subscriber.created",
    "subscriber.updated",
    "subscriber.unsubscribed",
    "subscriber.erased",
    "pod.joined",
    "pod.left",
    "campaign.sent",
    "bounce.hard",
    "complaint",
)
_WEBHOOK_OF = {
    EventType.SUBSCRIBED: "subscriber.created",  # a confirmed registration (again=True: a resubscribe)
    EventType.CONFIRMED: "subscriber.updated",  # (a member registering again: answers, consent, status)
    EventType.PROFILE_CHANGED: "subscriber.updated",
    EventType.PAUSED: "subscriber.updated",
    EventType.RESUMED: "subscriber.updated",
    EventType.TOPIC_ADDED: "subscriber.updated",
    EventType.TOPIC_REMOVED: "subscriber.updated",
    EventType.UNSUBSCRIBED: "subscriber.unsubscribed",
    EventType.POD_JOINED: "pod.joined",
    EventType.POD_LEFT: "pod.left",
    EventType.BOUNCE_HARD: "bounce.hard",
    EventType.COMPLAINT: "complaint",
}
_WE = WebhookEndpoint.__table__
_WD = WebhookDelivery.__table__


def new_message_id() -> str:
    """The ``webhook-id`` of one event: the same on every try and every endpoint, for de-duplication."""
    return "msg_" + secrets.token_urlsafe(18)


def member_data(subscriber: Subscriber) -> dict[str, Any]:
    """What a webhook says about a member: their public id and address, nothing more."""
    return {"id": subscriber.public_id, "email": subscriber.email}


def _webhook_of(session: Session, event: Event, subscriber: Subscriber | None) -> None:
    kind = _WEBHOOK_OF.get(event.type)  # type: ignore[call-overload]
    if kind is None or (subscriber is None and event.subscriber_id is None):
        return
    connection = session.connection()  # (begins the transaction the state belongs to)
    state = _transaction_state(session)
    if state["endpoints"] is None:
        state["endpoints"] = _endpoints(connection)
    if not state["endpoints"]:  # nobody listens: no work beyond one look per transaction
        return
    subscriber = subscriber or session.get(Subscriber, event.subscriber_id)  # (the worker's refused addresses)
    if subscriber is None:
        return
    if kind == "subscriber.created" and event.data.get("again"):
        kind = "subscriber.updated"
    data: dict[str, Any] = {"subscriber": member_data(subscriber)}
    if kind == "subscriber.updated":
        field = event.data.get("field") or {
            EventType.PAUSED: "paused",
            EventType.RESUMED: "paused",
            EventType.TOPIC_ADDED: "topics",
            EventType.TOPIC_REMOVED: "topics",
            EventType.CONFIRMED: "registration",
        }.get(event.type, "status")
        data["changes"] = [field]
    if event.pod_id is not None and kind.startswith("pod."):
        pod = session.get(Pod, event.pod_id)
        data["pod"] = {"slug": pod.slug if pod else None}
    if event.campaign_id is not None and kind in ("bounce.hard", "complaint"):
        campaign = session.get(Campaign, event.campaign_id)
        data["campaign"] = {"slug": campaign.slug if campaign else None}
    if subscriber.id is None:
        session.flush()
    emit_webhook(session, kind, data, subscriber_id=subscriber.id, at=event.created_at)


def emit_webhook(
    bind: Session | Connection,
    type: str,
    data: dict[str, Any],
    *,
    subscriber_id: int | None = None,
    at: datetime | None = None,
    endpoint_ids: list[int] | None = None,
) -> int:
    """Queue the event for every endpoint that asked for it (or only ``endpoint_ids``), in the
    caller's transaction: it is sent if and only if the change commits. Within one session
    transaction a member's ``subscriber.updated`` events become one (their ``changes`` merged), and
    none follows their ``subscriber.created``. Returns 1 when it was queued, 0 when no endpoint asked for it."""
    session = bind if isinstance(bind, Session) else None
    connection = bind.connection() if isinstance(bind, Session) else bind
    state = _transaction_state(session) if session is not None else None
    if state is not None and subscriber_id is not None and type == "subscriber.updated":
        if ("subscriber.created", subscriber_id) in state["sent"]:
            return 0
        earlier = state["sent"].get((type, subscriber_id))
        if earlier is not None:
            message_id, payload = earlier
            if message_id is None:
                return 0
            changes = payload["data"].setdefault("changes", [])
            changes.extend(c for c in data.get("changes", []) if c not in changes)
            connection.execute(update(_WD).where(_WD.c.message_id == message_id).values(payload=payload))
            return 0
    if endpoint_ids is None and state is not None:
        if state["endpoints"] is None:
            state["endpoints"] = _endpoints(connection)
        endpoint_ids = _subscribed(state["endpoints"], type)
    at = at or utcnow()
    queued = emit_webhooks(connection, type, [(data, subscriber_id)], at=at, endpoint_ids=endpoint_ids)
    if state is not None and subscriber_id is not None:
        state["sent"][(type, subscriber_id)] = (queued[0] if queued else None, _payload(type, data, at))
    return len(queued)


def _endpoints(connection: Connection) -> list[tuple[int, list[str]]]:
    return [(row.id, row.events) for row in connection.execute(core_select(_WE.c.id, _WE.c.events))]


def _subscribed(endpoints: list[tuple[int, list[str]]], type: str) -> list[int]:
    return [endpoint_id for endpoint_id, events in endpoints if type in events or "*" in events]


def _payload(type: str, data: dict[str, Any], at: datetime | None) -> dict[str, Any]:
    return {"type": type, "timestamp": (at or utcnow()).isoformat().replace("+00:00", "Z"), "data": data}


def emit_webhooks(
    connection: Connection,
    type: str,
    items: list[tuple[dict[str, Any], int | None]],
    *,
    at: datetime | None = None,
    endpoint_ids: list[int] | None = None,
) -> list[str]:
    """Queue many events of one type (``items``: (data, subscriber id)) on a connection: one look
    for the endpoints, one insert. Returns their message ids (none when no endpoint asked for them)."""
    if endpoint_ids is None:
        endpoint_ids = _subscribed(_endpoints(connection), type)
    if not endpoint_ids or not items:
        return []
    now = at or utcnow()
    rows, ids = [], []
    for data, subscriber_id in items:
        message_id = new_message_id()
        ids.append(message_id)
        payload = _payload(type, data, now)
        rows += [
            {
                "endpoint_id": endpoint_id,
                "message_id": message_id,
                "type": type,
                "payload": payload,
                "subscriber_id": subscriber_id,
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
            }
            for endpoint_id in endpoint_ids
        ]
    connection.execute(insert(_WD), rows)
    return ids


def _transaction_state(session: Session) -> dict[str, Any]:
    """What this session transaction emitted and the endpoints it found (looked up once per transaction)."""
    transaction = session.get_transaction()
    state = session.info.get("webhooks")
    if state is None or state["transaction"] is not transaction:
        state = {"transaction": transaction, "endpoints": None, "sent": {}}
        session.info["webhooks"] = state
    return state


def forget_member_in_webhooks(bind: Session | Connection, subscriber_id: int) -> None:
    """An erased member: the webhooks about them, sent or not, keep only their public id."""
    connection = bind.connection() if isinstance(bind, Session) else bind
    rows = list(connection.execute(core_select(_WD.c.id, _WD.c.payload).where(_WD.c.subscriber_id == subscriber_id)))
    for row in rows:
        payload = dict(row.payload)
        data = dict(payload.get("data") or {})
        if isinstance(data.get("subscriber"), dict):
            data["subscriber"] = {"id": data["subscriber"].get("id")}
        data.pop("changes", None)
        payload["data"] = data
        connection.execute(update(_WD).where(_WD.c.id == row.id).values(payload=payload, subscriber_id=None))
