"""The manage page's actions. Each change is an event with its time and source (web, mail, cli …).

Unsubscribing puts the address on the suppression list and sets the status at once, so deliveries
already queued are skipped too: the delivery engine re-checks every recipient at send time.
Deleting an account keeps only the suppression hash; the member's events stay for campaign
statistics but lose the link to them and any personal detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.catalog import join_pod, leave_pod, list_pods, list_topics, member_pods
from gll_mail.events import emit_webhook, forget_member_in_webhooks, record_event
from gll_mail.languages import normalize_language
from gll_mail.models import (
    Delivery,
    Event,
    EventType,
    InboundMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    utcnow,
)
from gll_mail.subscribers import describe, subscriber_topics
from gll_mail.suppressions import is_suppressed, suppress, unsuppress


def overview(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """What the manage page shows: every topic and pod with the member's choice."""
    mine_t = {t.id for t in subscriber_topics(session, subscriber)}
    mine_p = {p.id for p in member_pods(session, subscriber)}
    return {
        "topics": [(t, t.id in mine_t) for t in list_topics(session)],
        "pods": [(p, p.id in mine_p) for p in list_pods(session)],
    }


def set_topics(session: Session, subscriber: Subscriber, slugs: Iterable[str], *, source: str) -> int:
    """Subscribe to exactly these topics; returns how many changed."""
    wanted = set(slugs)
    current = {
        s.topic_id: s for s in session.exec(select(Subscription).where(Subscription.subscriber_id == subscriber.id))
    }
    changed = 0
    for topic in list_topics(session):
        if topic.slug in wanted and topic.id not in current:
            session.add(Subscription(subscriber_id=subscriber.id, topic_id=topic.id))
            record_event(session, EventType.TOPIC_ADDED, subscriber=subscriber, source=source, topic=topic.slug)
            changed += 1
        elif topic.slug not in wanted and topic.id in current:
            session.delete(current[topic.id])
            record_event(session, EventType.TOPIC_REMOVED, subscriber=subscriber, source=source, topic=topic.slug)
            changed += 1
    session.flush()
    return changed


def set_pods(session: Session, subscriber: Subscriber, slugs: Iterable[str], *, source: str) -> int:
    """Be in exactly these pods (joining needs registration); returns how many changed."""
    wanted = set(slugs)
    changed = 0
    for pod in list_pods(session):
        if pod.slug in wanted and subscriber.is_registered:
            changed += join_pod(session, subscriber, pod, source=source)
        elif pod.slug not in wanted:
            changed += leave_pod(session, subscriber, pod, source=source)
    return changed


def set_language(session: Session, subscriber: Subscriber, language: str, *, source: str) -> bool:
    code = normalize_language(language)
    if code == subscriber.language:
        return False
    old = subscriber.language
    subscriber.language = code
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    record_event(
        session, EventType.PROFILE_CHANGED, subscriber=subscriber, source=source, field="language", old=old, new=code
    )
    return True


PROFILE_LIMITS = {"name": 200, "organization": 200, "country": 100}  # as on the registration form


def read_profile(data: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The profile answers of a posted form (cleaned) and their errors (field → error kind)."""
    values = {name: clean_text(str(data.get(name) or "")[: limit * 2]) for name, limit in PROFILE_LIMITS.items()}
    errors = {name: "error_too_long" for name, limit in PROFILE_LIMITS.items() if len(values[name]) > limit}
    if not values["name"]:
        errors["name"] = "error_name"
    return values, errors


def set_profile(session: Session, subscriber: Subscriber, values: dict[str, str], *, source: str) -> int:
    """Set name, organization and country (values from :func:`read_profile`); returns how many changed."""
    changed = 0
    for name in PROFILE_LIMITS:
        new = values.get(name)
        if new is None or new == (getattr(subscriber, name) or ""):
            continue
        old = getattr(subscriber, name) or ""
        setattr(subscriber, name, new)
        record_event(
            session, EventType.PROFILE_CHANGED, subscriber=subscriber, source=source, field=name, old=old, new=new
        )
        changed += 1
    if changed:
        subscriber.updated_at = utcnow()
        session.add(subscriber)
    return changed


def set_paused(session: Session, subscriber: Subscriber, paused: bool, *, source: str) -> bool:
    if subscriber.paused == paused:
        return False
    subscriber.paused = paused
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    record_event(session, EventType.PAUSED if paused else EventType.RESUMED, subscriber=subscriber, source=source)
    return True


def unsubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    source: str,
    campaign_id: int | None = None,
    inbound_id: int | None = None,
) -> bool:
    """Stop all mail to the member now (idempotent); True when this call made the change.
    ``inbound_id``: the stored message that asked for it (a mailto unsubscribe)."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED or (
        subscriber.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
        and is_suppressed(session, subscriber.email)
    ):
        return False
    suppress(session, subscriber.email, reason="unsubscribe", source=source, subscriber=subscriber)
    if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):  # suppress() leaves others
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    record_event(
        session,
        EventType.UNSUBSCRIBED,
        subscriber=subscriber,
        source=source,
        campaign_id=campaign_id,
        inbound_id=inbound_id,
    )  # (record_event leaves out what is None)
    session.flush()
    return True


def resubscribe(session: Session, subscriber: Subscriber, *, source: str) -> bool:
    """Undo the member's own unsubscribe (from their signed manage link); bounces stay as they are."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        return False
    unsuppress(session, subscriber.email)
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.updated_at = utcnow()
    session.add(subscriber)
    record_event(session, EventType.SUBSCRIBED, subscriber=subscriber, source=source, again=True)
    return True


def export_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything kept about the member (their right of access), as JSON-ready data."""
    data = describe(session, subscriber, with_events=True)
    data["attributes"] = dict((subscriber.attributes or {}).items())
    return data


def delete_account(session: Session, subscriber: Subscriber, *, source: str) -> None:
    """Erase the member; only a hash of the address stays, on the suppression list. Bounces,
    complaints and mailto unsubscribes about them are kept as evidence without their raw text,
    which quotes the address."""
    suppress(session, subscriber.email, reason="deleted", source=source, keep_address=False, subscriber=subscriber)
    inbound = {
        event.data.get("inbound_id")
        for event in session.exec(
            select(Event).where(
                Event.subscriber_id == subscriber.id,
                Event.type.in_(
                    [
                        EventType.BOUNCE_HARD,
                        EventType.BOUNCE_SOFT,
                        EventType.COMPLAINT,
                        EventType.BOUNCE_IGNORED,
                        EventType.UNSUBSCRIBED,
                    ]
                ),
            )
        )
        if isinstance(event.data, dict)
    }
    inbound = [i for i in inbound if isinstance(i, int)]
    if inbound:
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(inbound))
            .values(raw=b"", envelope_from="", error="raw message erased with the member's account")
        )
    session.execute(update(Event).where(Event.subscriber_id == subscriber.id).values(subscriber_id=None, data={}))
    # their deliveries stay, so campaign figures do not change, but lose the link to them (the
    # database sets it NULL) and the server's replies, which may quote the address
    session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber.id).values(last_error=""))
    public_id = subscriber.public_id
    forget_member_in_webhooks(session, subscriber.id)
    session.delete(subscriber)
    session.flush()
    record_event(session, EventType.DELETED, source=source)
    emit_webhook(session, "subscriber.erased", {"subscriber": {"id": public_id}})
    session.flush()
