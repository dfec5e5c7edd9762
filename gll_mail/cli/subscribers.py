"""`gll-mail subscribers …`: import, export and look up members."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gll_mail.cli.base import AppContext, pass_app
from gll_mail.importer import import_csv
from gll_mail.spreadsheets import count_lines
from gll_mail.subscribers import (
    EXPORT_FIELDS,
    describe,
    export_rows,
    get_by_email,
    spreadsheet_safe,
)

MAX_LISTED_PROBLEMS = 200


@click.group()
def subscribers() -> None:
    """Import, export and look up subscribers."""


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--topic", "topics", multiple=True, metavar="SLUG", help="Subscribe every imported row to this topic (repeatable)."
)
@click.option(
    "--pod", "pods", multiple=True, metavar="SLUG", help="Add every imported row to this learning pod (repeatable)."
)
@click.option("--registered", is_flag=True, help="Mark the rows as registered GLL members.")
@click.option("--batch-size", default=2000, show_default=True, help="Rows written per transaction.")
@click.option("--dry-run", is_flag=True, help="Check the whole file and print what would happen; write nothing.")
@pass_app
def import_(app: AppContext, file: Path, topics, pods, registered: bool, batch_size: int, dry_run: bool) -> None:
    """Import subscribers from FILE: a CSV (UTF-8, UTF-16 or Windows-1252; separated by commas,
    semicolons or tabs, found from the header) or an .xlsx workbook (its first sheet).

    Columns are found by header name, in any of the six languages: email (required), name, language
    (ar, zh, en, fr, ru, es; others become the default with a warning), country, organization,
    role. Every rejected row is listed with its line number and reason; valid rows are imported all
    the same. Exits non-zero only when no row could be imported.
    """
    is_text = file.is_file() and not zipfile.is_zipfile(file)
    total = max(count_lines(file) - 1, 0) if is_text else None
    with Progress(
        TextColumn("Checking" if dry_run else "Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=app.err,
        transient=True,
        disable=not app.err.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=total)
        report = import_csv(
            app.engine,
            file,
            topics=topics,
            pods=pods,
            registered=registered,
            batch_size=batch_size,
            dry_run=dry_run,
            progress=lambda n: progress.advance(task, n),
        )
    click.echo(f"{file}: read as {report.source}.")
    limit = None if dry_run else MAX_LISTED_PROBLEMS
    notes = sorted(
        [(p, "skipped") for p in report.problems] + [(w, "warning") for w in report.warnings],
        key=lambda note: note[0].line,
    )
    for problem, kind in notes[:limit]:
        who = f" <{problem.email}>" if problem.email else ""
        click.echo(f"{file}:{problem.line}:{who} {kind}: {problem.reason}", err=True)
    if limit is not None and len(notes) > limit:
        click.echo(f"… and {len(notes) - limit} more (--dry-run lists them all)", err=True)
    warned = f" {len(report.warnings)} warning(s)." if report.warnings else ""
    if dry_run:
        click.echo(
            f"Dry run, nothing written: would import {report.imported}, update {report.updated}, "
            f"leave {report.unchanged} unchanged, skip {report.skipped}.{warned}"
        )
    else:
        click.echo(
            f"Imported {report.imported}, updated {report.updated}, unchanged {report.unchanged}, "
            f"skipped {report.skipped}.{warned}"
        )
    if report.accepted == 0:
        raise click.ClickException("nothing could be imported")


@subscribers.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: stdout)."
)
@pass_app
def export(app: AppContext, fmt: str, output) -> None:
    """Export every subscriber (with topics and pods) as CSV, or as a JSON array."""
    with app.session() as session:
        rows = export_rows(session)
        if fmt == "csv":
            writer = csv.DictWriter(output, fieldnames=EXPORT_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
            return
        output.write("[")
        for i, row in enumerate(rows):
            output.write(("," if i else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        output.write("\n]\n")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def show(app: AppContext, email: str, as_json: bool) -> None:
    """Show one subscriber: profile, consent, topics, pods and recent events."""
    with app.session() as session:
        data = describe(session, get_by_email(session, email))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(show_header=False, box=None)
    for key in (
        "email",
        "name",
        "status",
        "paused",
        "language",
        "country",
        "organization",
        "role",
        "registered_at",
        "created_at",
        "public_id",
    ):
        table.add_row(key, str(data[key] if data[key] is not None else "-"))
    consent = data["consent"]
    table.add_row(
        "consent",
        f"{consent['source'] or '-'} at {consent['at'] or '-'}" + (f" from {consent['ip']}" if consent["ip"] else ""),
    )
    table.add_row("topics", ", ".join(data["topics"]) or "-")
    table.add_row("pods", ", ".join(data["pods"]) or "-")
    app.console.print(table)
    if data["events"]:
        app.console.print("\nRecent events:")
        for e in data["events"]:
            extra = {k: v for k, v in e.items() if k not in ("type", "at", "source", "bot")}
            details = " ".join(f"{k}={v}" for k, v in extra.items())
            app.console.print(
                f"  {e['at']}  {e['type']:<18} {e['source']:<8} {'[bot] ' if e['bot'] else ''}{details}", markup=False
            )


@subscribers.command("purge-unconfirmed")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=8),
    default=30,
    show_default=True,
    help="Days after which an unconfirmed registration is forgotten (confirm links live 7 days).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be forgotten.")
@pass_app
def purge_unconfirmed_(app: AppContext, days: int, dry_run: bool) -> None:
    """Forget registrations nobody confirmed: erase pending addresses, drop unconfirmed changes.

    Run it now and then (a daily cron job is fine). Members' confirmed data is never touched.
    """
    from datetime import timedelta

    from gll_mail.members.registration import purge_unconfirmed

    with app.session() as session:
        result = purge_unconfirmed(session, older_than=timedelta(days=days), dry_run=dry_run)
    verb = "Would forget" if dry_run else "Forgot"
    click.echo(
        f"{verb} {result.deleted} unconfirmed address(es) and the unconfirmed changes of "
        f"{result.cleared} member(s), older than {days} days."
    )


def _acting(session, as_user):
    from gll_mail.cli.catalog import acting

    return acting(session, as_user)


as_option = click.option(
    "--as", "as_user", metavar="USER", help="The team account acting (its role is checked); default: the command line."
)


@subscribers.command("search")
@click.argument("text", required=False, default="")
@click.option("--country", default="", help="Exactly this country.")
@click.option("--organization", default="", help="Exactly this organization.")
@click.option("--pod", default="", metavar="SLUG", help="Members of this learning pod.")
@click.option("--topic", default="", metavar="SLUG", help="Subscribed to this topic.")
@click.option("--status", default="", help="active, pending, unsubscribed, bounced or complained.")
@click.option("--language", default="", help="ar, zh, en, fr, ru or es.")
@click.option("--limit", default=50, show_default=True, help="Members per page (at most 200).")
@click.option("--after", "cursor", type=int, default=None, help="The cursor printed after the previous page.")
@as_option
@pass_app
def search(app: AppContext, text: str, limit: int, cursor, as_user, **filters) -> None:
    """Find members: TEXT matches the start of an address or part of a name, address or organization."""
    from gll_mail.members.directory import search_members

    with app.session() as session:
        page = search_members(session, _acting(session, as_user), q=text, limit=limit, cursor=cursor, **filters)
    if not page.rows:
        click.echo("No member matches.")
        return
    table = Table("email", "name", "organization", "country", "language", "status", box=None)
    for r in page.rows:
        table.add_row(r["email"], r["name"], r["organization"], r["country"], r["language"], r["status"])
    app.console.print(table)
    if page.next_cursor is not None:
        click.echo(f"More: --after {page.next_cursor}")


@subscribers.command("imports")
@click.option("--limit", default=50, show_default=True, help="Imports listed, newest first.")
@click.option("--after", "cursor", type=int, default=None, help="The cursor printed after the previous page.")
@click.option("--rejected", type=int, default=None, metavar="ID", help="Write import ID's rejected rows as CSV.")
@click.option(
    "-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="For --rejected (default: stdout)."
)
@click.option("--resume", type=int, default=None, metavar="ID", help="Run interrupted or failed import ID again, here.")
@as_option
@pass_app
def imports_cmd(app: AppContext, limit: int, cursor, rejected, output, resume, as_user) -> None:
    """Imports made in the console: status and counts, newest first; an import's rejected rows (as they
    were in the file, with the line and the reason); or an interrupted one run again from the kept file
    (`gll-mail worker` resumes those by itself)."""
    from gll_mail.members import imports

    with app.session() as session:
        actor = _acting(session, as_user)
        if rejected is not None:
            output.write(imports.rejected_csv(session, actor, rejected))
            return
        if resume is None:
            rows, older = imports.list_imports(session, actor, limit=limit, cursor=cursor)
    if resume is not None:
        job = imports.run_again(app.engine, actor, resume)
        click.echo(
            f"Import {resume} ({job.file_name}): {job.status}; new {job.imported}, updated {job.updated}, "
            f"unchanged {job.unchanged}, rejected {job.skipped}.{' ' + job.error if job.error else ''}"
        )
        return
    if not rows:
        click.echo("No imports yet.")
        return
    click.echo("id\tstatus\tnew\tupdated\tunchanged\trejected\tby\tuploaded\tfile")
    for r in rows:
        status = r["status"] + (" (dry run)" if r["dry_run"] and r["status"] in ("checking", "checked") else "")
        counts = "\t".join(str(r[k]) for k in ("imported", "updated", "unchanged", "skipped"))
        uploaded = r["created_at"][:16].replace("T", " ")
        click.echo(f"{r['id']}\t{status}\t{counts}\t{r['by']}\t{uploaded}\t{r['file']}")
    if older is not None:
        click.echo(f"More: --after {older}")


@subscribers.command("update")
@click.argument("email")
@click.option("--name", default=None)
@click.option("--organization", default=None)
@click.option("--country", default=None)
@click.option("--role", default=None)
@click.option("--language", default=None, help="ar, zh, en, fr, ru or es.")
@click.option("--add-pod", "add_pods", multiple=True, metavar="SLUG", help="Add to this learning pod (repeatable).")
@click.option("--remove-pod", "remove_pods", multiple=True, metavar="SLUG", help="Remove from this pod (repeatable).")
@click.option("--add-topic", "add_topics", multiple=True, metavar="SLUG", help="Subscribe to this topic (repeatable).")
@click.option("--remove-topic", "remove_topics", multiple=True, metavar="SLUG", help="Unsubscribe from this topic.")
@as_option
@pass_app
def update(app: AppContext, email: str, add_pods, remove_pods, add_topics, remove_topics, as_user, **profile) -> None:
    """Edit the profile, pods and topics of the member EMAIL (never their subscription status: only
    the member can re-subscribe, from their own link)."""
    from gll_mail.members import team_edits

    done: list[str] = []
    with app.session() as session:
        actor, member = _acting(session, as_user), get_by_email(session, email)
        done += list(team_edits.update_profile(session, actor, member, profile))
        for slug in add_pods:
            if team_edits.add_to_pod(session, actor, member, slug):
                done.append(f"pod +{slug}")
        for slug in remove_pods:
            if team_edits.remove_from_pod(session, actor, member, slug):
                done.append(f"pod -{slug}")
        for slug in add_topics:
            if team_edits.add_topic(session, actor, member, slug):
                done.append(f"topic +{slug}")
        for slug in remove_topics:
            if team_edits.remove_topic(session, actor, member, slug):
                done.append(f"topic -{slug}")
    click.echo(f"Updated {email}: {', '.join(done)}." if done else f"{email} unchanged.")


@subscribers.command("unsubscribe")
@click.argument("email")
@click.option("--reason", default="", help="Why, for the audit log (e.g. asked by phone).")
@as_option
@pass_app
def unsubscribe_cmd(app: AppContext, email: str, reason: str, as_user) -> None:
    """Stop all mail to EMAIL now (its address goes on the suppression list)."""
    from gll_mail.members import team_edits

    with app.session() as session:
        changed = team_edits.unsubscribe(
            session, _acting(session, as_user), get_by_email(session, email), reason=reason
        )
    click.echo(f"Unsubscribed {email}." if changed else f"{email} was not subscribed.")


@subscribers.command("erase")
@click.argument("email")
@click.option("--reason", default="", help="Why, for the audit log (e.g. asked by email on 2026-12-01).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@as_option
@pass_app
def erase_cmd(app: AppContext, email: str, reason: str, yes: bool, as_user) -> None:
    """Erase the member EMAIL, as their own delete does: only a hash of the address stays (on the
    suppression list, so they are never mailed again). This cannot be undone."""
    from gll_mail.members import team_edits

    with app.session() as session:
        actor, member = _acting(session, as_user), get_by_email(session, email)
        if not yes:
            click.confirm(f"Erase {email} and everything kept about them? This cannot be undone", abort=True)
        public_id = team_edits.erase(session, actor, member, reason=reason)
    click.echo(f"Erased {email} (member {public_id}); only a hash of the address stays, on the suppression list.")


def register(main: click.Group) -> None:
    main.add_command(subscribers)
