"""Bearer tokens of the REST API: created by an admin (console or CLI), shown once, kept as the
SHA-256 of a 256-bit random secret, scoped by role, revocable, with their last use recorded.

A token made for a team account acts as that account with at most the token's role (and never more
than the account's own role, read at every request); a service token acts under its own name and can
never approve a campaign. Every change goes to the audit log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from gll_mail.addresses import clean_text
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, ApiToken, utcnow
from gll_mail.team import audit
from gll_mail.team.roles import ROLES, Actor, PermissionDenied, authorize, check_role, rank

PREFIX = "gllm_"
LAST_USE_EVERY = timedelta(minutes=1)  # last use is written at most this often per token, not per request
SERVICE_PREFIX = "token:"


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it (never its secret)."""

    id: int
    name: str
    prefix: str
    role: str
    user: str | None
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def _info(session: Session, token: ApiToken) -> TokenInfo:
    user = session.get(AdminUser, token.user_id) if token.user_id is not None else None
    return TokenInfo(
        token.id,
        token.name,
        token.prefix,
        token.role,
        user.username if user else None,
        token.created_at,
        token.created_by,
        token.last_used_at,
        token.revoked_at,
    )


def create_token(
    session: Session, actor: Actor, name: str, role: str, *, username: str | None = None
) -> tuple[TokenInfo, str]:
    """A new token and its secret (the only time the secret exists outside the client)."""
    who = authorize(actor, "team.manage")
    name = clean_text(name)
    if not name or len(name) > 100:
        raise GllMailError("a token needs a name of 1 to 100 characters")
    check_role(role)
    user_id = None
    if username:
        user = session.exec(select(AdminUser).where(AdminUser.username == username)).first()
        if user is None:
            raise GllMailError(f"no admin {username!r}")
        if rank(role) > rank(user.role):
            raise GllMailError(f"{username} is {user.role}: a token acting as them can be at most {user.role}")
        user_id = user.id
    if session.exec(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise GllMailError(f"a token named {name!r} exists already")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        secret_hash=secret_hash(secret),
        prefix=secret[: len(PREFIX) + 4],
        role=role,
        user_id=user_id,
        created_by=who.username if isinstance(who, AdminUser) else who,
    )
    session.add(token)
    session.flush()
    details = {"role": role, "user": username or None}
    audit.record(session, who, "api.token-create", object_type="api-token", object_id=name, details=details)
    return _info(session, token), secret


def list_tokens(session: Session, actor: Actor, *, revoked: bool = False) -> list[TokenInfo]:
    authorize(actor, "team.manage")
    query = select(ApiToken).order_by(ApiToken.name)
    if not revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [_info(session, t) for t in session.exec(query)]


def revoke_token(session: Session, actor: Actor, name: str) -> bool:
    """Revoke the token named ``name``; False when it was already revoked."""
    who = authorize(actor, "team.manage")
    token = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise GllMailError(f"no API token {name!r}")
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.add(token)
    session.flush()
    audit.record(session, who, "api.token-revoke", object_type="api-token", object_id=name)
    return True


def authenticate(session: Session, secret: str, *, clock: Callable[[], datetime] = utcnow) -> ApiToken | None:
    """The live token whose secret this is (its last use recorded), or None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    digest = secret_hash(secret)
    token = session.exec(select(ApiToken).where(ApiToken.secret_hash == digest)).first()
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.secret_hash, digest):
        return None
    now = clock()
    last = token.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is None or now - last >= LAST_USE_EVERY:
        token.last_used_at = now
        session.add(token)
    return token


def acting_user(session: Session, token: ApiToken) -> AdminUser:
    """Who the token acts as, for the domain's role checks and the audit log: a detached copy of its
    team account with the lower of the two roles, or for a service token a nameless account named
    ``token:NAME``. Never added to the session."""
    if token.user_id is None:
        return AdminUser(id=None, username=f"{SERVICE_PREFIX}{token.name}"[:100], password_hash="", role=token.role)
    user = session.get(AdminUser, token.user_id)
    if user is None:
        raise PermissionDenied(f"the account of token {token.name!r} no longer exists")
    role = ROLES[min(rank(user.role), rank(token.role))] if rank(user.role) >= 0 else ROLES[0]
    return AdminUser(id=user.id, username=user.username, password_hash="", role=role, email=user.email)


def require_may_approve(token: ApiToken) -> None:
    """Approvals need a person: a service token never approves or rejects (the four-eyes rule
    itself is :mod:`gll_mail.campaigns.approvals`' check on the token's account)."""
    if token.user_id is None:
        raise PermissionDenied(
            f"token {token.name!r} is a service token: approving needs a token made for an approver's account (--user)"
        )
