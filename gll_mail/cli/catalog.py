"""`gll-mail topics|pods|resources …`: what members subscribe to, join and open."""

from __future__ import annotations

import click
from rich.table import Table

from gll_mail import catalog
from gll_mail.cli.base import AppContext, pass_app
from gll_mail.subscribers import get_by_email


def _table(app: AppContext, headers: list[str], rows: list[list[str]], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    table = Table(*headers, box=None)
    for row in rows:
        table.add_row(*row)
    app.console.print(table)


@click.group()
def topics() -> None:
    """Mailing-list topics, such as GLL announcements or webinars."""


@topics.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to members.")
@click.option("--description", default="", help="One line shown on the manage page.")
@pass_app
def topics_create(app: AppContext, slug: str, name: str, description: str) -> None:
    """Create a topic SLUG."""
    with app.session() as session:
        catalog.create_topic(session, slug=slug, name=name, description=description)
    click.echo(f"Created topic {slug}.")


@topics.command("list")
@pass_app
def topics_list(app: AppContext) -> None:
    """List topics."""
    with app.session() as session:
        rows = [[t.slug, t.name, t.description] for t in catalog.list_topics(session)]
    _table(app, ["slug", "name", "description"], rows, "No topics yet: `gll-mail topics create SLUG --name NAME`.")


@click.group()
def pods() -> None:
    """Learning pods (Compassion, NQPS, IPC, WASH, …) and their members."""


@pods.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to members.")
@click.option("--description", default="", help="What the pod works on.")
@pass_app
def pods_create(app: AppContext, slug: str, name: str, description: str) -> None:
    """Create a learning pod SLUG."""
    with app.session() as session:
        catalog.create_pod(session, slug=slug, name=name, description=description)
    click.echo(f"Created learning pod {slug}.")


@pods.command("list")
@pass_app
def pods_list(app: AppContext) -> None:
    """List learning pods."""
    with app.session() as session:
        rows = [[p.slug, p.name, p.description] for p in catalog.list_pods(session)]
    _table(app, ["slug", "name", "description"], rows, "No learning pods yet: `gll-mail pods create SLUG --name NAME`.")


@pods.command("add")
@click.argument("slug")
@click.argument("emails", nargs=-1, required=True)
@pass_app
def pods_add(app: AppContext, slug: str, emails: tuple[str, ...]) -> None:
    """Add the members with these EMAILS to pod SLUG."""
    with app.session() as session:
        pod = catalog.get_pod(session, slug)
        for email in emails:
            joined = catalog.join_pod(session, get_by_email(session, email), pod, source="cli")
            click.echo(f"{email}: {'added to' if joined else 'already in'} {slug}")


@pods.command("remove")
@click.argument("slug")
@click.argument("emails", nargs=-1, required=True)
@pass_app
def pods_remove(app: AppContext, slug: str, emails: tuple[str, ...]) -> None:
    """Remove the members with these EMAILS from pod SLUG (their history is kept)."""
    with app.session() as session:
        pod = catalog.get_pod(session, slug)
        for email in emails:
            left = catalog.leave_pod(session, get_by_email(session, email), pod, source="cli")
            click.echo(f"{email}: {'removed from' if left else 'was not in'} {slug}")


@click.group()
def resources() -> None:
    """Gated resources: reports and tools that tokenized links open."""


@resources.command("add")
@click.argument("slug")
@click.option("--title", required=True, help="Title shown to members.")
@click.option("--url", default=None, help="Absolute http(s) URL the link leads to.")
@click.option("--file", "file_path", default=None, help="A file under the resources folder to serve instead.")
@click.option(
    "--access",
    default="registered",
    show_default=True,
    metavar="public|registered|pod:SLUG",
    help="Who may open it: anyone, registered members, or members of one pod.",
)
@pass_app
def resources_add(app: AppContext, slug: str, title: str, url, file_path, access: str) -> None:
    """Add a gated resource SLUG, linked from campaigns as resource:SLUG."""
    with app.session() as session:
        catalog.add_resource(
            session,
            slug=slug,
            title=title,
            url=url,
            file_path=file_path,
            access=access,
            resources_dir=app.settings.resources_dir,
        )
    click.echo(f"Added resource {slug} ({access}).")


@resources.command("list")
@pass_app
def resources_list(app: AppContext) -> None:
    """List gated resources."""
    with app.session() as session:
        rows = [[r.slug, r.access, r.title, r.url or f"file:{r.file_path}"] for r in catalog.list_resources(session)]
    _table(app, ["slug", "access", "title", "target"], rows, "No resources yet: `gll-mail resources add`.")


def register(main: click.Group) -> None:
    for group in (topics, pods, resources):
        main.add_command(group)
