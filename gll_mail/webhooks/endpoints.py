"""The endpoints admins manage: add, list, remove, rotate the secret, send a test event, and the
delivery log. Admin-only (``webhook.manage``), every change in the audit log (never the secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.errors import GllMailError
from gll_mail.events import WEBHOOK_EVENTS, emit_webhook
from gll_mail.models import WebhookDelivery, WebhookEndpoint, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize
from gll_mail.webhooks.sender import WebhookTargetError, check_url, resolve
from gll_mail.webhooks.signing import new_secret

ACTION = "webhook.manage"
TEST_EVENT = "webhook.test"
ROTATION_GRACE = timedelta(hours=24)  # the old secret keeps signing beside the new one this long


class WebhookError(GllMailError, ValueError):
    pass


def parse_events(raw: str | list[str]) -> list[str]:
    """``subscriber.created,pod.joined`` (or ``all``) as a checked list."""
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw) if n.strip()]
    if names == ["all"] or names == ["*"]:
        return list(WEBHOOK_EVENTS)
    unknown = [n for n in names if n not in WEBHOOK_EVENTS]
    if unknown or not names:
        raise WebhookError(
            (f"unknown event {unknown[0]!r}" if unknown else "no event named")
            + f" (events: {', '.join(WEBHOOK_EVENTS)}, or all)"
        )
    return [n for n in WEBHOOK_EVENTS if n in names]


def get_endpoint(session: Session, public_id: str) -> WebhookEndpoint:
    endpoint = session.exec(select(WebhookEndpoint).where(WebhookEndpoint.public_id == public_id)).first()
    if endpoint is None:
        raise WebhookError(f"no webhook endpoint {public_id!r} (see `gll-mail webhooks list`)")
    return endpoint


def add_endpoint(
    session: Session, settings: Settings, actor: Actor, url: str, events: str | list[str], *, description: str = ""
) -> WebhookEndpoint:
    who = authorize(actor, ACTION)
    url = url.strip()
    try:
        check_url(url)
        if not settings.webhook_private_allowed:
            resolve(url, allow_private=False)
    except WebhookTargetError as exc:
        raise WebhookError(str(exc)) from None
    endpoint = WebhookEndpoint(
        url=url,
        events=parse_events(events),
        description=clean_text(description)[:300],
        secret=new_secret(),
        created_by=who if isinstance(who, str) else who.username,
    )
    session.add(endpoint)
    session.flush()
    _audit(session, who, "webhook.add", endpoint, {"url": url, "events": endpoint.events})
    return endpoint


def list_endpoints(session: Session, actor: Actor) -> list[WebhookEndpoint]:
    authorize(actor, ACTION)
    return list(session.exec(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def remove_endpoint(session: Session, actor: Actor, public_id: str) -> None:
    """The endpoint and its delivery log; nothing more is sent to it."""
    who = authorize(actor, ACTION)
    endpoint = get_endpoint(session, public_id)
    _audit(session, who, "webhook.remove", endpoint, {"url": endpoint.url})
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, actor: Actor, public_id: str) -> WebhookEndpoint:
    """A new secret signs from now on; the old one signs beside it for a day, so receivers can switch."""
    who = authorize(actor, ACTION)
    endpoint = get_endpoint(session, public_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_until = utcnow() + ROTATION_GRACE
    endpoint.secret = new_secret()
    session.add(endpoint)
    session.flush()
    _audit(session, who, "webhook.rotate-secret", endpoint, {"url": endpoint.url})
    return endpoint


def send_test(session: Session, actor: Actor, public_id: str) -> str:
    """Queue a ``webhook.test`` event for this endpoint only; returns its message id."""
    who = authorize(actor, ACTION)
    endpoint = get_endpoint(session, public_id)
    emit_webhook(session, TEST_EVENT, {"endpoint": endpoint.public_id}, endpoint_ids=[endpoint.id])
    row = session.exec(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id).order_by(WebhookDelivery.id.desc())
    ).first()
    _audit(session, who, "webhook.test", endpoint, {"url": endpoint.url})
    return row.message_id if row else ""


@dataclass
class DeliveryPage:
    rows: list[tuple[WebhookDelivery, WebhookEndpoint]]
    counts: dict[str, int]


def deliveries(
    session: Session, actor: Actor, *, endpoint: str | None = None, status: str | None = None, limit: int = 50
) -> DeliveryPage:
    """The delivery log, newest first: status, tries, the last answer, the next retry."""
    authorize(actor, ACTION)
    query = select(WebhookDelivery, WebhookEndpoint).join(
        WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id
    )
    counting = select(WebhookDelivery.status, func.count()).join(
        WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id
    )
    if endpoint:
        query = query.where(WebhookEndpoint.public_id == endpoint)
        counting = counting.where(WebhookEndpoint.public_id == endpoint)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = list(session.exec(query.order_by(WebhookDelivery.id.desc()).limit(limit)))
    counts = dict(session.exec(counting.group_by(WebhookDelivery.status)).all())
    return DeliveryPage([(d, e) for d, e in rows], counts)


def _audit(session: Session, who, action: str, endpoint: WebhookEndpoint, details: dict) -> None:
    audit.record(session, who, action, object_type="webhook", object_id=endpoint.public_id, details=details)
