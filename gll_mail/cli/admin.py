"""`gll-mail admin create USERNAME`: an account for the /admin report pages."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app


@click.group()
def admin() -> None:
    """Team accounts for the /admin pages."""


@admin.command("create")
@click.argument("username")
@click.password_option()
@pass_app
def create(app: AppContext, username: str, password: str) -> None:
    """Create a team account that can log in to /admin (prompts for the password)."""
    from gll_mail.admin import create_admin

    with app.session() as session:
        create_admin(session, username, password)
    click.echo(f"Admin {username} created.")


def register(main: click.Group) -> None:
    main.add_command(admin)
