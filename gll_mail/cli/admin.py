"""`gll-mail admin …`: team accounts for the /admin report pages."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app


@click.group()
def admin() -> None:
    """Team accounts for the /admin pages (campaign reports behind a sign-in)."""


@admin.command("create")
@click.argument("username")
@click.password_option(help="At least 12 characters (prompted twice when not given).")
@pass_app
def create(app: AppContext, username: str, password: str) -> None:
    """Create a team account that can sign in to /admin."""
    from gll_mail.team.accounts import create_admin

    with app.session() as session:
        create_admin(session, username, password)
    click.echo(f"Admin {username} created. Sign in at {app.settings.url_for('/admin/')}")


@admin.command("password")
@click.argument("username")
@click.password_option(help="The new password (prompted twice when not given).")
@pass_app
def password(app: AppContext, username: str, password: str) -> None:
    """Set a new password; every session signed in with the old one ends."""
    from gll_mail.team.accounts import set_password

    with app.session() as session:
        set_password(session, username, password)
    click.echo(f"Password of {username} changed.")


@admin.command("delete")
@click.argument("username")
@click.confirmation_option(prompt="Delete this admin account?")
@pass_app
def delete(app: AppContext, username: str) -> None:
    """Delete a team account (its open sessions end at once)."""
    from gll_mail.team.accounts import delete_admin

    with app.session() as session:
        delete_admin(session, username)
    click.echo(f"Admin {username} deleted.")


@admin.command("list")
@pass_app
def list_(app: AppContext) -> None:
    """The team accounts and when each was created."""
    from gll_mail.team.accounts import list_admins

    with app.session() as session:
        users = list_admins(session)
        for user in users:
            click.echo(f"{user.username}\tcreated {user.created_at:%Y-%m-%d %H:%M}")
    if not users:
        click.echo("No admin accounts. Create one with `gll-mail admin create USERNAME`.")


def register(main: click.Group) -> None:
    main.add_command(admin)
