"""Admin accounts for the team's report pages (passwords hashed with werkzeug.security)."""

from __future__ import annotations

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser


def create_admin(session: Session, username: str, password: str) -> AdminUser:
    if len(password) < 12:
        raise GllMailError("the password must have at least 12 characters")
    if session.exec(select(AdminUser).where(AdminUser.username == username)).first():
        raise GllMailError(f"admin {username!r} exists already")
    user = AdminUser(username=username, password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
    if user is None:
        check_password_hash(generate_password_hash("x"), password)  # similar timing
        return None
    return user if check_password_hash(user.password_hash, password) else None
