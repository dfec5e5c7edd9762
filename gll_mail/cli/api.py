"""`gll-mail api token …`: bearer tokens of the REST API (/api/v1). Run from the server's shell, so
the audit log names the command line as their author, like `gll-mail admin`."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app

ROLE_CHOICE = click.Choice(["viewer", "editor", "approver", "admin"])


@click.group()
def api() -> None:
    """The REST API under /api/v1 (see docs/api.md)."""


@api.group()
def token() -> None:
    """Bearer tokens: create (shown once), list, revoke."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True, help="The most the token may do.")
@click.option(
    "--user", "username", default=None, metavar="USERNAME", help="Act as this team account (at most its role)."
)
@pass_app
def create(app: AppContext, name: str, role: str, username: str | None) -> None:
    """Create a token; it is printed once, alone on the last line. Without --user it is a service
    token, which can never approve a campaign."""
    from gll_mail.team.api_tokens import create_token
    from gll_mail.team.audit import COMMAND_LINE

    with app.session() as session:
        info, secret = create_token(session, COMMAND_LINE, name, role, username=username)
    who = f"acting as {info.user}" if info.user else "a service token"
    click.echo(f"API token {info.name} created ({info.role}, {who}). Keep it now: it is not shown again.")
    click.echo(secret)


@token.command("list")
@click.option("--revoked", is_flag=True, help="Show revoked tokens too.")
@pass_app
def list_(app: AppContext, revoked: bool) -> None:
    """Every token: name, role, account, last use (never the secret)."""
    from gll_mail.team.api_tokens import list_tokens
    from gll_mail.team.audit import COMMAND_LINE

    with app.session() as session:
        found = list_tokens(session, COMMAND_LINE, revoked=revoked)
    if not found:
        click.echo("No API tokens.")
    for t in found:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        state = "revoked" if t.revoked_at else "active"
        click.echo(f"{t.name}  {t.prefix}…  {t.role}  {t.user or '(service)'}  {used}  {state}")


@token.command("revoke")
@click.argument("name")
@pass_app
def revoke(app: AppContext, name: str) -> None:
    """Revoke a token: its next request gets 401."""
    from gll_mail.team.api_tokens import revoke_token
    from gll_mail.team.audit import COMMAND_LINE

    with app.session() as session:
        changed = revoke_token(session, COMMAND_LINE, name)
    click.echo(f"API token {name} revoked." if changed else f"API token {name} was revoked already.")


def register(main: click.Group) -> None:
    main.add_command(api)
