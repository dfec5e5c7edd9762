"""Sending the webhook outbox: claim due rows with a lease, POST each one signed, record the answer.

At least once: a sender killed mid-POST leaves its rows claimed until the lease (three times
``GLL_MAIL_WEBHOOK_TIMEOUT_SECONDS``) runs out, and the next round sends them again with the same
``webhook-id``, which receivers de-duplicate on. A failed try (not 2xx, a redirect, a timeout, a
refused target) waits ``base × 2^(tries-1)`` seconds (at most a day) with jitter, until the
give-up horizon after the event, when the row is marked failed.

Targets: http(s) only; no redirects followed; the host is resolved once, checked (private, loopback
and link-local addresses are refused in production unless GLL_MAIL_WEBHOOK_ALLOW_PRIVATE), and the
request goes to that checked address (no second DNS answer in between).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import random
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine

from gll_mail.db import is_sqlite
from gll_mail.errors import GllMailError
from gll_mail.models import WebhookDelivery, WebhookEndpoint, WebhookStatus, utcnow
from gll_mail.settings import Settings
from gll_mail.webhooks.signing import body_of, headers

log = logging.getLogger(__name__)
WD = WebhookDelivery.__table__
WE = WebhookEndpoint.__table__
MAX_DELAY = 86400.0
BATCH = 50


class WebhookTargetError(GllMailError):
    """A webhook URL that may not be called: not http(s), or a private address in production."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetError(f"a webhook URL must be an absolute http:// or https:// URL, not {url!r}")
    if parts.username or parts.password:
        raise WebhookTargetError("a webhook URL may not carry a user name or password")
    if any(ord(c) < 33 for c in url):
        raise WebhookTargetError("a webhook URL may not contain spaces or control characters")
    return url


def resolve(url: str, *, allow_private: bool) -> str:
    """The address to connect to: the first the host resolves to, when every one is allowed."""
    parts = urlsplit(check_url(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookTargetError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        refused = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global]
        if refused:
            raise WebhookTargetError(
                f"{parts.hostname} resolves to a private, loopback or link-local address ({refused[0]}); "
                f"set GLL_MAIL_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, request_headers: dict[str, str], body: bytes, *, timeout: float, allow_private: bool) -> int:
    """POST once; the status code (redirects are answers like any other: not followed)."""
    address = resolve(url, allow_private=allow_private)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(parts.hostname or "", port, address, timeout)
    try:
        connection.request(
            "POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, request_headers
        )
        response = connection.getresponse()
        response.read(4096)
        return response.status
    finally:
        connection.close()


def backoff(tries: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``tries`` failed ones: doubling, capped, between half and all of it."""
    delay = min(base * 2 ** max(tries - 1, 0), MAX_DELAY)
    return delay * (0.5 + (rng or random).random() / 2)


@dataclass
class Round:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def tried(self) -> int:
        return self.delivered + self.retrying + self.failed


Poster = Callable[[str, dict[str, str], bytes], int]


def deliver_due(
    engine: Engine,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
    limit: int = BATCH,
    owner: str | None = None,
    poster: Poster | None = None,
) -> Round:
    """One pass: claim up to ``limit`` due rows, send each, record each outcome. ``poster`` replaces
    the HTTP call (tests of the schedule)."""
    owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=3 * settings.webhook_timeout_seconds)
    rows = _claim(engine, owner, clock(), limit, lease)
    down: dict[int, datetime] = {}  # endpoints that failed to answer in this round: when to try them again
    done = Round()
    for index, row in enumerate(rows):
        at = clock()
        if row.endpoint_id in down:  # the endpoint is down: wait with the failed one, no try counted
            _record(engine, owner, row.id, at, status=WebhookStatus.PENDING, next_at=down[row.endpoint_id])
            done.retrying += 1
            continue
        _extend(engine, owner, [r.id for r in rows[index:]], at + lease)  # a slow batch keeps its claim
        code, error = _try(row, at, settings, poster)
        if code is not None and 200 <= code < 300:
            _record(engine, owner, row.id, at, tried=True, status=WebhookStatus.DELIVERED, code=code, delivered_at=at)
            done.delivered += 1
            continue
        tries = row.attempts + 1
        retry_at = at + timedelta(seconds=backoff(tries, settings.webhook_retry_base_seconds, rng))
        if code is None or code >= 500 or code == 429:
            down[row.endpoint_id] = retry_at
        if retry_at > row.created_at + timedelta(hours=settings.webhook_give_up_hours):
            error = f"given up after {tries} tries" + (f": {error}" if error else "")
            _record(engine, owner, row.id, at, tried=True, status=WebhookStatus.FAILED, code=code, error=error)
            done.failed += 1
        else:
            _record(
                engine,
                owner,
                row.id,
                at,
                tried=True,
                status=WebhookStatus.PENDING,
                code=code,
                error=error,
                next_at=retry_at,
            )
            done.retrying += 1
        log.info("webhook %s to %s failed: %s", row.message_id, row.url, code or error)
    return done


def _try(row, at: datetime, settings: Settings, poster: Poster | None) -> tuple[int | None, str]:
    """One signed POST: (status code, "") or (None, what went wrong)."""
    body = body_of(row.payload)
    secrets_ = [row.secret]
    if row.previous_secret and row.previous_until is not None and row.previous_until > at:
        secrets_.append(row.previous_secret)
    signed = headers(secrets_, row.message_id, int(at.timestamp()), body)
    try:
        if poster is not None:
            code = poster(row.url, signed, body)
        else:
            code = post(
                row.url,
                signed,
                body,
                timeout=settings.webhook_timeout_seconds,
                allow_private=settings.webhook_private_allowed,
            )
    except (OSError, http.client.HTTPException, WebhookTargetError) as exc:
        return None, (str(exc) or exc.__class__.__name__)[:300]
    return code, "a redirect: not followed" if 300 <= code < 400 else ""


def _extend(engine: Engine, owner: str, ids: list[int], until: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(WD).where(WD.c.id.in_(ids), WD.c.lease_owner == owner).values(lease_expires_at=until))


def _claim(engine: Engine, owner: str, now: datetime, limit: int, lease: timedelta) -> list:
    due = and_(
        WD.c.status == WebhookStatus.PENDING.value,
        WD.c.next_attempt_at <= now,
        or_(WD.c.lease_expires_at.is_(None), WD.c.lease_expires_at < now),
    )
    picked = select(WD.c.id).where(due).order_by(WD.c.next_attempt_at, WD.c.id).limit(limit)
    if not is_sqlite(engine):
        picked = picked.with_for_update(skip_locked=True)
    with engine.begin() as connection:
        ids = list(connection.execute(picked).scalars())
        if not ids:
            return []
        connection.execute(
            update(WD).where(WD.c.id.in_(ids), due).values(lease_owner=owner, lease_expires_at=now + lease)
        )
        return list(
            connection.execute(
                select(
                    WD.c.id,
                    WD.c.message_id,
                    WD.c.payload,
                    WD.c.attempts,
                    WD.c.created_at,
                    WD.c.endpoint_id,
                    WE.c.url,
                    WE.c.secret,
                    WE.c.previous_secret,
                    WE.c.previous_until,
                )
                .join(WE, WE.c.id == WD.c.endpoint_id)
                .where(WD.c.id.in_(ids), WD.c.lease_owner == owner)
                .order_by(WD.c.id)
            )
        )


def _record(
    engine: Engine,
    owner: str,
    row_id: int,
    at: datetime,
    *,
    status: str,
    tried: bool = False,
    code: int | None = None,
    error: str = "",
    delivered_at: datetime | None = None,
    next_at: datetime | None = None,
) -> None:
    """Where this sender still holds the row: the outcome of a try (``tried``) and when to try next;
    the claim ends."""
    values: dict = {"status": str(status)}
    if tried:
        values.update(attempts=WD.c.attempts + 1, last_attempt_at=at, last_status_code=code, last_error=error[:500])
    if delivered_at is not None:
        values["delivered_at"] = delivered_at
    if next_at is not None:
        values["next_attempt_at"] = next_at
    values.update(lease_owner=None, lease_expires_at=None)
    with engine.begin() as connection:
        connection.execute(update(WD).where(WD.c.id == row_id, WD.c.lease_owner == owner).values(**values))


def deliver_all(engine: Engine, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Round:
    """``gll-mail webhooks deliver``: rounds until nothing is due now (retries wait for later runs)."""
    total = Round()
    while True:
        done = deliver_due(engine, settings, clock=clock)
        total.delivered += done.delivered
        total.retrying += done.retrying
        total.failed += done.failed
        if done.tried < BATCH:
            return total
