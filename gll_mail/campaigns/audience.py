"""A campaign's audience as one SQL ``SELECT`` of ``(subscriber id, language)``.

The spec comes from the source's front matter: ``all: true``, ``topics: [..]``, ``pods: [..]``
(active memberships), ``registered: true|false``, ``recipients_of: SLUG`` (those the campaign SLUG
was sent to). Several keys combine with AND; several slugs in one list combine with OR. Only
mailable subscribers are selected (status active, not paused).

The select is never executed here for sending: the delivery engine composes it into
``INSERT INTO delivery (...) SELECT ...`` so the audience is never loaded into Python.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlmodel import Session

from gll_mail.errors import GllMailError
from gll_mail.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Pod,
    PodMembership,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)

KEYS = ("all", "topics", "pods", "registered", "recipients_of")


class AudienceError(GllMailError, ValueError):
    pass


def effective_audience(
    audience: dict[str, Any] | None, campaign: Campaign | None = None, session: Session | None = None
) -> dict[str, Any]:
    """The spec to use: a corrigendum without one goes to the recipients of its original."""
    spec = dict(audience or {})
    if not spec and campaign is not None and campaign.corrects_id and session is not None:
        original = session.get(Campaign, campaign.corrects_id)
        if original is not None:
            spec = {"recipients_of": original.slug}
    return spec


def _slugs(session: Session, model, slugs: list[str], what: str) -> list[int]:
    rows = dict(session.execute(select(model.slug, model.id).where(model.slug.in_(slugs))).all())
    missing = [s for s in slugs if s not in rows]
    if missing:
        raise AudienceError(f"audience names unknown {what}: {', '.join(missing)}")
    return [rows[s] for s in slugs]


def _conditions(session: Session, spec: dict[str, Any]) -> list:
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise AudienceError(f"unknown audience key(s): {', '.join(unknown)}")
    if not spec:
        raise AudienceError("the audience is not set: say `all: true`, or name topics, pods, …")
    conditions = [Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.paused.is_(False)]
    if "all" in spec and spec["all"] is not True:
        raise AudienceError("audience `all` must be true")
    if spec.get("topics"):
        topic_ids = _slugs(session, Topic, list(spec["topics"]), "topic(s)")
        conditions.append(
            exists().where(Subscription.subscriber_id == Subscriber.id, Subscription.topic_id.in_(topic_ids))
        )
    if spec.get("pods"):
        pod_ids = _slugs(session, Pod, list(spec["pods"]), "learning pod(s)")
        conditions.append(  # IN, not EXISTS: SQLite then reads the pods' few members once (4× faster)
            Subscriber.id.in_(
                select(PodMembership.subscriber_id).where(
                    PodMembership.pod_id.in_(pod_ids), PodMembership.left_at.is_(None)
                )
            )
        )
    if "registered" in spec:
        registered = spec["registered"]
        if not isinstance(registered, bool):
            raise AudienceError("audience `registered` must be true or false")
        conditions.append(Subscriber.registered_at.is_not(None) if registered else Subscriber.registered_at.is_(None))
    if spec.get("recipients_of"):
        original = session.execute(select(Campaign.id).where(Campaign.slug == spec["recipients_of"])).scalar()
        if original is None:
            raise AudienceError(f"audience `recipients_of`: no campaign {spec['recipients_of']!r} in the database")
        conditions.append(_was_sent(original))
    return conditions


def _was_sent(campaign_id: int):
    return exists().where(
        Delivery.subscriber_id == Subscriber.id,
        Delivery.campaign_id == campaign_id,
        Delivery.status == DeliveryStatus.SENT,
    )


def audience_select(session: Session, audience: dict[str, Any] | None, *, campaign: Campaign | None = None) -> Select:
    """``SELECT subscriber.id, subscriber.language`` of the mailable subscribers the spec names.

    Ordered by id so batches are stable. ``campaign`` supplies a corrigendum's default audience.
    """
    spec = effective_audience(audience, campaign, session)
    return select(Subscriber.id, Subscriber.language).where(and_(*_conditions(session, spec))).order_by(Subscriber.id)


def audience_count(session: Session, audience: dict[str, Any] | None, *, campaign: Campaign | None = None) -> int:
    sub = audience_select(session, audience, campaign=campaign).order_by(None).subquery()
    return session.execute(select(func.count()).select_from(sub)).scalar_one()


def audience_counts(session: Session, audiences: list[dict[str, Any] | None]) -> list[int | None]:
    """The count of each audience (None: it names something unknown), in one query: equal specs
    are counted once, each distinct one as a scalar subquery of the same SELECT (the campaigns page,
    where many drafts share a handful of audiences)."""
    keys = [json.dumps(a or {}, sort_keys=True, default=str) for a in audiences]
    counts: dict[str, Any] = {}
    for key, audience in zip(keys, audiences, strict=True):
        if key in counts:
            continue
        try:
            sub = audience_select(session, audience or None).order_by(None).subquery()
        except GllMailError:
            counts[key] = None
            continue
        counts[key] = select(func.count()).select_from(sub).scalar_subquery()
    wanted = [k for k, v in counts.items() if v is not None]
    if wanted:
        found = session.execute(select(*(counts[k].label(f"c{i}") for i, k in enumerate(wanted)))).one()
        counts.update(zip(wanted, found, strict=True))
    return [counts[k] for k in keys]


COUNT_TTL = 60.0  # seconds a cached count stands (the campaigns page; the editor's picker counts live)
_counted: dict[tuple[str, str], tuple[float, int | None]] = {}


def cached_audience_counts(
    session: Session, audiences: list[dict[str, Any] | None], *, ttl: float = COUNT_TTL, clock=time.monotonic
) -> list[int | None]:
    """:func:`audience_counts`, each distinct audience counted at most once per ``ttl`` seconds per
    database (in this process): a list of many campaigns shows sizes at most a minute old."""
    url, now = str(session.get_bind().url), clock()
    keys = [(url, json.dumps(a or {}, sort_keys=True, default=str)) for a in audiences]
    stale = [a for k, a in zip(keys, audiences, strict=True) if k not in _counted or now - _counted[k][0] > ttl]
    if stale:
        if len(_counted) > 10_000:
            _counted.clear()
        for audience, count in zip(stale, audience_counts(session, stale), strict=True):
            _counted[(url, json.dumps(audience or {}, sort_keys=True, default=str))] = (now, count)
    return [_counted[k][1] for k in keys]


@dataclass
class AudienceBreakdown:
    total: int
    by_language: dict[str, int] = field(default_factory=dict)
    by_pod: dict[str, int] = field(default_factory=dict)  # members of each pod; "" = in no pod
    registered: int = 0


def audience_breakdown(
    session: Session, audience: dict[str, Any] | None, *, campaign: Campaign | None = None
) -> AudienceBreakdown:
    """How many recipients, by language and by learning pod, counted in the database."""
    matching = audience_select(session, audience, campaign=campaign).whereclause
    in_a_pod = exists().where(PodMembership.subscriber_id == Subscriber.id, PodMembership.left_at.is_(None))
    by_language, registered, in_no_pod = {}, 0, 0
    for language, count, registered_here, podless in session.execute(  # one pass: language, registered, pods
        select(
            Subscriber.language,
            func.count(),
            func.count().filter(Subscriber.registered_at.is_not(None)),
            func.count().filter(~in_a_pod),
        )
        .where(matching)
        .group_by(Subscriber.language)
        .order_by(func.count().desc(), Subscriber.language)
    ):
        by_language[language] = count
        registered += registered_here
        in_no_pod += podless
    total = sum(by_language.values())
    by_pod = dict(
        session.execute(
            select(Pod.slug, func.count())
            .select_from(Subscriber)
            .join(PodMembership, and_(PodMembership.subscriber_id == Subscriber.id, PodMembership.left_at.is_(None)))
            .join(Pod, Pod.id == PodMembership.pod_id)
            .where(matching)
            .group_by(Pod.slug)
            .order_by(func.count().desc(), Pod.slug)
        ).all()
    )
    if in_no_pod:
        by_pod[""] = in_no_pod
    return AudienceBreakdown(total=total, by_language=by_language, by_pod=by_pod, registered=registered)


@dataclass(frozen=True)
class Unreachable:
    email: str
    reason: str  # the subscriber's status, or "paused"


def unreachable_recipients(
    session: Session, original_slug: str, *, limit: int | None = None
) -> tuple[int, list[Unreachable]]:
    """Recipients of the original who can no longer be mailed (unsubscribed, bounced, paused …,
    or whose account was deleted since).

    Returns the count and (up to ``limit``) the addresses with the reason; deleted accounts have
    no address left and count without being listed.
    """
    original = session.execute(select(Campaign.id).where(Campaign.slug == original_slug)).scalar()
    if original is None:
        return 0, []
    condition = and_(
        _was_sent(original), ~and_(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.paused.is_(False))
    )
    count = session.execute(select(func.count()).select_from(Subscriber).where(condition)).scalar_one()
    count += session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.campaign_id == original, Delivery.status == DeliveryStatus.SENT, Delivery.subscriber_id.is_(None)
        )
    ).scalar_one()
    query = select(Subscriber.email, Subscriber.status, Subscriber.paused).where(condition).order_by(Subscriber.email)
    if limit is not None:
        query = query.limit(limit)
    rows = [
        Unreachable(email, "paused" if paused and status == SubscriberStatus.ACTIVE else status)
        for email, status, paused in session.execute(query)
    ]
    return count, rows


def original_recipient_count(session: Session, original_slug: str) -> int:
    original = session.execute(select(Campaign.id).where(Campaign.slug == original_slug)).scalar()
    if original is None:
        return 0
    return session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == original, Delivery.status == DeliveryStatus.SENT)
    ).scalar_one()


_broken_down: dict[tuple[str, str], tuple[float, AudienceBreakdown]] = {}


def cached_audience_breakdown(
    session: Session, audience: dict[str, Any] | None, *, ttl: float = COUNT_TTL, clock=time.monotonic
) -> AudienceBreakdown:
    """:func:`audience_breakdown` kept ``ttl`` seconds per audience and database (the editor's page
    load; its picker asks for a live count as the audience changes)."""
    key, now = (str(session.get_bind().url), json.dumps(audience or {}, sort_keys=True, default=str)), clock()
    if key not in _broken_down or now - _broken_down[key][0] > ttl:
        if len(_broken_down) > 10_000:
            _broken_down.clear()
        _broken_down[key] = (now, audience_breakdown(session, audience))
    return _broken_down[key][1]
