"""Topics, learning pods and gated resources: what members can subscribe to, join and open."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.errors import GllMailError
from gll_mail.events import record_event
from gll_mail.models import (
    EventType,
    Pod,
    PodMembership,
    Resource,
    Subscriber,
    Topic,
    utcnow,
)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class CatalogError(GllMailError, ValueError):
    pass


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise CatalogError(f"invalid slug {slug!r}: use lowercase letters, digits and dashes")
    return slug


# --- topics ---------------------------------------------------------------------------------


def create_topic(session: Session, *, slug: str, name: str, description: str = "") -> Topic:
    check_slug(slug)
    if session.exec(select(Topic).where(Topic.slug == slug)).first():
        raise CatalogError(f"topic {slug!r} already exists")
    topic = Topic(slug=slug, name=clean_text(name) or slug, description=clean_text(description))
    session.add(topic)
    session.flush()
    return topic


def get_topic(session: Session, slug: str) -> Topic:
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        raise CatalogError(f"no topic {slug!r} (see `gll-mail topics list`)")
    return topic


def list_topics(session: Session) -> list[Topic]:
    return list(session.exec(select(Topic).order_by(Topic.slug)))


# --- pods -----------------------------------------------------------------------------------


def create_pod(session: Session, *, slug: str, name: str, description: str = "") -> Pod:
    check_slug(slug)
    if session.exec(select(Pod).where(Pod.slug == slug)).first():
        raise CatalogError(f"pod {slug!r} already exists")
    pod = Pod(slug=slug, name=clean_text(name) or slug, description=clean_text(description))
    session.add(pod)
    session.flush()
    return pod


def get_pod(session: Session, slug: str) -> Pod:
    pod = session.exec(select(Pod).where(Pod.slug == slug)).first()
    if pod is None:
        raise CatalogError(f"no learning pod {slug!r} (see `gll-mail pods list`)")
    return pod


def list_pods(session: Session) -> list[Pod]:
    return list(session.exec(select(Pod).order_by(Pod.slug)))


def active_membership(session: Session, subscriber: Subscriber, pod: Pod) -> PodMembership | None:
    return session.exec(
        select(PodMembership).where(
            PodMembership.subscriber_id == subscriber.id,
            PodMembership.pod_id == pod.id,
            PodMembership.left_at.is_(None),
        )
    ).first()


def is_pod_member(session: Session, subscriber: Subscriber, pod: Pod) -> bool:
    return active_membership(session, subscriber, pod) is not None


def join_pod(
    session: Session, subscriber: Subscriber, pod: Pod, *, source: str, campaign_id: int | None = None
) -> bool:
    """Add the member to the pod; returns False when they already were in it. ``campaign_id``: the
    campaign whose link they followed (its report counts the join)."""
    if is_pod_member(session, subscriber, pod):
        return False
    session.add(PodMembership(subscriber_id=subscriber.id, pod_id=pod.id))
    record_event(
        session, EventType.POD_JOINED, subscriber=subscriber, pod_id=pod.id, source=source, campaign_id=campaign_id
    )
    session.flush()
    return True


def leave_pod(session: Session, subscriber: Subscriber, pod: Pod, *, source: str) -> bool:
    """End the member's stay in the pod (history is kept); returns False when they were not in it."""
    membership = active_membership(session, subscriber, pod)
    if membership is None:
        return False
    membership.left_at = utcnow()
    session.add(membership)
    record_event(session, EventType.POD_LEFT, subscriber=subscriber, pod_id=pod.id, source=source)
    session.flush()
    return True


def member_pods(session: Session, subscriber: Subscriber) -> list[Pod]:
    return list(
        session.exec(
            select(Pod)
            .join(PodMembership, PodMembership.pod_id == Pod.id)
            .where(PodMembership.subscriber_id == subscriber.id, PodMembership.left_at.is_(None))
            .order_by(Pod.slug)
        )
    )


# --- resources ------------------------------------------------------------------------------


def parse_access(access: str) -> tuple[str, str | None]:
    """``'public'`` → ('public', None); ``'pod:ipc'`` → ('pod', 'ipc')."""
    access = (access or "").strip()
    if access in ("public", "registered"):
        return access, None
    if access.startswith("pod:") and SLUG_RE.match(access[4:]):
        return "pod", access[4:]
    raise CatalogError(f"invalid access rule {access!r}: use public, registered or pod:<slug>")


def check_target(url: str | None, file_path: str | None, resources_dir: Path) -> None:
    if bool(url) == bool(file_path):
        raise CatalogError("give a resource exactly one target: --url or --file")
    if url:
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url, re.I):
            raise CatalogError(f"resource URL must be an absolute http(s) URL, not {url!r}")
        return
    path = Path(file_path)
    if path.is_absolute() or ".." in path.parts:
        raise CatalogError("resource file must be a relative path inside the resources folder")
    if not (resources_dir / path).is_file():
        raise CatalogError(f"resource file {resources_dir / path} does not exist")


def add_resource(
    session: Session,
    *,
    slug: str,
    title: str,
    access: str,
    resources_dir: Path,
    url: str | None = None,
    file_path: str | None = None,
) -> Resource:
    check_slug(slug)
    kind, pod_slug = parse_access(access)
    if kind == "pod":
        get_pod(session, pod_slug)
    check_target(url, file_path, resources_dir)
    if session.exec(select(Resource).where(Resource.slug == slug)).first():
        raise CatalogError(f"resource {slug!r} already exists")
    resource = Resource(slug=slug, title=clean_text(title) or slug, url=url, file_path=file_path, access=access)
    session.add(resource)
    session.flush()
    return resource


def get_resource(session: Session, slug: str) -> Resource:
    resource = session.exec(select(Resource).where(Resource.slug == slug)).first()
    if resource is None:
        raise CatalogError(f"no resource {slug!r} (see `gll-mail resources list`)")
    return resource


def list_resources(session: Session) -> list[Resource]:
    return list(session.exec(select(Resource).order_by(Resource.slug)))
