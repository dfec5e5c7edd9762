"""Team accounts for the console (passwords hashed with werkzeug.security), each with a role
(:mod:`gll_mail.team.roles`). Changes to accounts go to the audit log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from gll_mail.addresses import clean_text, normalize_email
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, Campaign, Delivery, DeliveryStatus
from gll_mail.team import audit
from gll_mail.team.roles import ADMIN, EDITOR, check_role

MIN_PASSWORD = 12
# A real hash of a throwaway password: an unknown username costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password-anyone-has")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise GllMailError(f"the password must have at least {MIN_PASSWORD} characters")


def default_role(session: Session) -> str:
    """The role of an account created without one: the first account is an admin (somebody must be
    able to manage the team); later ones are editors (a team mostly adds people who write)."""
    has_admin = session.exec(select(AdminUser.id).where(AdminUser.role == ADMIN)).first() is not None
    return EDITOR if has_admin else ADMIN


def create_admin(
    session: Session, username: str, password: str, role: str | None = None, *, actor: AdminUser | None = None
) -> AdminUser:
    """A new team account (role: :func:`default_role` when not given)."""
    username = clean_text(username)
    if not username or len(username) > 64:
        raise GllMailError("the username must have 1 to 64 characters")
    _check_password(password)
    role = check_role(role) if role else default_role(session)
    if session.exec(select(AdminUser).where(AdminUser.username == username)).first():
        raise GllMailError(f"admin {username!r} exists already")
    user = AdminUser(username=username, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, "team.create", object_type="admin", object_id=username, details={"role": role})
    return user


def get_admin(session: Session, username: str) -> AdminUser:
    user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        raise GllMailError(f"no admin {username!r}")
    return user


_get = get_admin


def set_password(
    session: Session, username: str, password: str, *, actor: AdminUser | None = None, temporary: bool = False
) -> AdminUser:
    """A new password; sessions signed in with the old one end (see :func:`session_stamp`)."""
    _check_password(password)
    user = _get(session, username)
    user.password_hash = generate_password_hash(password)
    user.must_change_password = temporary
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "team.reset-password" if temporary else "team.password", object_type="admin", object_id=username
    )
    return user


def reset_password(session: Session, username: str, *, actor: AdminUser | None = None) -> str:
    """An admin resets someone's password: a random one-time password (returned, to hand over),
    which the account must replace at its next sign-in (``must_change_password``)."""
    password = secrets.token_urlsafe(12)
    set_password(session, username, password, actor=actor, temporary=True)
    return password


def set_email(session: Session, username: str, email: str, *, actor: AdminUser | None = None) -> AdminUser:
    """The account's own address (test sends "to me" go there); empty removes it."""
    user = _get(session, username)
    user.email = normalize_email(email) if email.strip() else None
    session.add(user)
    session.flush()
    audit.record(session, actor, "team.email", object_type="admin", object_id=username)
    return user


def set_role(session: Session, username: str, role: str, *, actor: AdminUser | None = None) -> AdminUser:
    """Change an account's role; the last admin cannot stop being one."""
    check_role(role)
    user = _get(session, username)
    before = user.role
    if before == ADMIN and role != ADMIN:
        _keep_an_admin(session, username)
    user.role = role
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "team.role", object_type="admin", object_id=username, details={"before": before, "after": role}
    )
    return user


def _keep_an_admin(session: Session, username: str) -> None:
    admins = session.exec(select(func.count()).select_from(AdminUser).where(AdminUser.role == ADMIN)).one()
    if admins <= 1:
        raise GllMailError(f"{username} is the last admin; make another account admin first")


def delete_admin(session: Session, username: str, *, actor: AdminUser | None = None) -> None:
    user = _get(session, username)
    others = session.exec(select(func.count()).select_from(AdminUser).where(AdminUser.id != user.id)).one()
    if user.role == ADMIN and others:
        _keep_an_admin(session, username)  # the team keeps someone who can manage it
    session.delete(user)
    session.flush()
    audit.record(session, actor, "team.delete", object_type="admin", object_id=username, details={"role": user.role})


def list_admins(session: Session) -> list[AdminUser]:
    return list(session.exec(select(AdminUser).order_by(AdminUser.username)))


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    user = session.exec(select(AdminUser).where(AdminUser.username == clean_text(username)[:64])).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)  # the same work as a real check
        return None
    return user if check_password_hash(user.password_hash, password) else None


def session_stamp(user: AdminUser) -> str:
    """Kept in the signed cookie at sign-in: a changed password, a sign-out (a new epoch) or a
    deleted account ends the session. A digest, so the cookie shows nothing of the password hash."""
    return hashlib.sha256(f"{user.password_hash}\0{user.session_epoch}".encode()).hexdigest()[:24]


def sign_out_everywhere(session: Session, username: str) -> None:
    """End every session of the account (the sign-out button does this)."""
    user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
    if user is not None:
        user.session_epoch += 1
        session.add(user)
        session.flush()


def signed_in_user(session: Session, username: str | None, stamp: str | None) -> AdminUser | None:
    if not username or not stamp:
        return None
    user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
    return user if user is not None and session_stamp(user) == stamp else None


@dataclass(frozen=True)
class CampaignRow:
    slug: str
    kind: str
    subject: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    deliveries: int
    sent: int


def campaign_overview(session: Session) -> list[CampaignRow]:
    """Every campaign, newest first, with its delivery counts (one grouped query)."""
    counts = {
        cid: (total, sent or 0)
        for cid, total, sent in session.exec(
            select(
                Delivery.campaign_id, func.count(), func.sum(case((Delivery.status == DeliveryStatus.SENT, 1), else_=0))
            ).group_by(Delivery.campaign_id)
        )
    }
    rows = []
    for c in session.exec(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())):
        total, sent = counts.get(c.id, (0, 0))
        rows.append(CampaignRow(c.slug, c.kind, c.subject, c.status, c.created_at, c.finished_at, total, int(sent)))
    return rows
