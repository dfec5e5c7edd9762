"""`gll-mail audit [--since 7d] [--object campaign:SLUG] [--format text|json]`: the team's audit log."""

from __future__ import annotations

import json

import click

from gll_mail.cli.base import AppContext, pass_app


@click.command("audit")
@click.option("--since", default=None, metavar="WHEN", help="A date (2026-11-01), a date-time or a span (7d, 12h).")
@click.option(
    "--object", "obj", default=None, metavar="TYPE:ID", help="Only this object, e.g. campaign:SLUG or admin:USER."
)
@click.option("--action", default=None, help="Only this action, e.g. campaign.approve.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def audit_cmd(app: AppContext, since: str | None, obj: str | None, action: str | None, fmt: str) -> None:
    """Every team action: who, when, what, on which object, the content hash before and after."""
    from gll_mail.team.audit import as_dict, as_line, entries, parse_object, parse_since

    when = parse_since(since) if since else None
    target = parse_object(obj) if obj else None
    with app.session() as session:
        found = entries(session, since=when, object=target, action=action)
        if fmt == "json":
            click.echo(json.dumps([as_dict(e) for e in found], indent=2, ensure_ascii=False))
            return
        for entry in found:
            click.echo(as_line(entry))
    if not found and fmt == "text":
        click.echo("No audit entries" + (" match" if since or obj or action else " yet") + ".")


def register(main: click.Group) -> None:
    main.add_command(audit_cmd)
