"""What a click on a gated link leads to: the resource, registration, or joining a learning pod.

``decide()`` is pure: it looks only at the resource's access rule, whether the member is
registered and which pods they are in. ``load_gate()`` reads a verified token's subjects from the
database (raising :class:`GateNotFound` when one is gone) so the web only has to act on the outcome.

Link scanners (security gateways that fetch every URL of a message, and any ``HEAD``) must change
nothing: ``events.is_scanner()`` classifies them, the click is kept as a bot event and no member state moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from gll_mail.campaigns.records import EXISTING as CAMPAIGNS
from gll_mail.campaigns.records import linked_campaign
from gll_mail.catalog import CatalogError, parse_access
from gll_mail.db import ReadCache
from gll_mail.errors import GllMailError
from gll_mail.models import Pod, PodMembership, Resource, Subscriber
from gll_mail.tokens import TokenData


class Outcome(StrEnum):
    OPEN = "open"  # redirect to the resource's URL or serve its file
    REGISTER = "register"  # the registration form, then double opt-in, then on to the target
    JOIN_POD = "join-pod"  # the "Join the <pod> learning pod" page with one POST button
    POD_HOME = "pod-home"  # a pod link without a resource, for a member already in the pod
    ARCHIVED = "archived"  # the resource was archived: a page says where it went
    POD_ARCHIVED = "pod-archived"  # the pod to join was archived: nobody joins it any more


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    pod_slug: str | None = None  # the pod to join (JOIN_POD) or the pod the link is about


class GateNotFound(GllMailError, LookupError):
    """The token is genuine but its subscriber, resource or pod no longer exists."""


def required_pod(access: str) -> str | None:
    try:
        kind, pod_slug = parse_access(access)
    except CatalogError:
        return None
    return pod_slug if kind == "pod" else None


def decide(*, access: str | None, pod_slug: str | None, registered: bool, member_of: frozenset[str]) -> Decision:
    """The outcome of a gated click.

    ``access`` is the resource's rule (None for a pod link without a resource); ``pod_slug`` the
    pod named by a ``/p/`` link (None for a ``/r/`` link); ``member_of`` the member's current pods.
    """
    if access is not None and access.strip() == "public" and pod_slug is None:
        return Decision(Outcome.OPEN)
    if not registered:
        return Decision(Outcome.REGISTER, pod_slug)
    for needed in (pod_slug, required_pod(access) if access is not None else None):
        if needed and needed not in member_of:
            return Decision(Outcome.JOIN_POD, needed)
    if access is None:
        return Decision(Outcome.POD_HOME, pod_slug)
    return Decision(Outcome.OPEN, pod_slug)


@dataclass
class Gate:
    subscriber: Subscriber
    resource: ResourceInfo | None
    pod: Pod | None
    campaign_id: int | None
    member_of: frozenset[str]
    archived_pods: frozenset[str] = frozenset()  # of the pods the link needs, those archived

    def decision(self) -> Decision:
        if self.resource is not None and self.resource.archived:
            return Decision(Outcome.ARCHIVED)
        decision = decide(
            access=self.resource.access if self.resource is not None else None,
            pod_slug=self.pod.slug if self.pod is not None else None,
            registered=self.subscriber.is_registered,
            member_of=self.member_of,
        )
        needed = decision.pod_slug if decision.outcome in (Outcome.JOIN_POD, Outcome.REGISTER) else None
        if needed in self.archived_pods:  # an old link: the pod is closed to new members
            return Decision(Outcome.POD_ARCHIVED, needed)
        return decision


_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class ResourceInfo:
    """A cached, read-only copy of a :class:`Resource` row (what the gate needs of it)."""

    id: int
    slug: str
    title: str
    url: str | None
    file_path: str | None
    access: str
    titles: dict
    archived: bool
    moved_to: str | None


RESOURCES = ReadCache(_CACHE_SECONDS)


_RESOURCE_Q = select(
    Resource.id,
    Resource.slug,
    Resource.title,
    Resource.url,
    Resource.file_path,
    Resource.access,
    Resource.titles,
    Resource.archived_at.is_not(None),
    Resource.moved_to,
).where(Resource.slug == bindparam("slug"))


def cached_resource(connection: Connection, slug: str) -> ResourceInfo | None:
    """Resources change rarely and every gated click reads one: keep them for a few seconds."""

    def load() -> ResourceInfo | None:
        row = connection.execute(_RESOURCE_Q, {"slug": slug}).first()
        return ResourceInfo(*row[:6], dict(row[6] or {}), bool(row[7]), row[8]) if row is not None else None

    return RESOURCES.get(connection.engine, slug, load)


def forget_cached(engine: Engine) -> None:
    """Drop what the gate keeps of this database's resources and campaigns (after an edit)."""
    RESOURCES.forget(engine)
    CAMPAIGNS.forget(engine)


def load_subscriber(session: Session, public_id: str) -> Subscriber:
    subscriber = session.exec(select(Subscriber).where(Subscriber.public_id == public_id)).first()
    if subscriber is None:
        raise GateNotFound("no such subscriber")
    return subscriber


def load_gate(session: Session, data: TokenData) -> Gate:
    """The database rows a verified ``gate`` or ``join-pod`` token points at."""
    subscriber = load_subscriber(session, data.subject)
    resource = pod = None
    resource_slug, pod_slug = data.extra.get("r"), data.extra.get("p")
    if isinstance(resource_slug, str):
        resource = cached_resource(session.connection(), resource_slug)
        if resource is None:
            raise GateNotFound("no such resource")
    if isinstance(pod_slug, str):
        pod = session.exec(select(Pod).where(Pod.slug == pod_slug)).first()
        if pod is None:
            raise GateNotFound("no such pod")
    if resource is None and pod is None:
        raise GateNotFound("the link names nothing")
    member_of: frozenset[str] = frozenset()
    needs_pods = pod is not None or (resource is not None and required_pod(resource.access))
    if needs_pods and subscriber.is_registered:
        member_of = frozenset(
            session.exec(
                select(Pod.slug)
                .join(PodMembership, PodMembership.pod_id == Pod.id)
                .where(PodMembership.subscriber_id == subscriber.id, PodMembership.left_at.is_(None))
            )
        )
    needed = {pod.slug} if pod is not None else set()
    if resource is not None and required_pod(resource.access):
        needed.add(required_pod(resource.access))
    archived = (
        frozenset(session.exec(select(Pod.slug).where(Pod.slug.in_(needed), Pod.archived_at.is_not(None))))
        if needed
        else frozenset()
    )
    campaign_id = linked_campaign(session.connection(), data.extra.get("c"))
    return Gate(subscriber, resource, pod, campaign_id, member_of, archived)


_MEMBER_Q = select(Subscriber.id, Subscriber.registered_at).where(Subscriber.public_id == bindparam("public_id"))
_PODS_Q = (
    select(Pod.slug)
    .join(PodMembership, PodMembership.pod_id == Pod.id)
    .where(PodMembership.subscriber_id == bindparam("sid"), PodMembership.left_at.is_(None))
)


@dataclass(frozen=True)
class QuickGate:
    decision: Decision
    subscriber_id: int
    resource: ResourceInfo
    campaign_id: int | None


def quick_gate(connection: Connection, data: TokenData) -> QuickGate | None:
    """The hot path of a ``/r/`` click, on plain Core queries: None when the full path must run."""
    slug = data.extra.get("r")
    if not isinstance(slug, str) or "p" in data.extra:
        return None
    resource = cached_resource(connection, slug)
    if resource is None or resource.archived:
        return None
    row = connection.execute(_MEMBER_Q, {"public_id": data.subject}).first()
    if row is None:
        return None
    registered = row.registered_at is not None
    member_of: frozenset[str] = frozenset()
    if registered and required_pod(resource.access):
        member_of = frozenset(connection.execute(_PODS_Q, {"sid": row.id}).scalars())
    decision = decide(access=resource.access, pod_slug=None, registered=registered, member_of=member_of)
    return QuickGate(decision, row.id, resource, linked_campaign(connection, data.extra.get("c")))
