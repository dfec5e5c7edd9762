"""Signed, purpose-scoped, expiring tokens for every link a member receives.

One itsdangerous salt per purpose, so a token made for one purpose never opens another. The
payload carries the subscriber's public id (never the email or the row id) and a few short fields
(a resource or pod slug, a campaign id). ``GLL_MAIL_SECRET_KEYS`` lists keys newest first: the
newest signs, every key verifies, so keys rotate without breaking links in old emails.

Tokens are itsdangerous ``URLSafeTimedSerializer`` tokens. :class:`TokenMinter` makes the very same
tokens for the renderer, which needs one per link per recipient, without itsdangerous' per-call set-up;
``read_token`` reads both (and every link already sent) with plain itsdangerous.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from itsdangerous import (
    BadData,
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeTimedSerializer,
)

from gll_mail.settings import Settings

DAY = 24 * 3600

MAX_AGE: dict[str, int] = {
    "gate": 400 * DAY,  # gated resource links in emails keep working for months
    "join-pod": 400 * DAY,
    "manage": 400 * DAY,
    "unsubscribe": 800 * DAY,  # an unsubscribe link must outlive any reasonable inbox
    "archive": 800 * DAY,
    "confirm": 7 * DAY,  # double opt-in confirmation
    "verp": 400 * DAY,  # bounce address token
    "open": 400 * DAY,  # the optional open-tracking pixel
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


class _SignerAt(TimestampSigner):
    """itsdangerous' timestamp signer with the time given, not read from the clock: it stamps new
    tokens with it and measures the age of old ones from it (``max_age``)."""

    def __init__(self, *args: Any, timestamp: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timestamp = timestamp

    def get_timestamp(self) -> int:
        return self._timestamp


def _salt(purpose: str) -> str:
    if purpose not in MAX_AGE:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return f"gll-mail.{purpose}"


def _serializer(settings: Settings, purpose: str, now: datetime | None = None) -> URLSafeTimedSerializer:
    # itsdangerous wants the newest key last; our setting lists it first.
    keys = list(reversed(settings.secret_keys))
    if now is None:
        return URLSafeTimedSerializer(keys, salt=_salt(purpose))
    return URLSafeTimedSerializer(
        keys, salt=_salt(purpose), signer=_SignerAt, signer_kwargs={"timestamp": int(now.timestamp())}
    )


def _payload(subject: str, extra: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"s": subject}
    payload.update({k: v for k, v in extra.items() if v is not None})
    return payload


def make_token(settings: Settings, purpose: str, subject: str, *, now: datetime | None = None, **extra: Any) -> str:
    """A token for ``purpose`` carrying ``subject`` and ``extra`` (``None`` values left out), signed
    with the newest key and stamped with ``now`` (default: the current time)."""
    return _serializer(settings, purpose, now).dumps(_payload(subject, extra))


def read_token(
    settings: Settings, purpose: str, token: str, *, max_age: int | None = None, now: datetime | None = None
) -> TokenData:
    """Verify ``token`` for ``purpose`` or raise a :class:`TokenError` saying why it fails.

    ``max_age`` (seconds) defaults to the purpose's :data:`MAX_AGE`; ``now`` (default: the current
    time) is the moment the token's age is measured at.
    """
    if not token or len(token) > 1024:
        raise TokenInvalid("token missing or too long")
    serializer = _serializer(settings, purpose, now)
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
    issued = signed_at.astimezone(UTC) if signed_at else None
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


# --- many tokens, fast -----------------------------------------------------------------------

_URLSAFE = bytes.maketrans(b"+/", b"-_")
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_PLAIN_SUBJECT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _b64(data: bytes) -> bytes:
    """itsdangerous' ``base64_encode``: URL-safe alphabet, no padding."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


class TokenShape(NamedTuple):
    """What :meth:`TokenMinter.mint` needs of one purpose and its extra fields, worked out once."""

    purpose: str
    extra: dict[str, Any]
    inner: Any  # HMAC-SHA1 inner and outer pad hashes of the purpose's derived key
    outer: Any
    tail: bytes  # the payload's JSON after the subject: ``,"r":"slug","c":42}``
    prefix: str  # put before the token (a URL path), so a link costs one string


class TokenMinter:
    """``make_token`` for many subjects at render speed: the tokens are byte for byte those of
    ``make_token`` at the same second, so :func:`read_token` and plain itsdangerous read them.

    itsdangerous derives the key and builds a serializer and a signer on every ``dumps`` (about 15×
    the cost of the signature itself); here that is done once per purpose: the key is derived by
    itsdangerous' own signer, and its HMAC-SHA1 pads are hashed once (RFC 2104), so each token
    costs one JSON payload, one base64 and two SHA-1 updates. The payload is never compressed:
    itsdangerous compresses only when zlib saves more than a byte, which a subject and a few short
    fields do not allow, and ``loads`` reads either form.

    ``clock`` returns the current time in seconds (default :func:`time.time`).
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] | None = None) -> None:
        self._secret_keys = list(reversed(settings.secret_keys))
        self._clock = clock
        self._pads: dict[str, tuple[Any, Any]] = {}
        self._second = -1
        self._stamp = b""

    def shape(self, purpose: str, *, prefix: str = "", **extra: Any) -> TokenShape:
        """The reusable part of every token for ``purpose`` with these extra fields; :meth:`mint`
        returns its tokens after ``prefix``."""
        pads = self._pads.get(purpose)
        if pads is None:
            signer = URLSafeTimedSerializer(self._secret_keys, salt=_salt(purpose)).make_signer()
            if signer.digest_method().name != "sha1":  # the pads below are SHA-1's 64-byte blocks
                raise ValueError("TokenMinter mints HMAC-SHA1 tokens only")
            key = signer.derive_key().ljust(64, b"\0")
            pads = self._pads[purpose] = (hashlib.sha1(key.translate(_IPAD)), hashlib.sha1(key.translate(_OPAD)))
        extra = {k: v for k, v in extra.items() if v is not None}
        fields = json.dumps(extra, separators=(",", ":"), ensure_ascii=False)[1:-1]
        tail = ("," + fields if fields else "") + "}"
        return TokenShape(purpose, extra, pads[0], pads[1], tail.encode(), prefix)

    def _timestamp(self) -> bytes:
        second = int(self._clock() if self._clock is not None else time.time())
        if second != self._second:
            self._second = second
            self._stamp = b"." + _b64(second.to_bytes((second.bit_length() + 7) // 8, "big"))
        return self._stamp

    def mint(self, shapes: Sequence[TokenShape], subject: str) -> list[str]:
        """One token per shape for ``subject`` (after the shape's prefix), all stamped with the same second."""
        stamp = self._timestamp()
        head = ('{"s":"' + subject + '"').encode() if _PLAIN_SUBJECT.match(subject) else None
        b2a, table = binascii.b2a_base64, _URLSAFE
        out = []
        for _, extra, inner_pad, outer_pad, tail, prefix in shapes:
            if head is not None:
                payload = head + tail
            else:  # a subject JSON must escape: the general path
                payload = json.dumps(_payload(subject, extra), separators=(",", ":"), ensure_ascii=False).encode()
            value = b2a(payload, newline=False).translate(table).rstrip(b"=") + stamp
            inner = inner_pad.copy()
            inner.update(value)
            outer = outer_pad.copy()
            outer.update(inner.digest())
            # an HMAC-SHA1 is 20 bytes: 27 base64 characters once the one "=" is dropped
            out.append(prefix + (value + b"." + b2a(outer.digest(), newline=False)[:27].translate(table)).decode())
        return out


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


def make_verp_token(
    settings: Settings, delivery_id: int, *, now: datetime | None = None, kind: str = "delivery"
) -> str:
    """A delivery's bounce token ``<id>.<day>.<mac>``; for ``kind`` "member" or "test",
    ``<m|t>.<id>.<day>.<mac>``, so their bounces are told from a campaign's."""
    day = int((now or datetime.now(UTC)).timestamp() // DAY) - _EPOCH_DAY
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
    today = int((now or datetime.now(UTC)).timestamp() // DAY) - _EPOCH_DAY
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
