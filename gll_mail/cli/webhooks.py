"""`gll-mail webhooks add/list/remove/rotate-secret/test/deliveries/deliver`: the endpoints told
about members, pods, campaigns and bounces, and their delivery log."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app
from gll_mail.cli.catalog import acting, as_option
from gll_mail.events import WEBHOOK_EVENTS
from gll_mail.webhooks import endpoints as hooks


@click.group()
def webhooks() -> None:
    """Signed webhooks (Standard Webhooks) to other systems; admins only."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--events",
    required=True,
    metavar="EVENT,...",
    help=f"Comma-separated events, or all: {', '.join(WEBHOOK_EVENTS)}.",
)
@click.option("--description", default="", help="What the endpoint is for.")
@as_option
@pass_app
def add(app: AppContext, url: str, events: str, description: str, as_user: str | None) -> None:
    """Send the EVENTS to URL. The signing secret is printed once, alone on the last line."""
    with app.session() as session:
        endpoint = hooks.add_endpoint(
            session, app.settings, acting(session, as_user), url, events, description=description
        )
        click.echo(f"Added webhook {endpoint.public_id} → {endpoint.url} ({', '.join(endpoint.events)}). Secret:")
        click.echo(endpoint.secret)


@webhooks.command("list")
@as_option
@pass_app
def list_cmd(app: AppContext, as_user: str | None) -> None:
    """Every endpoint: id, URL, events, description (tab-separated; never the secret)."""
    with app.session() as session:
        rows = hooks.list_endpoints(session, acting(session, as_user))
        if not rows:
            click.echo("No webhook endpoints (add one: gll-mail webhooks add URL --events all).")
            return
        for endpoint in rows:
            click.echo(f"{endpoint.public_id}\t{endpoint.url}\t{','.join(endpoint.events)}\t{endpoint.description}")


@webhooks.command("remove")
@click.argument("endpoint_id")
@as_option
@pass_app
def remove(app: AppContext, endpoint_id: str, as_user: str | None) -> None:
    """Remove the endpoint and its delivery log."""
    with app.session() as session:
        hooks.remove_endpoint(session, acting(session, as_user), endpoint_id)
    click.echo(f"Removed webhook {endpoint_id}.")


@webhooks.command("rotate-secret")
@click.argument("endpoint_id")
@as_option
@pass_app
def rotate(app: AppContext, endpoint_id: str, as_user: str | None) -> None:
    """A new signing secret (printed alone on the last line); the old one also signs for 24 hours."""
    with app.session() as session:
        endpoint = hooks.rotate_secret(session, acting(session, as_user), endpoint_id)
        click.echo(f"New secret of webhook {endpoint.public_id} (the old one also signs for 24 hours):")
        click.echo(endpoint.secret)


@webhooks.command("test")
@click.argument("endpoint_id")
@as_option
@pass_app
def test(app: AppContext, endpoint_id: str, as_user: str | None) -> None:
    """Queue a webhook.test event for this endpoint (the worker or `webhooks deliver` sends it)."""
    with app.session() as session:
        message_id = hooks.send_test(session, acting(session, as_user), endpoint_id)
    click.echo(f"Queued test event {message_id}.")


@webhooks.command("deliveries")
@click.option("--endpoint", "endpoint_id", default=None, help="Only this endpoint's.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@as_option
@pass_app
def deliveries(app: AppContext, endpoint_id: str | None, status: str | None, limit: int, as_user: str | None) -> None:
    """The delivery log, newest first: status, tries, last answer, next retry."""
    with app.session() as session:
        page = hooks.deliveries(session, acting(session, as_user), endpoint=endpoint_id, status=status, limit=limit)
        for row, endpoint in page.rows:
            retry = f"{row.next_attempt_at:%Y-%m-%d %H:%M:%S}" if row.status == "pending" else "-"
            answer = row.last_status_code or row.last_error or "-"
            click.echo(
                f"{row.message_id}\t{row.type}\t{endpoint.public_id}\t{row.status}\t{row.attempts} tries\t"
                f"{answer}\tnext: {retry}"
            )
        click.echo(", ".join(f"{n} {s}" for s, n in sorted(page.counts.items())) or "No deliveries.")


@webhooks.command("deliver")
@pass_app
def deliver(app: AppContext) -> None:
    """Send every webhook due now, once (the worker does this all the time)."""
    from gll_mail.webhooks.sender import deliver_all

    done = deliver_all(app.engine, app.settings)
    click.echo(f"{done.delivered} delivered, {done.retrying} to retry later, {done.failed} given up.")


def register(main: click.Group) -> None:
    main.add_command(webhooks)
