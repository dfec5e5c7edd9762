"""Topics, learning pods and gated resources: what members can subscribe to, join and open.

Names, descriptions and titles are written in English (``name``, ``description``, ``title``) with
translations beside them (``names``, ``descriptions``, ``titles``: language → text), shown by
:func:`display_name`, which falls back to English. Archiving hides a topic or pod from members'
choices and keeps its memberships, history and links; an archived resource's links open a page
saying where it went. The changes here are plain edits: :mod:`gll_mail.library` checks roles and
writes the audit log around them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.errors import GllMailError
from gll_mail.events import record_event
from gll_mail.languages import LANGUAGES
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
TRANSLATED = tuple(code for code in ("fr", "es", "ar", "zh", "ru") if code in LANGUAGES)  # besides English
NAME_LIMIT, TITLE_LIMIT, DESCRIPTION_LIMIT = 200, 300, 2000


class CatalogError(GllMailError, ValueError):
    pass


class CatalogNotFound(CatalogError, LookupError):
    """No topic, pod or resource of that slug."""


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise CatalogError(f"invalid slug {slug!r}: use lowercase letters, digits and dashes")
    return slug


# --- names in six languages -----------------------------------------------------------------


def display_name(obj: Any, language: str) -> str:
    """A topic's or pod's name, or a resource's title, in ``language``; in English when not translated."""
    if hasattr(obj, "titles"):
        return (obj.titles or {}).get(language) or obj.title
    return (obj.names or {}).get(language) or obj.name


def display_description(obj: Any, language: str) -> str:
    return (obj.descriptions or {}).get(language) or obj.description


def merge_translations(
    current: Mapping[str, str] | None, changes: Mapping[str, str | None] | None, *, limit: int, what: str
) -> dict[str, str]:
    """``current`` with ``changes`` applied: a text sets a language, "" or None removes it, languages
    not named stay as they are. Only the five languages beside English are accepted."""
    merged = dict(current or {})
    for language, text in (changes or {}).items():
        if language not in TRANSLATED:
            raise CatalogError(
                f"no {what} translation into {language!r}: use {', '.join(TRANSLATED)} "
                f"(the English {what} is the main one)"
            )
        cleaned = clean_text(text or "")
        if len(cleaned) > limit:
            raise CatalogError(f"the {language} {what} is longer than {limit} characters")
        if cleaned:
            merged[language] = cleaned
        else:
            merged.pop(language, None)
    return {code: merged[code] for code in TRANSLATED if code in merged}


def _set(obj: Any, field: str, value: Any, changes: dict[str, Any]) -> None:
    before = getattr(obj, field)
    if value != before:
        changes[field] = {"before": before, "after": value}
        setattr(obj, field, value)


def _edit_named(
    session: Session,
    obj: Topic | Pod,
    *,
    name: str | None,
    description: str | None,
    names: Mapping[str, str | None] | None,
    descriptions: Mapping[str, str | None] | None,
) -> dict[str, Any]:
    """Apply a rename or new description (any language) to a topic or pod; returns what changed."""
    changes: dict[str, Any] = {}
    if name is not None:
        cleaned = clean_text(name)
        if not cleaned or len(cleaned) > NAME_LIMIT:
            raise CatalogError(f"the English name must have 1 to {NAME_LIMIT} characters")
        _set(obj, "name", cleaned, changes)
    if description is not None:
        _set(obj, "description", clean_text(description)[:DESCRIPTION_LIMIT], changes)
    if names:
        _set(obj, "names", merge_translations(obj.names, names, limit=NAME_LIMIT, what="name"), changes)
    if descriptions:
        merged = merge_translations(obj.descriptions, descriptions, limit=DESCRIPTION_LIMIT, what="description")
        _set(obj, "descriptions", merged, changes)
    if changes:
        obj.updated_at = utcnow()
        session.add(obj)
        session.flush()
    return changes


def _archive(session: Session, obj: Any, archived: bool) -> bool:
    """Archive (or bring back) a topic, pod or resource; False when it already was so."""
    if (obj.archived_at is not None) == archived:
        return False
    obj.archived_at = utcnow() if archived else None
    obj.updated_at = utcnow()
    session.add(obj)
    session.flush()
    return True


def _create_named(session: Session, model, what: str, slug, name, description, names, descriptions):
    """A new topic or pod, its names and descriptions cleaned, in six languages."""
    check_slug(slug)
    if session.exec(select(model).where(model.slug == slug)).first():
        raise CatalogError(f"{what} {slug!r} already exists")
    row = model(
        slug=slug,
        name=clean_text(name) or slug,
        description=clean_text(description),
        names=merge_translations({}, names, limit=NAME_LIMIT, what="name"),
        descriptions=merge_translations({}, descriptions, limit=DESCRIPTION_LIMIT, what="description"),
    )
    session.add(row)
    session.flush()
    return row


def _listed(session: Session, model, archived: bool) -> list:
    """Topics or pods by slug; the archived ones only when asked."""
    query = select(model).order_by(model.slug)
    if not archived:
        query = query.where(model.archived_at.is_(None))
    return list(session.exec(query))


# --- topics ---------------------------------------------------------------------------------


def create_topic(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str = "",
    names: Mapping[str, str | None] | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> Topic:
    return _create_named(session, Topic, "topic", slug, name, description, names, descriptions)


def get_topic(session: Session, slug: str) -> Topic:
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        raise CatalogNotFound(f"no topic {slug!r} (see `gll-mail topics list`)")
    return topic


def list_topics(session: Session, *, archived: bool = False) -> list[Topic]:
    """The topics members choose from; ``archived=True``: the archived ones too."""
    return _listed(session, Topic, archived)


def update_topic(
    session: Session,
    slug: str,
    *,
    name: str | None = None,
    description: str | None = None,
    names: Mapping[str, str | None] | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> tuple[Topic, dict[str, Any]]:
    """Rename a topic or change its description, in any of the six languages; (topic, what changed)."""
    topic = get_topic(session, slug)
    return topic, _edit_named(
        session, topic, name=name, description=description, names=names, descriptions=descriptions
    )


def archive_topic(session: Session, slug: str, *, archived: bool = True) -> bool:
    """Hide a topic from members' choices; its subscriptions and history stay. ``archived=False`` restores it."""
    return _archive(session, get_topic(session, slug), archived)


# --- pods -----------------------------------------------------------------------------------


def create_pod(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str = "",
    names: Mapping[str, str | None] | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> Pod:
    return _create_named(session, Pod, "pod", slug, name, description, names, descriptions)


def get_pod(session: Session, slug: str) -> Pod:
    pod = session.exec(select(Pod).where(Pod.slug == slug)).first()
    if pod is None:
        raise CatalogNotFound(f"no learning pod {slug!r} (see `gll-mail pods list`)")
    return pod


def list_pods(session: Session, *, archived: bool = False) -> list[Pod]:
    """The pods members choose from; ``archived=True``: the archived ones too."""
    return _listed(session, Pod, archived)


def update_pod(
    session: Session,
    slug: str,
    *,
    name: str | None = None,
    description: str | None = None,
    names: Mapping[str, str | None] | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> tuple[Pod, dict[str, Any]]:
    """Rename a pod or change its description, in any of the six languages; (pod, what changed)."""
    pod = get_pod(session, slug)
    return pod, _edit_named(session, pod, name=name, description=description, names=names, descriptions=descriptions)


def archive_pod(session: Session, slug: str, *, archived: bool = True) -> bool:
    """Hide a pod from members' choices; its members stay in it and its history is kept."""
    return _archive(session, get_pod(session, slug), archived)


def pod_roster(session: Session, pod: Pod, *, former: bool = False) -> list[tuple[Subscriber, PodMembership]]:
    """The pod's members with their stay (join date; leave date for ``former=True``, which adds
    everyone who ever was in it), by join date."""
    query = (
        select(Subscriber, PodMembership)
        .join(PodMembership, PodMembership.subscriber_id == Subscriber.id)
        .where(PodMembership.pod_id == pod.id)
        .order_by(PodMembership.joined_at, PodMembership.id)
    )
    if not former:
        query = query.where(PodMembership.left_at.is_(None))
    return list(session.exec(query))


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
    titles: Mapping[str, str | None] | None = None,
) -> Resource:
    check_slug(slug)
    check_access(session, access)
    check_target(url, file_path, resources_dir)
    if session.exec(select(Resource).where(Resource.slug == slug)).first():
        raise CatalogError(
            f"resource {slug!r} already exists (to repoint it: gll-mail resources update {slug} --url URL)"
        )
    resource = Resource(
        slug=slug,
        title=clean_text(title) or slug,
        url=url,
        file_path=file_path,
        access=access,
        titles=merge_translations({}, titles, limit=TITLE_LIMIT, what="title"),
    )
    session.add(resource)
    session.flush()
    return resource


def get_resource(session: Session, slug: str) -> Resource:
    resource = session.exec(select(Resource).where(Resource.slug == slug)).first()
    if resource is None:
        raise CatalogNotFound(f"no resource {slug!r} (see `gll-mail resources list`)")
    return resource


def list_resources(session: Session, *, archived: bool = True) -> list[Resource]:
    query = select(Resource).order_by(Resource.slug)
    if not archived:
        query = query.where(Resource.archived_at.is_(None))
    return list(session.exec(query))


def check_access(session: Session, access: str) -> str:
    kind, pod_slug = parse_access(access)
    if kind == "pod":
        get_pod(session, pod_slug)
    return access.strip()


def update_resource(
    session: Session,
    slug: str,
    *,
    resources_dir: Path,
    title: str | None = None,
    titles: Mapping[str, str | None] | None = None,
    url: str | None = None,
    file_path: str | None = None,
    access: str | None = None,
) -> tuple[Resource, dict[str, Any]]:
    """Edit a resource: its titles, its access, or its target (a new ``url`` or ``file_path``
    replaces the old target, whichever kind it was). Links already mailed carry the slug, so they
    lead to the new target. Returns (resource, what changed)."""
    resource = get_resource(session, slug)
    changes: dict[str, Any] = {}
    if title is not None:
        cleaned = clean_text(title)
        if not cleaned or len(cleaned) > TITLE_LIMIT:
            raise CatalogError(f"the English title must have 1 to {TITLE_LIMIT} characters")
        _set(resource, "title", cleaned, changes)
    if titles:
        _set(resource, "titles", merge_translations(resource.titles, titles, limit=TITLE_LIMIT, what="title"), changes)
    if url is not None or file_path is not None:
        check_target(url, file_path, resources_dir)
        _set(resource, "url", url or None, changes)
        _set(resource, "file_path", file_path or None, changes)
    if access is not None:
        _set(resource, "access", check_access(session, access), changes)
    if changes:
        resource.updated_at = utcnow()
        session.add(resource)
        session.flush()
    return resource, changes


def archive_resource(session: Session, slug: str, *, moved_to: str | None = None, archived: bool = True) -> bool:
    """Archive a resource: its links (those already mailed too) open a page saying it was archived,
    with a link to ``moved_to`` when given. ``archived=False`` brings it back."""
    resource = get_resource(session, slug)
    if moved_to:
        check_target(moved_to, None, Path("."))
    changed = _archive(session, resource, archived)
    new_place = (moved_to or None) if archived else None
    if archived and not changed and not moved_to:
        return False
    if resource.moved_to != new_place:
        resource.moved_to = new_place
        session.add(resource)
        session.flush()
        changed = True
    return changed
