"""The member web's defences: CSRF tokens, security headers, rate limits, client addresses.

- CSRF: every form carries a random token kept in the signed session cookie (HttpOnly, SameSite=Lax,
  Secure on https). The one exception is RFC 8058 one-click unsubscribe, which must work without a
  cookie; it is safe because it needs the signed unsubscribe token and is idempotent.
- Headers: a strict Content-Security-Policy (no scripts at all, our own stylesheet only), no framing,
  ``Referrer-Policy: no-referrer`` (token URLs must not leak to the sites we redirect to),
  ``Cache-Control: no-store`` on token pages.
- Hosts: only the host of ``GLL_MAIL_BASE_URL`` (and 127.0.0.1 / localhost when that is local) is
  answered; any other ``Host`` gets 400, so no URL is ever built from a forged one. The one redirect
  the router makes itself (``//`` merged into ``/``) goes to the base URL. HSTS when it is https.
- Rate limits (the counters here, the checks in :mod:`gll_mail.web.throttle`): fixed one-minute
  (links) windows per client address, counted in each web worker's memory (so the effective limit is
  N × workers); registration's one-hour windows are counted in the database. Enough to blunt
  scripted guessing and form spam; a proxy in front can add a global limit.
"""

from __future__ import annotations

import hmac
import random
import secrets
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, request, session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

CSRF_FIELD = "csrf_token"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{extra}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
FIXED_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = "max-age=31536000; includeSubDomains"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class SendTimes:
    """How long this process's recent confirmation emails took to send. A registration that sends
    none (the address bounced or complained, or its last email is too recent) answers no sooner
    than one drawn from these, so the response time does not tell which addresses are known."""

    def __init__(self, keep: int = 32) -> None:
        self._recent: deque[float] = deque(maxlen=keep)

    def record(self, seconds: float) -> None:
        self._recent.append(seconds)

    def pad(self, began: float) -> None:
        """Sleep until a typical send, started at ``began`` (``time.monotonic()``), would be done."""
        if self._recent:
            time.sleep(max(0.0, random.choice(self._recent) - (time.monotonic() - began)))


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}
        self._window_seen: dict[str, int] = {}

    def hit(self, bucket: str, key: str, limit: int, window: int) -> bool:
        """Count one request; False when ``key`` is over ``limit`` in the current window."""
        if limit <= 0:
            return True
        slot = int(time.time() // window)
        with self._lock:
            if self._window_seen.get(bucket) != slot:
                self._window_seen[bucket] = slot
                for old in [k for k in self._counts if k[0] == bucket and k[2] != slot]:
                    del self._counts[old]
            count = self._counts.get((bucket, key, slot), 0) + 1
            self._counts[(bucket, key, slot)] = count
        return count <= limit


def trusted_hosts(base_url: str) -> list[str]:
    """The ``Host`` names this site answers to: the base URL's, plus the loopback names when it is local."""
    host = (urlsplit(base_url).hostname or "").lower()
    return [host, *(name for name in LOCAL_HOSTS if name != host)] if host in LOCAL_HOSTS else [host]


def init_app(app: Flask, settings) -> None:
    secure = settings.base_url.startswith("https://")
    base = urlsplit(settings.base_url)
    app.config.update(
        TRUSTED_HOSTS=trusted_hosts(settings.base_url),
        SERVER_NAME=base.netloc,  # URLs the router builds itself name the base URL's host
        SESSION_COOKIE_NAME="gll_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=24 * 3600,
        SECRET_KEY_FALLBACKS=list(settings.secret_keys[1:]),  # rotated keys keep open forms working
    )
    if settings.web_proxies > 0:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.web_proxies, x_proto=settings.web_proxies, x_host=settings.web_proxies
        )
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def redirect_to_base_url():
        """The router's own redirects (``/r//x`` → ``/r/x``) lead to the base URL, never to the request's host."""
        routed = request.routing_exception
        if isinstance(routed, RequestRedirect):
            target = urlsplit(routed.new_url)
            return redirect(
                f"{base.scheme}://{base.netloc}{target.path}" + (f"?{target.query}" if target.query else ""),
                routed.code,
            )
        return None

    @app.after_request
    def security_headers(response):
        origins = g.get("form_origins")
        headers = response.headers
        extra = " " + " ".join(origins) if origins else ""
        headers["Content-Security-Policy"] = g.get("csp") or CSP.format(extra=extra)
        for name, value in FIXED_HEADERS:
            headers[name] = value
        if g.get("frame_self"):  # the console's email preview, framed by the editor on this site only
            headers["X-Frame-Options"] = "SAMEORIGIN"
        if secure:
            headers["Strict-Transport-Security"] = HSTS
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store, private"
        return response


def client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def allow_form_target(origin: str) -> None:
    """Let a form on this page lead (through redirects) to ``origin``: CSP form-action covers redirects."""
    g.form_origins = (*getattr(g, "form_origins", ()), origin)


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
        session.permanent = True
    return token


def check_csrf() -> None:
    """Refuse a form that lacks this browser's CSRF token (or comes from another site)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") != request.host_url.rstrip("/"):
        abort(403)
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(expected, given):
        abort(403)
