"""What every request of the web app reaches for: settings, the database, and the per-process helpers.

``create_app`` builds one :class:`WebContext` and keeps it in ``app.extensions["gll_mail"]``; views use
the typed accessors below (``settings()``, ``session()``, ``clicks()`` …) instead of string keys.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gll_mail.db import session_scope
from gll_mail.members.attempts import Attempts
from gll_mail.settings import Settings
from gll_mail.web.clicks import ClickWriter
from gll_mail.web.security import RateLimiter, SendTimes

KEY = "gll_mail"


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    attempts: Attempts
    clicks: ClickWriter
    limiter: RateLimiter
    send_times: SendTimes


def init_app(app: Flask, settings: Settings, engine: Engine) -> WebContext:
    context = WebContext(
        settings=settings,
        engine=engine,
        attempts=Attempts(engine, settings.secret_keys[0]),
        clicks=ClickWriter(engine, interval=0 if app.testing else 0.2),
        limiter=RateLimiter(),
        send_times=SendTimes(),
    )
    app.extensions[KEY] = context
    return context


def context_of(app: Flask) -> WebContext:
    return app.extensions[KEY]


def current() -> WebContext:
    return context_of(current_app)


def settings() -> Settings:
    return current().settings


def engine() -> Engine:
    return current().engine


def session() -> AbstractContextManager[Session]:
    """A session that commits when the ``with`` block ends without an error (:func:`gll_mail.db.session_scope`)."""
    return session_scope(current().engine)


def clicks() -> ClickWriter:
    return current().clicks


def attempts() -> Attempts:
    return current().attempts


def limiter() -> RateLimiter:
    return current().limiter


def send_times() -> SendTimes:
    return current().send_times
