"""Admin accounts for the team's report pages (passwords hashed with werkzeug.security)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from gll_mail.addresses import clean_text
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, Campaign, Delivery, DeliveryStatus

MIN_PASSWORD = 12
# A real hash of a throwaway password: an unknown username costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password-anyone-has")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise GllMailError(f"the password must have at least {MIN_PASSWORD} characters")


def create_admin(session: Session, username: str, password: str) -> AdminUser:
    username = clean_text(username)
    if not username or len(username) > 64:
        raise GllMailError("the username must have 1 to 64 characters")
    _check_password(password)
    if session.exec(select(AdminUser).where(AdminUser.username == username)).first():
        raise GllMailError(f"admin {username!r} exists already")
    user = AdminUser(username=username, password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def _get(session: Session, username: str) -> AdminUser:
    user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        raise GllMailError(f"no admin {username!r}")
    return user


def set_password(session: Session, username: str, password: str) -> AdminUser:
    """A new password; sessions signed in with the old one end (see :func:`session_stamp`)."""
    _check_password(password)
    user = _get(session, username)
    user.password_hash = generate_password_hash(password)
    session.add(user)
    session.flush()
    return user


def delete_admin(session: Session, username: str) -> None:
    session.delete(_get(session, username))
    session.flush()


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
            select(Delivery.campaign_id, func.count(),
                   func.sum(case((Delivery.status == DeliveryStatus.SENT, 1), else_=0)))
            .group_by(Delivery.campaign_id))
    }
    rows = []
    for c in session.exec(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())):
        total, sent = counts.get(c.id, (0, 0))
        rows.append(CampaignRow(c.slug, c.kind, c.subject, c.status, c.created_at, c.finished_at, total, int(sent)))
    return rows
