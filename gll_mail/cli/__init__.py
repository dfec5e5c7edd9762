"""`gll-mail`: the team's command line. A thin shell: domain errors become plain messages here."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, GllGroup
from gll_mail.db import check_folder, current_revision, describe, migrate


@click.group(cls=GllGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gll-mail")
@click.option(
    "--debug",
    is_flag=True,
    envvar="GLL_MAIL_DEBUG",
    help="Show the full traceback of an error instead of one line (also GLL_MAIL_DEBUG=1).",
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """gll-mail: the mailing lists and newsletters of the WHO Global Learning Laboratory for Quality UHC.

    Settings come from GLL_MAIL_* environment variables (see `gll-mail settings`). The default
    database is the embedded SQLite file subscribers.db in the current folder; only `gll-mail init`
    and `gll-mail demo` create a database.
    """
    ctx.obj = AppContext(debug=debug)


@main.command()
@click.pass_obj
def init(app: AppContext) -> None:
    """Create the database, or migrate it to the newest schema."""
    check_folder(app.engine)
    before = current_revision(app.engine)
    after = migrate(app.engine)
    where = describe(app.engine.url)
    if before == after:
        click.echo(f"Database {where} is up to date (schema {after}).")
    else:
        click.echo(f"Database {where} migrated from {before or 'empty'} to schema {after}.")


@main.command("settings")
@click.pass_obj
def show_settings(app: AppContext) -> None:
    """Show every GLL_MAIL_* setting: its current value (secrets masked) and its meaning."""
    from pathlib import Path

    from gll_mail.db import sqlite_file
    from gll_mail.settings import SETTINGS_HELP, shown_values

    for name, value, from_env in shown_values(app.settings):
        click.echo(f"{name} = {value}" + ("" if from_env else "  (default)"))
        if name == "GLL_MAIL_DATABASE_URL":
            path = sqlite_file(app.settings.database_url)
            if path is not None:
                state = "exists" if path.exists() else "does not exist: `gll-mail init` creates it"
                click.echo(f"    database file {path} ({state})")
        if name.endswith("_DIR"):
            click.echo(f"    folder {Path(value).absolute()}")
        click.echo(f"    {SETTINGS_HELP[name]}")


def _register() -> None:
    """Every command group, imported plainly: a group whose import fails stops the command with
    its error instead of vanishing from `gll-mail --help`."""
    from gll_mail.cli import (
        admin,
        api,
        audit,
        bounces,
        campaign,
        catalog,
        demo,
        dkim,
        ops,
        serve,
        subscribers,
        suppressions,
        webhooks,
        worker,
    )

    for module in (
        subscribers,
        catalog,
        campaign,
        worker,
        serve,
        bounces,
        admin,
        api,
        audit,
        suppressions,
        webhooks,
        dkim,
        demo,
        ops,
    ):
        module.register(main)


_register()
