"""`gll-mail suppressions list/add/remove`: the do-not-mail list."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app
from gll_mail.suppressions import (
    REASONS,
    list_suppressions,
    suppress_by_hand,
    unsuppress_by_hand,
)


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
@click.option("--reason", type=click.Choice(REASONS), default="manual", show_default=True)
@click.option("--note", default="", help="Why, for the team's records.")
@pass_app
def add(app: AppContext, email: str, reason: str, note: str) -> None:
    """Never mail EMAIL again (it need not be a subscriber)."""
    with app.session() as session:
        suppress_by_hand(session, email, reason=reason, note=note)
    click.echo(f"Suppressed {email} ({reason}).")


@suppressions.command("remove")
@click.argument("email")
@pass_app
def remove(app: AppContext, email: str) -> None:
    """Take EMAIL off the suppression list (does not resubscribe anyone)."""
    with app.session() as session:
        if not unsuppress_by_hand(session, email):
            raise click.ClickException(f"{email} is not suppressed")
    click.echo(f"Removed {email} from the suppression list (the subscriber's status is unchanged).")


def register(main: click.Group) -> None:
    main.add_command(suppressions)
