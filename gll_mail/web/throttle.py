"""Rate limits per client address: a 429 page when a client goes over its allowance."""

from __future__ import annotations

from flask import abort

from gll_mail.web import context
from gll_mail.web.security import client_ip


def limit(bucket: str, per_window: int, window: int) -> None:
    """Answer 429 when this client went over its allowance, counted in this process's memory."""
    if not context.limiter().hit(bucket, client_ip(), per_window, window):
        abort(429)


def limit_shared(bucket: str, per_window: int, window: int) -> None:
    """Like :func:`limit`, for requests that cost something (an email): counted in the database, so
    the allowance holds for all web processes together, not for each one."""
    if per_window > 0 and context.attempts().add(bucket, client_ip(), window) > per_window:
        abort(429)
