"""The resource library as the team edits it: add, edit titles, repoint a URL, replace a file, change
the access (after seeing which campaigns link to it), archive, delete, and each one's figures.

Links already mailed carry the resource's slug, never its target, so a repointed or replaced
resource is what those links open from now on; an archived one's links open a page saying where
it went. A resource linked from a campaign that went out cannot be deleted, only archived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gll_mail import catalog
from gll_mail.errors import GllMailError
from gll_mail.library.impact import Impact, resource_impact
from gll_mail.members.gate import forget_cached
from gll_mail.models import Event, EventType, Resource, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize


class ImpactNotConfirmed(GllMailError):
    """The change affects campaigns that link to the resource; the caller must show them and confirm."""

    def __init__(self, message: str, impact: Impact) -> None:
        super().__init__(message)
        self.impact = impact


def _forget(session: Session) -> None:
    engine = session.get_bind()
    if isinstance(engine, Engine):
        forget_cached(engine)


def create_resource(
    settings: Settings,
    session: Session,
    actor: Actor,
    *,
    slug: str,
    title: str,
    access: str = "registered",
    url: str | None = None,
    file_path: str | None = None,
    titles: dict[str, str | None] | None = None,
) -> Resource:
    who = authorize(actor, "catalog.edit")
    resource = catalog.add_resource(
        session,
        slug=slug,
        title=title,
        access=access,
        url=url,
        file_path=file_path,
        titles=titles,
        resources_dir=settings.resources_dir,
    )
    audit.record(
        session,
        who,
        "resource.create",
        object_type="resource",
        object_id=slug,
        details={"title": resource.title, "access": access, "url": url, "file": file_path, "titles": resource.titles},
    )
    return resource


def update_resource(
    settings: Settings,
    session: Session,
    actor: Actor,
    slug: str,
    *,
    title: str | None = None,
    titles: dict[str, str | None] | None = None,
    url: str | None = None,
    file_path: str | None = None,
    access: str | None = None,
    confirmed: bool = False,
) -> tuple[Resource, dict[str, Any]]:
    """Edit a resource; returns (resource, what changed). A new access rule that campaigns linking to
    the resource would feel raises :class:`ImpactNotConfirmed` (listing them) unless ``confirmed``."""
    who = authorize(actor, "catalog.edit")
    current = catalog.get_resource(session, slug)
    if access is not None and not confirmed and catalog.check_access(session, access) != current.access:
        impact = resource_impact(settings, session, slug)
        if impact:
            raise ImpactNotConfirmed(
                f"resource {slug} is linked from {len(impact.sent)} sent and {len(impact.scheduled)} scheduled "
                f"campaign(s); confirm the new access {access!r} after checking them: " + "; ".join(impact.lines()),
                impact,
            )
    resource, changes = catalog.update_resource(
        session,
        slug,
        resources_dir=settings.resources_dir,
        title=title,
        titles=titles,
        url=url,
        file_path=file_path,
        access=access,
    )
    if changes:
        audit.record(session, who, "resource.update", object_type="resource", object_id=slug, details=changes)
        _forget(session)
    return resource, changes


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def replace_file(
    settings: Settings, session: Session, actor: Actor, slug: str, *, filename: str, data: bytes
) -> tuple[Resource, dict[str, Any]]:
    """Store an uploaded file under the resources folder (``SLUG/NAME``) and make it the resource's
    target; a file of the same name is replaced. Links already mailed open the new file."""
    authorize(actor, "catalog.edit")
    catalog.get_resource(session, slug)
    name = SAFE_NAME.sub("-", Path(filename or "").name).strip(".-")
    if not name:
        raise GllMailError("give the file a name (letters, digits, dots and dashes)")
    folder = Path(settings.resources_dir) / slug
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.upload"
    temporary.write_bytes(data)
    temporary.replace(folder / name)
    return update_resource(settings, session, actor, slug, file_path=f"{slug}/{name}")


def archive_resource(
    session: Session, actor: Actor, slug: str, *, moved_to: str | None = None, restore: bool = False
) -> bool:
    """Archive a resource (its links open a page saying where it went: ``moved_to``, when given), or
    bring it back with ``restore``. False when nothing changed."""
    who = authorize(actor, "catalog.edit")
    changed = catalog.archive_resource(session, slug, moved_to=moved_to, archived=not restore)
    if changed:
        action = "resource.restore" if restore else "resource.archive"
        audit.record(session, who, action, object_type="resource", object_id=slug, details={"moved_to": moved_to})
        _forget(session)
    return changed


def delete_resource(settings: Settings, session: Session, actor: Actor, slug: str) -> None:
    """Delete a resource nothing links to any more; refused when a sent or scheduled campaign does
    (its links would break: archive it instead)."""
    who = authorize(actor, "catalog.edit")
    resource = catalog.get_resource(session, slug)
    impact = resource_impact(settings, session, slug)
    if impact:
        raise GllMailError(
            f"resource {slug} is linked from campaigns ({'; '.join(impact.lines())}): it cannot be deleted; "
            f"archive it instead (gll-mail resources archive {slug})"
        )
    details = {"title": resource.title, "url": resource.url, "file": resource.file_path, "access": resource.access}
    session.delete(resource)
    session.flush()
    audit.record(session, who, "resource.delete", object_type="resource", object_id=slug, details=details)
    _forget(session)


@dataclass(frozen=True)
class ResourceFigures:
    clicks: int  # human clicks on its links (link scanners left out)
    members: int  # distinct members who clicked
    registrations: int  # members who registered through one of its links


def resource_figures(session: Session, actor: Actor, slugs: list[str] | None = None) -> dict[str, ResourceFigures]:
    """Clicks and registrations per resource (every resource, or those of ``slugs``)."""
    authorize(actor, "catalog.view")
    query = select(Resource.id, Resource.slug)
    if slugs is not None:
        query = query.where(Resource.slug.in_(slugs))
    ids = dict(session.exec(query).all())
    if not ids:
        return {}
    clicks = {
        rid: (n, m)
        for rid, n, m in session.exec(
            select(Event.resource_id, func.count(), func.count(func.distinct(Event.subscriber_id)))
            .where(Event.type == EventType.CLICK, Event.is_bot.is_(False), Event.resource_id.in_(list(ids)))
            .group_by(Event.resource_id)
        )
    }
    registrations = dict(
        session.exec(
            select(Event.resource_id, func.count())
            .where(Event.type == EventType.CONFIRMED, Event.resource_id.in_(list(ids)))
            .group_by(Event.resource_id)
        ).all()
    )
    return {
        slug: ResourceFigures(clicks.get(rid, (0, 0))[0], clicks.get(rid, (0, 0))[1], registrations.get(rid, 0))
        for rid, slug in ids.items()
    }


def describe_resource(settings: Settings, session: Session, actor: Actor, slug: str) -> dict[str, Any]:
    """One resource for its console page: target, access, titles, state, figures and linking campaigns."""
    authorize(actor, "catalog.view")
    r = catalog.get_resource(session, slug)
    figures = resource_figures(session, actor, [slug]).get(slug, ResourceFigures(0, 0, 0))
    return {
        "slug": r.slug,
        "title": r.title,
        "titles": dict(r.titles or {}),
        "url": r.url,
        "file": r.file_path,
        "access": r.access,
        "archived_at": r.archived_at.isoformat() if r.archived_at else None,
        "moved_to": r.moved_to,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
        "clicks": figures.clicks,
        "members": figures.members,
        "registrations": figures.registrations,
        "impact": resource_impact(settings, session, slug).as_dict(),
        "as_of": utcnow().isoformat(),
    }
