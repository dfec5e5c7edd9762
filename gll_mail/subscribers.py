"""Looking up, describing and exporting subscribers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, select

from gll_mail.addresses import InvalidAddress, normalize_email
from gll_mail.catalog import member_pods
from gll_mail.errors import GllMailError
from gll_mail.events import events_of
from gll_mail.models import Pod, PodMembership, Subscriber, Subscription, Topic

EXPORT_FIELDS = (
    "public_id",
    "email",
    "name",
    "language",
    "country",
    "organization",
    "role",
    "status",
    "paused",
    "registered_at",
    "consent_source",
    "consent_at",
    "created_at",
    "topics",
    "pods",
)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``,
    or a leading tab or CR), prefixed with ``'`` so it shows as typed (OWASP CSV injection).
    Every CSV the project writes passes its cells through this."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SubscriberNotFound(GllMailError, LookupError):
    pass


def find_by_email(session: Session, email: str) -> Subscriber | None:
    try:
        normalized = normalize_email(email)
    except InvalidAddress:
        return None
    return session.exec(select(Subscriber).where(Subscriber.email == normalized)).first()


def get_by_email(session: Session, email: str) -> Subscriber:
    subscriber = find_by_email(session, email)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with address {email!r}")
    return subscriber


def get_by_public_id(session: Session, public_id: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.public_id == public_id)).first()


def subscriber_topics(session: Session, subscriber: Subscriber) -> list[Topic]:
    return list(
        session.exec(
            select(Topic)
            .join(Subscription, Subscription.topic_id == Topic.id)
            .where(Subscription.subscriber_id == subscriber.id)
            .order_by(Topic.slug)
        )
    )


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def describe(session: Session, subscriber: Subscriber, *, with_events: bool = True) -> dict[str, Any]:
    """Everything gll-mail knows about one member: for `subscribers show` and the data download."""
    data: dict[str, Any] = {
        "public_id": subscriber.public_id,
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "country": subscriber.country,
        "organization": subscriber.organization,
        "role": subscriber.role,
        "status": subscriber.status,
        "paused": subscriber.paused,
        "registered_at": _iso(subscriber.registered_at),
        "consent": {
            "source": subscriber.consent_source,
            "at": _iso(subscriber.consent_at),
            "ip": subscriber.consent_ip,
        },
        "created_at": _iso(subscriber.created_at),
        "updated_at": _iso(subscriber.updated_at),
        "attributes": subscriber.attributes,
        "topics": [t.slug for t in subscriber_topics(session, subscriber)],
        "pods": [p.slug for p in member_pods(session, subscriber)],
    }
    if with_events:
        data["events"] = [
            {"type": e.type, "at": _iso(e.created_at), "source": e.source, "bot": e.is_bot, **e.data}
            for e in events_of(session, subscriber)
        ]
    return data


def export_rows(session: Session, batch_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Stream every subscriber as a flat dict (topics and pods as space-separated slugs)."""
    topic_names = {t.id: t.slug for t in session.exec(select(Topic))}
    pod_names = {p.id: p.slug for p in session.exec(select(Pod))}
    last_id = 0
    while True:
        batch = list(
            session.exec(select(Subscriber).where(Subscriber.id > last_id).order_by(Subscriber.id).limit(batch_size))
        )
        if not batch:
            return
        ids = [s.id for s in batch]
        topics: dict[int, list[str]] = {}
        for sub_id, topic_id in session.exec(
            select(Subscription.subscriber_id, Subscription.topic_id).where(Subscription.subscriber_id.in_(ids))
        ):
            topics.setdefault(sub_id, []).append(topic_names[topic_id])
        pods: dict[int, list[str]] = {}
        for sub_id, pod_id in session.exec(
            select(PodMembership.subscriber_id, PodMembership.pod_id).where(
                PodMembership.subscriber_id.in_(ids), PodMembership.left_at.is_(None)
            )
        ):
            pods.setdefault(sub_id, []).append(pod_names[pod_id])
        for s in batch:
            yield {
                "public_id": s.public_id,
                "email": s.email,
                "name": s.name,
                "language": s.language,
                "country": s.country,
                "organization": s.organization,
                "role": s.role,
                "status": s.status,
                "paused": s.paused,
                "registered_at": _iso(s.registered_at),
                "consent_source": s.consent_source,
                "consent_at": _iso(s.consent_at),
                "created_at": _iso(s.created_at),
                "topics": " ".join(sorted(topics.get(s.id, []))),
                "pods": " ".join(sorted(pods.get(s.id, []))),
            }
        last_id = ids[-1]
