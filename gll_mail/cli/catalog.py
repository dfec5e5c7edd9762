"""`gll-mail topics|pods|resources …`: what members subscribe to, join and open."""

from __future__ import annotations

import click
from rich.table import Table

from gll_mail import catalog
from gll_mail.catalog import TRANSLATED
from gll_mail.cli.base import AppContext, pass_app
from gll_mail.subscribers import get_by_email
from gll_mail.team.audit import COMMAND_LINE


def acting(session, as_user: str | None):
    """The team account named by --as (its role is checked), or the command line itself."""
    if not as_user:
        return COMMAND_LINE
    from gll_mail.team.accounts import get_admin

    return get_admin(session, as_user)


as_option = click.option(
    "--as", "as_user", metavar="USER", help="The team account acting (its role is checked); default: the command line."
)


def translated(field: str, what: str):
    """--FIELD-fr, --FIELD-es, --FIELD-ar, --FIELD-zh, --FIELD-ru: the field in the other five languages."""

    def decorate(f):
        for code in reversed(TRANSLATED):
            f = click.option(
                f"--{field}-{code}",
                f"{field}_{code}",
                default=None,
                metavar="TEXT",
                help=f'{what} in {code} ("" removes it).',
            )(f)
        return f

    return decorate


def texts(field: str, options: dict) -> dict[str, str]:
    """{language: text} of the --FIELD-LANG options given (popped from ``options``)."""
    found = {code: options.pop(f"{field}_{code}", None) for code in TRANSLATED}
    return {code: text for code, text in found.items() if text is not None}


def _changed(what: str, slug: str, changes: dict) -> None:
    click.echo(f"Updated {what} {slug}: {', '.join(changes)}." if changes else f"{what.capitalize()} {slug} unchanged.")


def _table(app: AppContext, headers: list[str], rows: list[list[str]], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    table = Table(*headers, box=None)
    for row in rows:
        table.add_row(*row)
    app.console.print(table)


def _archived(obj) -> str:
    return " (archived)" if obj.archived_at else ""


def _languages(translations: dict) -> str:
    return " ".join(code for code in TRANSLATED if code in (translations or {})) or "-"


@click.group()
def topics() -> None:
    """Mailing-list topics, such as GLL announcements or webinars."""


@topics.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to members (English).")
@click.option("--description", default="", help="One line shown on the manage page (English).")
@translated("name", "Name")
@translated("description", "Description")
@as_option
@pass_app
def topics_create(app: AppContext, slug: str, name: str, description: str, as_user, **options) -> None:
    """Create a topic SLUG."""
    from gll_mail.library import topics_pods

    with app.session() as session:
        topics_pods.create_topic(
            session,
            acting(session, as_user),
            slug=slug,
            name=name,
            description=description,
            names=texts("name", options),
            descriptions=texts("description", options),
        )
    click.echo(f"Created topic {slug}.")


def _update(app: AppContext, kind: str, slug: str, as_user, *, name, description, options) -> None:
    """Rename a topic or a pod, or change its description, in the languages given."""
    from gll_mail.library import topics_pods

    update = topics_pods.update_topic if kind == "topic" else topics_pods.update_pod
    with app.session() as session:
        _, changes = update(
            session,
            acting(session, as_user),
            slug,
            name=name,
            description=description,
            names=texts("name", options),
            descriptions=texts("description", options),
        )
    _changed(kind, slug, changes)


def _archive(app: AppContext, kind: str, label: str, slug: str, restore: bool, as_user) -> None:
    from gll_mail.library import topics_pods

    archive = topics_pods.archive_topic if kind == "topic" else topics_pods.archive_pod
    with app.session() as session:
        changed = archive(session, acting(session, as_user), slug, restore=restore)
    state = "restored" if restore else "archived"
    click.echo(f"{label} {slug} {state}." if changed else f"{label} {slug} was already {state}.")


@topics.command("update")
@click.argument("slug")
@click.option("--name", default=None, help="New English name.")
@click.option("--description", default=None, help="New English description.")
@translated("name", "Name")
@translated("description", "Description")
@as_option
@pass_app
def topics_update(app: AppContext, slug: str, name, description, as_user, **options) -> None:
    """Rename topic SLUG or change its description, in any of the six languages (history is kept)."""
    _update(app, "topic", slug, as_user, name=name, description=description, options=options)


@topics.command("archive")
@click.argument("slug")
@click.option("--restore", is_flag=True, help="Bring an archived topic back.")
@as_option
@pass_app
def topics_archive(app: AppContext, slug: str, restore: bool, as_user) -> None:
    """Hide topic SLUG from members' choices (subscriptions and history are kept)."""
    _archive(app, "topic", "Topic", slug, restore, as_user)


@topics.command("list")
@pass_app
def topics_list(app: AppContext) -> None:
    """List topics."""
    with app.session() as session:
        rows = [
            [t.slug, t.name + _archived(t), _languages(t.names), t.description]
            for t in catalog.list_topics(session, archived=True)
        ]
    _table(
        app,
        ["slug", "name", "translated", "description"],
        rows,
        "No topics yet: `gll-mail topics create SLUG --name NAME`.",
    )


@click.group()
def pods() -> None:
    """Learning pods (Compassion, NQPS, IPC, WASH, …) and their members."""


@pods.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to members (English).")
@click.option("--description", default="", help="What the pod works on (English).")
@translated("name", "Name")
@translated("description", "Description")
@as_option
@pass_app
def pods_create(app: AppContext, slug: str, name: str, description: str, as_user, **options) -> None:
    """Create a learning pod SLUG."""
    from gll_mail.library import topics_pods

    with app.session() as session:
        topics_pods.create_pod(
            session,
            acting(session, as_user),
            slug=slug,
            name=name,
            description=description,
            names=texts("name", options),
            descriptions=texts("description", options),
        )
    click.echo(f"Created learning pod {slug}.")


@pods.command("update")
@click.argument("slug")
@click.option("--name", default=None, help="New English name.")
@click.option("--description", default=None, help="New English description.")
@translated("name", "Name")
@translated("description", "Description")
@as_option
@pass_app
def pods_update(app: AppContext, slug: str, name, description, as_user, **options) -> None:
    """Rename learning pod SLUG or change its description, in any of the six languages."""
    _update(app, "pod", slug, as_user, name=name, description=description, options=options)


@pods.command("archive")
@click.argument("slug")
@click.option("--restore", is_flag=True, help="Bring an archived pod back.")
@as_option
@pass_app
def pods_archive(app: AppContext, slug: str, restore: bool, as_user) -> None:
    """Hide learning pod SLUG from members' choices (its members and history are kept)."""
    _archive(app, "pod", "Pod", slug, restore, as_user)


@pods.command("roster")
@click.argument("slug")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for a spreadsheet).")
@click.option("--former", is_flag=True, help="Include members who left, with the date.")
@as_option
@pass_app
def pods_roster(app: AppContext, slug: str, as_csv: bool, former: bool, as_user) -> None:
    """The members of learning pod SLUG with their join dates."""
    from gll_mail.library import topics_pods

    with app.session() as session:
        actor = acting(session, as_user)
        if as_csv:
            click.echo(topics_pods.roster_csv(session, actor, slug, former=former), nl=False)
            return
        rows = [
            [r["email"], r["name"], r["organization"], r["country"], r["joined_at"][:10], r["left_at"][:10]]
            for r in topics_pods.roster(session, actor, slug, former=former)
        ]
    _table(app, ["email", "name", "organization", "country", "joined", "left"], rows, f"No members in {slug}.")


@pods.command("list")
@pass_app
def pods_list(app: AppContext) -> None:
    """List learning pods."""
    with app.session() as session:
        rows = [
            [p.slug, p.name + _archived(p), _languages(p.names), p.description]
            for p in catalog.list_pods(session, archived=True)
        ]
    _table(
        app,
        ["slug", "name", "translated", "description"],
        rows,
        "No learning pods yet: `gll-mail pods create SLUG --name NAME`.",
    )


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
@translated("title", "Title")
@as_option
@pass_app
def resources_add(app: AppContext, slug: str, title: str, url, file_path, access: str, as_user, **options) -> None:
    """Add a gated resource SLUG, linked from campaigns as resource:SLUG."""
    from gll_mail.library import resources as library

    with app.session() as session:
        library.create_resource(
            app.settings,
            session,
            acting(session, as_user),
            slug=slug,
            title=title,
            url=url,
            file_path=file_path,
            access=access,
            titles=texts("title", options),
        )
    click.echo(f"Added resource {slug} ({access}).")


@resources.command("update")
@click.argument("slug")
@click.option("--title", default=None, help="New English title.")
@translated("title", "Title")
@click.option("--url", default=None, help="Repoint it to this absolute http(s) URL.")
@click.option("--file", "file_path", default=None, help="Serve this file under the resources folder instead.")
@click.option("--access", default=None, metavar="public|registered|pod:SLUG", help="Who may open it.")
@click.option("--yes", is_flag=True, help="Change the access even though campaigns link to the resource.")
@as_option
@pass_app
def resources_update(app: AppContext, slug: str, title, url, file_path, access, yes: bool, as_user, **options) -> None:
    """Edit resource SLUG: titles, target or access. Links already mailed carry the slug, so they
    open the new target."""
    from gll_mail.library import resources as library

    with app.session() as session:
        try:
            _, changes = library.update_resource(
                app.settings,
                session,
                acting(session, as_user),
                slug,
                title=title,
                titles=texts("title", options),
                url=url,
                file_path=file_path,
                access=access,
                confirmed=yes,
            )
        except library.ImpactNotConfirmed as exc:
            raise click.ClickException(f"{exc}; nothing changed: run again with --yes to change it") from None
    _changed("resource", slug, changes)


@resources.command("archive")
@click.argument("slug")
@click.option("--moved-to", default=None, metavar="URL", help="Where it went: its links' page points there.")
@click.option("--restore", is_flag=True, help="Bring an archived resource back.")
@as_option
@pass_app
def resources_archive(app: AppContext, slug: str, moved_to, restore: bool, as_user) -> None:
    """Archive resource SLUG: its links (those already mailed too) open a page saying where it went."""
    from gll_mail.library import resources as library

    with app.session() as session:
        changed = library.archive_resource(session, acting(session, as_user), slug, moved_to=moved_to, restore=restore)
    state = "restored" if restore else "archived"
    click.echo(f"Resource {slug} {state}." if changed else f"Resource {slug} was already {state}.")


@resources.command("delete")
@click.argument("slug")
@as_option
@pass_app
def resources_delete(app: AppContext, slug: str, as_user) -> None:
    """Delete resource SLUG; refused when a sent or scheduled campaign links to it (archive it instead)."""
    from gll_mail.library import resources as library

    with app.session() as session:
        library.delete_resource(app.settings, session, acting(session, as_user), slug)
    click.echo(f"Deleted resource {slug}.")


@resources.command("list")
@pass_app
def resources_list(app: AppContext) -> None:
    """List gated resources, with their clicks and the registrations they brought."""
    from gll_mail.library.resources import resource_figures

    with app.session() as session:
        figures = resource_figures(session, COMMAND_LINE)
        rows = [
            [
                r.slug,
                r.access,
                r.title + _archived(r),
                r.url or f"file:{r.file_path}",
                str(figures[r.slug].clicks),
                str(figures[r.slug].registrations),
            ]
            for r in catalog.list_resources(session)
        ]
    _table(
        app,
        ["slug", "access", "title", "target", "clicks", "registrations"],
        rows,
        "No resources yet: `gll-mail resources add`.",
    )


def register(main: click.Group) -> None:
    for group in (topics, pods, resources):
        main.add_command(group)
