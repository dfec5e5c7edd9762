"""What every command shares: settings, the database engine, and the one error boundary that turns
domain and infrastructure failures (database, SMTP) into one line that says what to do."""

from __future__ import annotations

import socket
import traceback
from functools import cached_property, update_wrapper
from urllib.parse import urlsplit

import click
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from gll_mail.db import check_ready, engine_for, explain, open_engine, session_scope
from gll_mail.errors import GllMailError
from gll_mail.settings import Settings

SMTP_MODULES = ("smtplib", "aiosmtplib", "gll_mail.smtp")


class SmtpUnreachable(GllMailError):
    """The SMTP server of GLL_MAIL_SMTP_URL does not answer."""


class AppContext:
    """Lazily built settings and engine, so `--help` works even with broken settings."""

    def __init__(self, settings: Settings | None = None, *, debug: bool = False) -> None:
        if settings is not None:
            self.__dict__["settings"] = settings
        self.debug = debug
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def engine(self) -> Engine:
        return open_engine(self.settings.database_url, engine_for)

    def session(self):
        return session_scope(self.engine)

    def require_database(self) -> None:
        """Refuse to go on without a database at the newest schema; never create one (`init` does)."""
        check_ready(self.engine)

    def require_smtp(self, timeout: float = 10.0) -> None:
        """Refuse to go on when nothing answers at GLL_MAIL_SMTP_URL's host and port."""
        host, port = smtp_address(self.settings.smtp_url)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            raise SmtpUnreachable(smtp_problem(self.settings.smtp_url, exc)) from exc


def smtp_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (465 if parts.scheme == "smtps" else 25)


def smtp_problem(url: str, exc: BaseException) -> str:
    host, port = smtp_address(url)
    reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return (
        f"cannot reach the SMTP server at {host}:{port} ({reason}): start it, or set GLL_MAIL_SMTP_URL "
        f"to your mail server"
    )


def from_smtp(exc: BaseException) -> bool:
    """A connection failure raised inside an SMTP client (ours, aiosmtplib or smtplib)."""
    if type(exc).__module__.split(".")[0] in ("smtplib", "aiosmtplib"):
        return True
    if not isinstance(exc, (OSError, TimeoutError)):
        return False
    return any(
        frame.f_globals.get("__name__", "").startswith(SMTP_MODULES)
        for frame, _line in traceback.walk_tb(exc.__traceback__)
    )


def one_line(exc: Exception, app: AppContext | None) -> str | None:
    """The message for an error a person can fix, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, GllMailError):
        return str(exc)
    if app is None:
        return None
    if isinstance(exc, DBAPIError):
        return explain(exc, app.engine.url)
    if from_smtp(exc):
        return smtp_problem(app.settings.smtp_url, exc)
    return None


class GllGroup(click.Group):
    """The error boundary of every command: domain, database and SMTP errors become one line (exit 1);
    with --debug or GLL_MAIL_DEBUG=1 they keep their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            app = ctx.obj if isinstance(ctx.obj, AppContext) else None
            if app is not None and app.debug:
                raise
            message = one_line(exc, app)
            if message is None:
                raise
            raise click.ClickException(message) from exc


def pass_app(f):
    """Pass the :class:`AppContext` as the first argument, once the database is known to be ready."""

    @click.pass_context
    def new_func(ctx: click.Context, *args, **kwargs):
        app = ctx.find_object(AppContext)
        if app is None:
            app = ctx.ensure_object(AppContext)
        app.require_database()
        return ctx.invoke(f, app, *args, **kwargs)

    return update_wrapper(new_func, f)
