"""`gll-mail`: the team's command line. A thin shell: domain errors become plain messages here."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, GllGroup, pass_app
from gll_mail.db import current_revision, migrate


@click.group(cls=GllGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gll-mail")
@click.pass_context
def main(ctx: click.Context) -> None:
    """gll-mail: the mailing lists and newsletters of the WHO Global Learning Laboratory for Quality UHC.

    Settings come from GLL_MAIL_* environment variables (see `gll-mail settings`). The default
    database is the embedded SQLite file subscribers.db in the current folder.
    """
    ctx.obj = AppContext()


@main.command()
@click.pass_obj
def init(app: AppContext) -> None:
    """Create the database, or migrate it to the newest schema."""
    before = current_revision(app.engine)
    after = migrate(app.engine)
    where = app.engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"Database {where} is up to date (schema {after}).")
    else:
        click.echo(f"Database {where} migrated from {before or 'empty'} to schema {after}.")


@main.command("settings")
def show_settings() -> None:
    """List every GLL_MAIL_* setting with its meaning."""
    from gll_mail.settings import SETTINGS_HELP

    for name, text in SETTINGS_HELP.items():
        click.echo(f"{name}\n    {text}")


def _register() -> None:
    from gll_mail.cli import catalog, demo, subscribers

    for module in (subscribers, catalog, demo):
        module.register(main)
    # Commands from later features register themselves if their module is present.
    import importlib

    for name in ("campaign", "worker", "serve", "bounces", "admin", "suppressions", "dkim"):
        try:
            module = importlib.import_module(f"gll_mail.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gll_mail.cli.{name}":
                raise
            continue
        module.register(main)


_register()
