"""`gll-mail admin …`: team accounts for the /admin console, their roles and second factor.

The command line is the shell of whoever runs the server: its account changes are logged as made
from the command line."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app

ROLE_CHOICE = click.Choice(["viewer", "editor", "approver", "admin"])


@click.group()
def admin() -> None:
    """Team accounts for the /admin pages (campaign reports behind a sign-in)."""


@admin.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=ROLE_CHOICE,
    default=None,
    help="viewer, editor, approver or admin (default: admin for the first account, editor after).",
)
@click.password_option(help="At least 12 characters (prompted twice when not given).")
@pass_app
def create(app: AppContext, username: str, role: str | None, password: str) -> None:
    """Create a team account that can sign in to /admin."""
    from gll_mail.team.accounts import create_admin

    with app.session() as session:
        user = create_admin(session, username, password, role)
        role = user.role
    click.echo(f"Admin {username} created ({role}). Sign in at {app.settings.url_for('/admin/')}")


@admin.command("role")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@pass_app
def role_(app: AppContext, username: str, role: str) -> None:
    """Change an account's role (viewer < editor < approver < admin)."""
    from gll_mail.team.accounts import set_role
    from gll_mail.team.roles import ROLE_HELP

    with app.session() as session:
        set_role(session, username, role)
    click.echo(f"{username} is now {role}: {ROLE_HELP[role]}.")


@admin.command("reset-password")
@click.argument("username")
@pass_app
def reset_password_(app: AppContext, username: str) -> None:
    """Give an account a random one-time password, to be replaced at its next sign-in."""
    from gll_mail.team.accounts import reset_password

    with app.session() as session:
        password = reset_password(session, username)
    click.echo(f"One-time password of {username}: {password}")
    click.echo(
        "Hand it over privately; they must choose a new password at their next sign-in. Their open sessions have ended."
    )


@admin.command("totp")
@click.argument("username")
@click.option("--disable", is_flag=True, help="Remove the second factor instead.")
@pass_app
def totp_(app: AppContext, username: str, disable: bool) -> None:
    """Enrol an account in the TOTP second factor and print the otpauth:// URI for its app."""
    from gll_mail.team import totp
    from gll_mail.team.accounts import get_admin

    with app.session() as session:
        user = get_admin(session, username)
        if disable:
            totp.disable(session, user)
            click.echo(f"Second factor of {username} removed.")
            return
        uri = totp.enrol(session, user)
    click.echo(f"Second factor of {username} enrolled. Add it to an authenticator app (as a QR code or by hand):")
    click.echo(uri)


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
            extra = ", TOTP" if user.totp_secret else ""
            click.echo(f"{user.username}\tcreated {user.created_at:%Y-%m-%d %H:%M}\t{user.role}{extra}")
    if not users:
        click.echo("No admin accounts. Create one with `gll-mail admin create USERNAME`.")


def register(main: click.Group) -> None:
    main.add_command(admin)
