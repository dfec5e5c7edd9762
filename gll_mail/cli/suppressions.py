"""`gll-mail suppressions list/add/remove`: the do-not-mail list."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app
from gll_mail.cli.catalog import acting, as_option
from gll_mail.members import suppression_list
from gll_mail.suppressions import REASONS, list_suppressions


@click.group()
def suppressions() -> None:
    """Addresses never to be mailed (bounces, complaints, manual)."""


@suppressions.command("list")
@pass_app
def list_cmd(app: AppContext) -> None:
    """List every suppressed address with its reason, source and date."""
    with app.session() as session:
        for row in list_suppressions(session):
            click.echo(
                f"{row.email or '(hash ' + row.email_hash[:12] + ')'}\t{row.reason}\t{row.source}\t"
                f"{row.created_at:%Y-%m-%d %H:%M}\t{row.note}"
            )


@suppressions.command("add")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit log), e.g. 'asked by phone on 1 Dec'.")
@click.option("--kind", type=click.Choice(REASONS), default="manual", show_default=True, help="The list's category.")
@as_option
@pass_app
def add(app: AppContext, email: str, reason: str, kind: str, as_user: str | None) -> None:
    """Never mail EMAIL again (it need not be a subscriber). Like the console: in the audit log."""
    with app.session() as session:
        suppression_list.add(session, acting(session, as_user), email, reason=kind, note=reason)
    click.echo(f"Suppressed {email} ({kind}).")


@suppressions.command("remove")
@click.argument("email")
@click.option("--reason", required=True, help="Why it may be mailed again (kept in the audit log).")
@as_option
@pass_app
def remove(app: AppContext, email: str, reason: str, as_user: str | None) -> None:
    """Take EMAIL off the suppression list (does not resubscribe anyone). In the audit log."""
    with app.session() as session:
        if not suppression_list.remove(session, acting(session, as_user), email, note=reason):
            raise click.ClickException(f"{email} is not suppressed")
    click.echo(f"Removed {email} from the suppression list (the subscriber's status is unchanged).")


def register(main: click.Group) -> None:
    main.add_command(suppressions)
