"""The operators' endpoints and the request bookkeeping: ``/metrics``, ``/readyz``, request ids,
request metrics.

``/metrics`` and ``/readyz`` are answered by a small WSGI layer before Flask, so a scraper or load
balancer on this machine reaches them by ``127.0.0.1`` although the site only answers the base URL's
host. ``/metrics`` needs ``Authorization: Bearer GLL_MAIL_METRICS_TOKEN``, or, with no token set, a
request made on this machine and not passed on by a proxy. ``/healthz`` (in Flask) stays cheap: the
process answers; ``/readyz`` also asks the database.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets

from flask import Flask, g, request
from sqlalchemy import text

from gll_mail.ops import logs, metrics
from gll_mail.settings import Settings

log = logging.getLogger(__name__)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class OperatorEndpoints:
    def __init__(self, wsgi_app, settings: Settings, engine) -> None:
        self.wsgi_app = wsgi_app
        self.settings = settings
        self.engine = engine

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self.metrics(environ, start_response)
        if path == "/readyz":
            return self.readyz(start_response)
        return self.wsgi_app(environ, start_response)

    def allowed(self, environ) -> bool:
        token = self.settings.metrics_token
        if token:
            given = environ.get("HTTP_AUTHORIZATION", "")
            return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
        proxied = "HTTP_X_FORWARDED_FOR" in environ and self.settings.web_proxies == 0
        return _loopback(environ.get("REMOTE_ADDR", "")) and not proxied

    def metrics(self, environ, start_response):
        if not self.allowed(environ):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"403: /metrics needs GLL_MAIL_METRICS_TOKEN, or a request made on this machine\n"]
        body = metrics.exposition(self.engine)
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE), ("Cache-Control", "no-store")])
        return [body]

    def readyz(self, start_response):
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            status, body = "200 OK", {"ok": True, "database": "ok"}
        except Exception as exc:
            log.warning("readyz: the database does not answer: %s", exc.__class__.__name__)
            status, body = "503 Service Unavailable", {"ok": False, "database": exc.__class__.__name__}
        start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(body).encode()]


def init_app(app: Flask, settings: Settings, engine) -> None:
    """Install before :func:`gll_mail.web.security.init_app`, so that ProxyFix (outside) has already
    found the client's address when ``/metrics`` checks it."""
    app.wsgi_app = OperatorEndpoints(app.wsgi_app, settings, engine)

    @app.before_request
    def start_request():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given[:64] if given and given.isprintable() else secrets.token_hex(8)
        g.request_started = metrics.timer()
        g.log_token = logs.bind(request_id=g.request_id)

    @app.after_request
    def count_request(response):
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("request_started")
        if started is not None:
            metrics.observe(rule, request.method, response.status_code, metrics.timer() - started)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def end_request(_exc):
        token = g.pop("log_token", None)
        if token is not None:
            try:
                logs.unbind(token)
            except ValueError:  # reset from another context (streamed responses)
                pass
