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


def register(main: click.Group) -> None:
    main.add_command(subscribers)
