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
    who = authorize(actor, "catalog.edit")
    topic = catalog.create_topic(
        session, slug=slug, name=name, description=description, names=names, descriptions=descriptions
    )
    audit.record(session, who, "topic.create", object_type="topic", object_id=slug, details=_texts(topic))
    return topic


def update_topic(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    name: str | None = None,
    description: str | None = None,
    names: Texts = None,
    descriptions: Texts = None,
) -> tuple[Topic, dict[str, Any]]:
    """Rename a topic or change its description; returns (topic, what changed: before and after)."""
    who = authorize(actor, "catalog.edit")
    topic, changes = catalog.update_topic(
        session, slug, name=name, description=description, names=names, descriptions=descriptions
    )
    if changes:
        audit.record(session, who, "topic.update", object_type="topic", object_id=slug, details=changes)
    return topic, changes


def archive_topic(session: Session, actor: Actor, slug: str, *, restore: bool = False) -> bool:
    who = authorize(actor, "catalog.edit")
    changed = catalog.archive_topic(session, slug, archived=not restore)
    if changed:
        audit.record(session, who, "topic.restore" if restore else "topic.archive", object_type="topic", object_id=slug)
    return changed


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
    who = authorize(actor, "catalog.edit")
    pod = catalog.create_pod(
        session, slug=slug, name=name, description=description, names=names, descriptions=descriptions
    )
    audit.record(session, who, "pod.create", object_type="pod", object_id=slug, details=_texts(pod))
    return pod


def update_pod(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    name: str | None = None,
    description: str | None = None,
    names: Texts = None,
    descriptions: Texts = None,
) -> tuple[Pod, dict[str, Any]]:
    """Rename a pod or change its description; returns (pod, what changed: before and after)."""
    who = authorize(actor, "catalog.edit")
    pod, changes = catalog.update_pod(
        session, slug, name=name, description=description, names=names, descriptions=descriptions
    )
    if changes:
        audit.record(session, who, "pod.update", object_type="pod", object_id=slug, details=changes)
    return pod, changes


def archive_pod(session: Session, actor: Actor, slug: str, *, restore: bool = False) -> bool:
    who = authorize(actor, "catalog.edit")
    changed = catalog.archive_pod(session, slug, archived=not restore)
    if changed:
        audit.record(session, who, "pod.restore" if restore else "pod.archive", object_type="pod", object_id=slug)
    return changed


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
