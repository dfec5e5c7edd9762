"""What the team does to one member: edit the profile, add to or remove from pods and topics,
unsubscribe, erase, export. Role-checked and in the audit log (by the member's public id, never
their address). The team cannot re-subscribe anyone who unsubscribed or was suppressed: only the
member can, from their own signed link. Erasing and exporting are the member's own delete and
download (:mod:`gll_mail.members.preferences`), so there is one erasure and one export."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gll_mail.addresses import clean_text, normalize_email
from gll_mail.catalog import get_pod, get_topic, join_pod, leave_pod
from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.events import record_event
from gll_mail.importer import import_rows
from gll_mail.languages import normalize_language
from gll_mail.members import preferences
from gll_mail.members.directory import MAX_ID, MemberNotFound
from gll_mail.models import AuditEntry, EventType, Subscriber, Subscription, utcnow
from gll_mail.spreadsheets import ImportReport, rows_from_records
from gll_mail.subscribers import find_by_email
from gll_mail.team import audit
from gll_mail.team.roles import Actor, authorize

SOURCE = "admin"
PROFILE_FIELDS = {"name": 200, "organization": 200, "country": 100, "role": 200}


def _audit(session: Session, who, action: str, member: Subscriber, details: dict[str, Any] | None = None) -> None:
    audit.record(session, who, action, object_type="member", object_id=member.public_id, details=details)


def update_profile(session: Session, actor: Actor, member: Subscriber, values: dict[str, str | None]) -> dict[str, Any]:
    """Set any of name, organization, country, role and language (None: leave it); returns what changed."""
    who = authorize(actor, "member.edit")
    unknown = set(values) - set(PROFILE_FIELDS) - {"language"}
    if unknown:
        raise GllMailError(
            f"cannot edit {', '.join(sorted(unknown))} (editable: name, organization, country, role, language)"
        )
    changes: dict[str, Any] = {}
    for name, limit in PROFILE_FIELDS.items():
        if values.get(name) is None:
            continue
        new = clean_text(values[name])
        if len(new) > limit:
            raise GllMailError(f"{name} is longer than {limit} characters")
        old = getattr(member, name) or ""
        if new != old:
            setattr(member, name, new)
            record_event(
                session, EventType.PROFILE_CHANGED, subscriber=member, source=SOURCE, field=name, old=old, new=new
            )
            changes[name] = {"before": old, "after": new}
    if values.get("language"):
        old = member.language
        if preferences.set_language(session, member, normalize_language(values["language"]), source=SOURCE):
            changes["language"] = {"before": old, "after": member.language}
    if changes:
        member.updated_at = utcnow()
        session.add(member)
        session.flush()
        _audit(session, who, "member.update", member, changes)
    return changes


def add_to_pod(session: Session, actor: Actor, member: Subscriber, slug: str) -> bool:
    who = authorize(actor, "member.edit")
    joined = join_pod(session, member, get_pod(session, slug), source=SOURCE)
    if joined:
        _audit(session, who, "member.pod-add", member, {"pod": slug})
    return joined


def remove_from_pod(session: Session, actor: Actor, member: Subscriber, slug: str) -> bool:
    """End the member's stay in the pod (the stay stays in their history)."""
    who = authorize(actor, "member.edit")
    left = leave_pod(session, member, get_pod(session, slug), source=SOURCE)
    if left:
        _audit(session, who, "member.pod-remove", member, {"pod": slug})
    return left


def add_topic(session: Session, actor: Actor, member: Subscriber, slug: str) -> bool:
    who = authorize(actor, "member.edit")
    topic = get_topic(session, slug)
    if session.exec(
        select(Subscription).where(Subscription.subscriber_id == member.id, Subscription.topic_id == topic.id)
    ).first():
        return False
    session.add(Subscription(subscriber_id=member.id, topic_id=topic.id))
    record_event(session, EventType.TOPIC_ADDED, subscriber=member, source=SOURCE, topic=slug)
    session.flush()
    _audit(session, who, "member.topic-add", member, {"topic": slug})
    return True


def remove_topic(session: Session, actor: Actor, member: Subscriber, slug: str) -> bool:
    who = authorize(actor, "member.edit")
    topic = get_topic(session, slug)
    row = session.exec(
        select(Subscription).where(Subscription.subscriber_id == member.id, Subscription.topic_id == topic.id)
    ).first()
    if row is None:
        return False
    session.delete(row)
    record_event(session, EventType.TOPIC_REMOVED, subscriber=member, source=SOURCE, topic=slug)
    session.flush()
    _audit(session, who, "member.topic-remove", member, {"topic": slug})
    return True


def unsubscribe(session: Session, actor: Actor, member: Subscriber, *, reason: str = "") -> bool:
    """Stop all mail to the member (as their own unsubscribe does); False when it already was so."""
    who = authorize(actor, "member.edit")
    done = preferences.unsubscribe(session, member, source=SOURCE)
    if done:
        _audit(session, who, "member.unsubscribe", member, {"reason": clean_text(reason)[:500]} if reason else None)
    return done


def erase(session: Session, actor: Actor, member: Subscriber, *, reason: str = "") -> str:
    """The member's own delete (:func:`gll_mail.members.preferences.delete_account`), by the team: only
    a hash of the address stays. The audit log keeps that it happened, and forgets the before/after
    values earlier entries kept about them. Returns the erased member's public id."""
    who = authorize(actor, "member.erase")
    public_id = member.public_id
    preferences.delete_account(session, member, source=SOURCE)
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.object_type == "member", AuditEntry.object_id == public_id)
        .values(details={}, note="")
    )
    audit.record(session, who, "member.erase", object_type="member", object_id=public_id, note=clean_text(reason)[:500])
    return public_id


def export(session: Session, actor: Actor, member: Subscriber) -> dict[str, Any]:
    """Everything kept about the member: the same data as their own download."""
    who = authorize(actor, "member.export")
    data = preferences.export_data(session, member)
    _audit(session, who, "member.export", member)
    return data


class MemberExists(GllMailError):
    """The address is a member already (create refuses; a batch updates them instead)."""


def create_members(
    engine: Engine,
    actor: Actor,
    records: list[dict[str, Any]],
    *,
    topics: list[str] | tuple[str, ...] = (),
    pods: list[str] | tuple[str, ...] = (),
    source: str = "api",
) -> ImportReport:
    """New members from records (email, name, language, country, organization, role), written by the
    importer in batches: suppressed addresses are refused, existing members are updated (their status
    kept), and a refused record costs only itself. One audit entry for the batch."""
    who = authorize(actor, "member.edit")
    report = ImportReport()
    import_rows(engine, rows_from_records(records, report), report, topics=topics, pods=pods, source_name=source)
    with session_scope(engine) as session:
        details = {"imported": report.imported, "updated": report.updated, "skipped": report.skipped, "via": source}
        audit.record(session, who, "member.batch-create", object_type="member", details=details)
    return report


def create_member(
    engine: Engine,
    actor: Actor,
    values: dict[str, Any],
    *,
    topics: list[str] | tuple[str, ...] = (),
    pods: list[str] | tuple[str, ...] = (),
    source: str = "api",
) -> str:
    """One new member (the importer's rules); returns their public id. :class:`MemberExists` when
    the address is a member already, a plain error when it is refused (suppressed, invalid)."""
    who = authorize(actor, "member.edit")
    with session_scope(engine) as session:
        email = normalize_email(str(values.get("email") or ""))
        if find_by_email(session, email) is not None:
            raise MemberExists(f"{email} is a member already")
    report = ImportReport()
    import_rows(engine, rows_from_records([values], report), report, topics=topics, pods=pods, source_name=source)
    if report.problems:
        raise GllMailError(report.problems[0].reason)
    with session_scope(engine) as session:
        member = find_by_email(session, email)
        if member is None:
            raise MemberExists(f"{email} is a member already")
        _audit(session, who, "member.create", member, {"via": source})
        return member.public_id


def lock_member(session: Session, key: str) -> Subscriber:
    """The member by row id or public id, locked for this transaction: a no-op write first takes the
    row lock (PostgreSQL) or the write lock (SQLite), so a version checked next stays current until
    commit. Two concurrent updates of the same version: the second sees the first's result."""
    if key.isdigit() and not 0 < int(key) < MAX_ID:
        raise MemberNotFound(f"no member {key!r}")
    condition = Subscriber.id == int(key) if key.isdigit() else Subscriber.public_id == key
    session.execute(update(Subscriber).where(condition).values(id=Subscriber.id))
    member = session.exec(select(Subscriber).where(condition)).first()
    if member is None:
        raise MemberNotFound(f"no member {key!r}")
    return member
