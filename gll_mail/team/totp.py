"""The optional second factor: time-based one-time passwords (RFC 6238, pyotp).

An account enrols once (:func:`enrol` stores a secret and gives the ``otpauth://`` URI an
authenticator app reads as a QR code); the sign-in then asks for a code (:func:`verify`), which is
required for approvers and admins in production (:func:`required`). A code is accepted once only.
"""

from __future__ import annotations

from datetime import datetime

import pyotp
from sqlmodel import Session

from gll_mail.models import AdminUser, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import APPROVER, rank

ISSUER = "GLL mail"
WINDOW = 1  # codes of the 30-second step before and after are accepted too (clock drift)


def required(settings: Settings, user: AdminUser) -> bool:
    """Does this account need a second factor to sign in? Approvers and admins in production."""
    return settings.env == "production" and rank(user.role) >= rank(APPROVER)


def enrolled(user: AdminUser) -> bool:
    return bool(user.totp_secret)


def enrol(session: Session, user: AdminUser, *, actor: AdminUser | None = None) -> str:
    """Give ``user`` a new secret (replacing any old one) and return its ``otpauth://`` URI."""
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = 0
    session.add(user)
    session.flush()
    audit.record(session, actor, "team.totp-enrol", object_type="admin", object_id=user.username)
    return provisioning_uri(user)


def provisioning_uri(user: AdminUser) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def disable(session: Session, user: AdminUser, *, actor: AdminUser | None = None) -> None:
    user.totp_secret = None
    user.totp_last_step = 0
    session.add(user)
    session.flush()
    audit.record(session, actor, "team.totp-disable", object_type="admin", object_id=user.username)


def verify(session: Session, user: AdminUser, code: str, *, at: datetime | None = None) -> bool:
    """True when ``code`` is the account's current code (± :data:`WINDOW` steps) and was not used
    before; the step it matched is remembered, so a code overheard cannot be replayed."""
    if not user.totp_secret:
        return False
    code = "".join(ch for ch in str(code) if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now = at or utcnow()
    step = totp.timecode(now)
    for offset in range(-WINDOW, WINDOW + 1):
        candidate = step + offset
        if candidate > user.totp_last_step and pyotp.utils.strings_equal(totp.generate_otp(candidate), code):
            user.totp_last_step = candidate
            session.add(user)
            session.flush()
            return True
    return False
