"""Topics and learning pods as the team edits them: create, rename (in any of the six languages),
archive or bring back, and a pod's roster with join dates (exportable as CSV). Each change is in the
audit log with what it was before; archiving hides from members' choices and keeps every
membership, subscription and event."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlmodel import Session

from gll_mail import catalog
from gll_mail.models import Pod, Topic
from gll_mail.subscribers import spreadsheet_safe
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize

Texts = dict[str, str | None] | None


_CATALOG = {  # kind → catalog's create, update and archive of it
    "topic": (catalog.create_topic, catalog.update_topic, catalog.archive_topic),
    "pod": (catalog.create_pod, catalog.update_pod, catalog.archive_pod),
}


def _create(session: Session, actor: Actor, kind: str, **fields: Any):
    who = authorize(actor, "catalog.edit")
    created = _CATALOG[kind][0](session, **fields)
    audit.record(session, who, f"{kind}.create", object_type=kind, object_id=fields["slug"], details=_texts(created))
    return created


def _update(session: Session, actor: Actor, kind: str, slug: str, **fields: Any):
    who = authorize(actor, "catalog.edit")
    obj, changes = _CATALOG[kind][1](session, slug, **fields)
    if changes:
        audit.record(session, who, f"{kind}.update", object_type=kind, object_id=slug, details=changes)
    return obj, changes


def _archive(session: Session, actor: Actor, kind: str, slug: str, restore: bool) -> bool:
    who = authorize(actor, "catalog.edit")
    changed = _CATALOG[kind][2](session, slug, archived=not restore)
    if changed:
        action = f"{kind}.restore" if restore else f"{kind}.archive"
        audit.record(session, who, action, object_type=kind, object_id=slug)
    return changed


def create_topic(
    session: Session,
    actor: Actor,
    *,
    slug: str,
    name: str,
    description: str = "",
    names: Texts = None,
    descriptions: Texts = None,
) -> Topic:
    return _create(
        session, actor, "topic", slug=slug, name=name, description=description, names=names, descriptions=descriptions
    )


def update_topic(
    session: Session, actor: Actor, slug: str, **fields: str | Texts | None
) -> tuple[Topic, dict[str, Any]]:
    """Rename a topic or change its description (``name``, ``description``, ``names``,
    ``descriptions``); returns (topic, what changed: before and after)."""
    return _update(session, actor, "topic", slug, **fields)


def archive_topic(session: Session, actor: Actor, slug: str, *, restore: bool = False) -> bool:
    return _archive(session, actor, "topic", slug, restore)


def create_pod(
    session: Session,
    actor: Actor,
    *,
    slug: str,
    name: str,
    description: str = "",
    names: Texts = None,
    descriptions: Texts = None,
) -> Pod:
    return _create(
        session, actor, "pod", slug=slug, name=name, description=description, names=names, descriptions=descriptions
    )


def update_pod(session: Session, actor: Actor, slug: str, **fields: str | Texts | None) -> tuple[Pod, dict[str, Any]]:
    """Rename a pod or change its description (``name``, ``description``, ``names``,
    ``descriptions``); returns (pod, what changed: before and after)."""
    return _update(session, actor, "pod", slug, **fields)


def archive_pod(session: Session, actor: Actor, slug: str, *, restore: bool = False) -> bool:
    return _archive(session, actor, "pod", slug, restore)


def _texts(obj: Topic | Pod) -> dict[str, Any]:
    return {"name": obj.name, "description": obj.description, "names": obj.names, "descriptions": obj.descriptions}


ROSTER_FIELDS = ("email", "name", "organization", "country", "language", "status", "joined_at", "left_at")


def roster(session: Session, actor: Actor, slug: str, *, former: bool = False) -> list[dict[str, Any]]:
    """The pod's members with their join date (and, with ``former``, everyone who left, with the date)."""
    authorize(actor, "member.view")
    pod = catalog.get_pod(session, slug)
    return [
        {
            "public_id": member.public_id,
            "email": member.email,
            "name": member.name,
            "organization": member.organization,
            "country": member.country,
            "language": member.language,
            "status": member.status,
            "joined_at": stay.joined_at.isoformat(),
            "left_at": stay.left_at.isoformat() if stay.left_at else "",
        }
        for member, stay in catalog.pod_roster(session, pod, former=former)
    ]


def roster_csv(session: Session, actor: Actor, slug: str, *, former: bool = False) -> str:
    """The roster as CSV text (each cell safe to open in a spreadsheet)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROSTER_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in roster(session, actor, slug, former=former):
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
    return out.getvalue()
