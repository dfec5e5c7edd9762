"""What every command shares: settings, the database engine, and turning domain errors into messages."""

from __future__ import annotations

from functools import cached_property, update_wrapper

import click
from rich.console import Console
from sqlalchemy.engine import Engine

from gll_mail.db import engine_for, has_schema, migrate, session_scope
from gll_mail.errors import GllMailError
from gll_mail.settings import Settings


class AppContext:
    """Lazily built settings and engine, so `--help` works even with broken settings."""

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is not None:
            self.__dict__["settings"] = settings
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def engine(self) -> Engine:
        return engine_for(self.settings.database_url)

    def session(self):
        return session_scope(self.engine)

    def ensure_schema(self) -> None:
        """Commands that need tables create them on first use (same as `gll-mail init`)."""
        if not has_schema(self.engine):
            migrate(self.engine)


class GllGroup(click.Group):
    """A click group whose commands turn :class:`GllMailError` into a one-line error, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GllMailError as exc:
            raise click.ClickException(str(exc)) from exc


def pass_app(f):
    """Pass the :class:`AppContext` (with the schema ensured) as the first argument."""

    @click.pass_context
    def new_func(ctx: click.Context, *args, **kwargs):
        app = ctx.find_object(AppContext)
        if app is None:
            app = ctx.ensure_object(AppContext)
        app.ensure_schema()
        return ctx.invoke(f, app, *args, **kwargs)

    return update_wrapper(new_func, f)
