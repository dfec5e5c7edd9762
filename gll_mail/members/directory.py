"""Finding members and seeing everything about one, for the team (console, CLI, API).

Search filters on indexed columns (status, language, country, organization; pods and topics through
their link tables' indexes) and pages by keyset on the member id, newest first, so a page costs the
same at the thousandth page as at the first. Free text (``q``) matches the start of an address, or
a part of the name, address or organization: on PostgreSQL through the indexes of migration 0014
(``text_pattern_ops`` for the address prefix, a pg_trgm GIN index for the parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, literal_column, or_
from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.catalog import get_pod, get_topic
from gll_mail.errors import GllMailError
from gll_mail.models import (
    SEARCH_TEXT_SQL,
    Campaign,
    Delivery,
    Event,
    Pod,
    PodMembership,
    Resource,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from gll_mail.subscribers import describe, find_by_email, subscriber_topics
from gll_mail.team.roles import Actor, authorize

MAX_PAGE = 200
MAX_ID = 2**31  # row ids are 32-bit: a longer number names nobody (and PostgreSQL would refuse it)


class MemberNotFound(GllMailError, LookupError):
    pass


@dataclass
class SearchPage:
    rows: list[dict[str, Any]]
    next_cursor: int | None  # pass as ``cursor`` for the next page; None: this was the last
    filters: dict[str, Any] = field(default_factory=dict)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_match(q: str, dialect: str):
    """``q`` with an ``@``: the start of an address (addresses are stored lower-cased, so a ``LIKE``
    on the lower-cased text, which PostgreSQL answers from a ``text_pattern_ops`` index and SQLite
    from a range on the address index). Without: a part of the name, address or organization, any
    case (``ILIKE`` on PostgreSQL, answered from the trigram index when pg_trgm is there; SQLite's
    ``LIKE`` already ignores ASCII case, the only case its ``lower()`` folds)."""
    pattern = _like(q)
    if "@" in q:
        prefix = q.lower()
        match = Subscriber.email.like(_like(prefix) + "%", escape="\\")
        if dialect == "sqlite":  # BINARY collation: exactly the addresses starting with ``prefix``
            match = and_(Subscriber.email >= prefix, Subscriber.email < prefix + "\U0010ffff", match)
        return match
    contains = f"%{pattern}%"
    if dialect == "postgresql":  # the very expression of the trigram index (q holds no chr(1): clean_text)
        return literal_column(SEARCH_TEXT_SQL).ilike(contains, escape="\\")
    columns = (Subscriber.name, Subscriber.email, Subscriber.organization)
    return or_(*(column.like(contains, escape="\\") for column in columns))


def search_members(
    session: Session,
    actor: Actor,
    *,
    q: str = "",
    country: str = "",
    organization: str = "",
    pod: str = "",
    topic: str = "",
    status: str = "",
    language: str = "",
    limit: int = 50,
    cursor: int | None = None,
) -> SearchPage:
    """One page of members matching every filter given, newest first."""
    authorize(actor, "member.view")
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Subscriber)
    q = clean_text(q)[:320]
    if q:
        query = query.where(_text_match(q, session.get_bind().dialect.name))
    if status:
        if status not in set(SubscriberStatus):
            raise GllMailError(f"unknown status {status!r} (use {', '.join(SubscriberStatus)})")
        query = query.where(Subscriber.status == status)
    for column, value in ((Subscriber.country, country), (Subscriber.organization, organization)):
        if value:
            query = query.where(column == clean_text(value))
    if language:
        query = query.where(Subscriber.language == language)
    if pod:
        pod_id = get_pod(session, pod).id
        query = query.where(
            exists().where(
                PodMembership.subscriber_id == Subscriber.id,
                PodMembership.pod_id == pod_id,
                PodMembership.left_at.is_(None),
            )
        )
    if topic:
        topic_id = get_topic(session, topic).id
        query = query.where(
            exists().where(Subscription.subscriber_id == Subscriber.id, Subscription.topic_id == topic_id)
        )
    if cursor is not None:
        query = query.where(Subscriber.id < cursor)
    found = list(session.exec(query.order_by(Subscriber.id.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    filters = {"q": q, "country": country, "organization": organization, "pod": pod, "topic": topic}
    filters |= {"status": status, "language": language}
    return SearchPage([_row(s) for s in found], found[-1].id if more else None, {k: v for k, v in filters.items() if v})


def _row(s: Subscriber) -> dict[str, Any]:
    return {
        "id": s.id,
        "public_id": s.public_id,
        "email": s.email,
        "name": s.name,
        "organization": s.organization,
        "country": s.country,
        "language": s.language,
        "status": s.status,
        "paused": s.paused,
        "registered": s.is_registered,
        "created_at": s.created_at.isoformat(),
    }


def find_member(session: Session, key: str | int) -> Subscriber:
    """A member by row id, public id or email address."""
    member = None
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        member = session.get(Subscriber, int(key)) if 0 < int(key) < MAX_ID else None
    elif "@" in key:
        member = find_by_email(session, key)
    else:
        member = session.exec(select(Subscriber).where(Subscriber.public_id == key)).first()
    if member is None:
        raise MemberNotFound(f"no member {key!r}")
    return member


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def member_view(session: Session, actor: Actor, key: str | int, *, events: int = 200) -> dict[str, Any]:
    """Everything the member page shows: profile, consent evidence, topics, pods with their join and
    leave history, the events timeline (newest first) and the deliveries per campaign."""
    authorize(actor, "member.view")
    member = key if isinstance(key, Subscriber) else find_member(session, key)
    data = describe(session, member, with_events=False)
    data["id"] = member.id
    data["topics"] = [{"slug": t.slug, "name": t.name} for t in subscriber_topics(session, member)]
    data["pod_history"] = [
        {"slug": slug, "name": name, "joined_at": _iso(joined), "left_at": _iso(left)}
        for slug, name, joined, left in session.exec(
            select(Pod.slug, Pod.name, PodMembership.joined_at, PodMembership.left_at)
            .join(Pod, Pod.id == PodMembership.pod_id)
            .where(PodMembership.subscriber_id == member.id)
            .order_by(PodMembership.joined_at, PodMembership.id)
        )
    ]
    consent_types = ("subscribed", "imported", "registered", "confirmed", "unsubscribed", "deleted")
    timeline = []
    for event, campaign_slug, resource_slug in session.exec(
        select(Event, Campaign.slug, Resource.slug)
        .outerjoin(Campaign, Campaign.id == Event.campaign_id)
        .outerjoin(Resource, Resource.id == Event.resource_id)
        .where(Event.subscriber_id == member.id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(events)
    ):
        timeline.append(
            {
                "type": event.type,
                "at": _iso(event.created_at),
                "source": event.source,
                "bot": event.is_bot,
                "campaign": campaign_slug,
                "resource": resource_slug,
                "inbound_id": (event.data or {}).get("inbound_id"),
                "data": event.data or {},
            }
        )
    data["timeline"] = timeline
    data["consent_evidence"] = [e for e in timeline if e["type"] in consent_types]
    data["deliveries"] = [
        {
            "campaign": slug,
            "subject": subject,
            "status": status,
            "language": language,
            "attempts": attempts,
            "smtp_code": code,
            "last_error": error,
            "sent_at": _iso(sent_at),
            "queued_at": _iso(created_at),
        }
        for slug, subject, status, language, attempts, code, error, sent_at, created_at in session.exec(
            select(
                Campaign.slug,
                Campaign.subject,
                Delivery.status,
                Delivery.language,
                Delivery.attempts,
                Delivery.smtp_code,
                Delivery.last_error,
                Delivery.sent_at,
                Delivery.created_at,
            )
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.subscriber_id == member.id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        )
    ]
    return data
