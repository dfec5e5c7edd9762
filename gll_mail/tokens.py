"""Signed, purpose-scoped, expiring tokens for every link a member receives.

One itsdangerous salt per purpose, so a token made for one purpose never opens another. The
payload carries the subscriber's public id (never the email or the row id) and a few short fields
(a resource or pod slug, a campaign id). ``GLL_MAIL_SECRET_KEYS`` lists keys newest first: the
newest signs, every key verifies, so keys rotate without breaking links in old emails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer

from gll_mail.settings import Settings

DAY = 24 * 3600

MAX_AGE: dict[str, int] = {
    "gate": 400 * DAY,         # gated resource links in emails keep working for months
    "join-pod": 400 * DAY,
    "manage": 400 * DAY,
    "unsubscribe": 800 * DAY,  # an unsubscribe link must outlive any reasonable inbox
    "archive": 800 * DAY,
    "confirm": 7 * DAY,        # double opt-in confirmation
    "verp": 400 * DAY,         # bounce address token
    "open": 400 * DAY,         # the optional open-tracking pixel
}
PURPOSES = tuple(MAX_AGE)


class TokenError(Exception):
    """Base of every token failure; ``status`` is the HTTP status the web shows it with."""

    status = 400
    reason = "invalid"


class TokenInvalid(TokenError):
    reason = "invalid"


class TokenWrongPurpose(TokenError):
    reason = "wrong-purpose"


class TokenExpired(TokenError):
    status = 410
    reason = "expired"


@dataclass(frozen=True)
class TokenData:
    purpose: str
    subject: str  # the subscriber's public id
    extra: dict[str, Any] = field(default_factory=dict)
    issued_at: datetime | None = None


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in MAX_AGE:
        raise ValueError(f"unknown token purpose {purpose!r}")
    # itsdangerous wants the newest key last; our setting lists it first.
    keys = list(reversed(settings.secret_keys))
    return URLSafeTimedSerializer(keys, salt=f"gll-mail.{purpose}")


def make_token(settings: Settings, purpose: str, subject: str, **extra: Any) -> str:
    payload: dict[str, Any] = {"s": subject}
    payload.update({k: v for k, v in extra.items() if v is not None})
    return _serializer(settings, purpose).dumps(payload)


def read_token(settings: Settings, purpose: str, token: str, *, max_age: int | None = None) -> TokenData:
    """Verify ``token`` for ``purpose`` or raise a :class:`TokenError` saying why it fails."""
    if not token or len(token) > 1024:
        raise TokenInvalid("token missing or too long")
    serializer = _serializer(settings, purpose)
    try:
        payload, signed_at = serializer.loads(
            token, max_age=max_age if max_age is not None else MAX_AGE[purpose], return_timestamp=True
        )
    except SignatureExpired as exc:
        raise TokenExpired("the link has expired") from exc
    except BadSignature as exc:
        if _valid_for_another_purpose(settings, purpose, token):
            raise TokenWrongPurpose("this link is meant for something else") from exc
        raise TokenInvalid("the link is damaged or was not made by us") from exc
    except BadData as exc:
        raise TokenInvalid("the link is damaged") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise TokenInvalid("the link is damaged")
    subject = payload.pop("s")
    issued = signed_at.astimezone(timezone.utc) if signed_at else None
    return TokenData(purpose=purpose, subject=subject, extra=payload, issued_at=issued)


def _valid_for_another_purpose(settings: Settings, purpose: str, token: str) -> bool:
    for other in PURPOSES:
        if other == purpose:
            continue
        try:
            _serializer(settings, other).loads(token, max_age=None)
            return True
        except BadData:
            continue
    return False


def expires_at(purpose: str, issued_at: datetime) -> datetime:
    return issued_at + timedelta(seconds=MAX_AGE[purpose])


# --- VERP ------------------------------------------------------------------------------------
# The envelope sender's local part is limited to 64 characters and some servers fold its case,
# so bounce tokens are compact and lower-case: <delivery id base36>.<day base36>.<hmac base32>.

VERP_MAX_DAYS = MAX_AGE["verp"] // DAY
_EPOCH_DAY = 20000  # days since 1970 of 2024-10-04; keeps the day field short


def _verp_mac(settings_key: str, body: str) -> str:
    import base64
    import hashlib
    import hmac

    digest = hmac.new(settings_key.encode(), b"gll-mail.verp:" + body.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def _b36(n: int) -> str:
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = chars[r] + out
        if n == 0:
            return out


VERP_KINDS = {"m": "member", "t": "test"}  # beside deliveries: transactional mail to a member, test sends


@dataclass(frozen=True)
class Verp:
    kind: str  # "delivery", "member" (transactional mail: id is the subscriber's) or "test" (id: the campaign's)
    id: int


def make_verp_token(settings: Settings, delivery_id: int, *, now: datetime | None = None, kind: str = "delivery"
                    ) -> str:
    """A delivery's bounce token ``<id>.<day>.<mac>``; for ``kind`` "member" or "test",
    ``<m|t>.<id>.<day>.<mac>``, so their bounces are told from a campaign's."""
    day = int((now or datetime.now(timezone.utc)).timestamp() // DAY) - _EPOCH_DAY
    body = f"{_b36(delivery_id)}.{_b36(max(day, 0))}"
    if kind != "delivery":
        body = {v: k for k, v in VERP_KINDS.items()}[kind] + "." + body
    return f"{body}.{_verp_mac(settings.secret_keys[0], body)}"


def read_verp(settings: Settings, token: str, *, now: datetime | None = None) -> Verp:
    """What a VERP token names, or :class:`TokenError` if forged, malformed or too old."""
    import hmac

    parts = (token or "").lower().split(".")
    kind = "delivery"
    if len(parts) == 4 and parts[0] in VERP_KINDS:
        kind = VERP_KINDS[parts[0]]
    elif len(parts) != 3:
        raise TokenInvalid("not a gll-mail bounce token")
    if len(token) > 48:
        raise TokenInvalid("not a gll-mail bounce token")
    body = ".".join(parts[:-1])
    if not any(hmac.compare_digest(_verp_mac(key, body), parts[-1]) for key in settings.secret_keys):
        raise TokenInvalid("bounce token signature does not match")
    try:
        number, day = int(parts[-3], 36), int(parts[-2], 36)
    except ValueError:
        raise TokenInvalid("not a gll-mail bounce token") from None
    today = int((now or datetime.now(timezone.utc)).timestamp() // DAY) - _EPOCH_DAY
    if today - day > VERP_MAX_DAYS:
        raise TokenExpired("bounce token too old")
    return Verp(kind, number)


def read_verp_token(settings: Settings, token: str, *, now: datetime | None = None) -> int:
    """The delivery id of a campaign message's VERP token, or :class:`TokenError` if forged,
    malformed, too old, or the token of a transactional or test message."""
    found = read_verp(settings, token, now=now)
    if found.kind != "delivery":
        raise TokenInvalid("not a campaign delivery's bounce token")
    return found.id
