"""`gll-mail doctor`, `gll-mail backup`, `gll-mail restore`, `gll-mail log-hash`: running it for real."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from gll_mail.cli.base import AppContext, pass_app


def service_logging(app: AppContext) -> None:
    """The long-running commands (serve, worker, bounces receive) log in GLL_MAIL_LOG_FORMAT."""
    from gll_mail.ops.logs import configure

    configure(app.settings)


MARKS = {"pass": "[green]pass[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[bold red]FAIL[/bold red]"}


@click.command()
@click.option("--nameserver", help="Ask this DNS server (IP or IP:PORT) instead of the system's resolvers.")
@click.option("--sending-ip", help="The public address mail leaves from: SPF must cover it, reverse DNS must name it.")
@click.option(
    "--bounce-receiver",
    metavar="HOST:PORT",
    help="Where `gll-mail bounces receive` answers (default: the MX, port 25).",
)
@click.option("--here", multiple=True, help="This server's public address, when behind NAT (for the MX check).")
@click.option(
    "--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True, help="Seconds per network check."
)
@click.pass_obj
def doctor(app: AppContext, nameserver, sending_ip, bounce_receiver, here, timeout) -> None:
    """Check this deployment: DNS, SMTP relay, bounce receiver, web, settings, database, worker.

    Prints one line per check (pass, warn or FAIL) with what to do; exits 1 when anything fails.
    """
    from gll_mail.ops.doctor import Options, run
    from gll_mail.ops.findings import any_failed

    findings = run(
        app.settings,
        app.engine,
        Options(
            nameserver=nameserver,
            sending_ip=sending_ip,
            bounce_receiver=bounce_receiver,
            here=set(here),
            timeout=timeout,
        ),
    )
    table = Table(show_lines=False, pad_edge=False, box=None)
    for column in ("", "area", "check", "finding", "what to do"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(MARKS[f.status], f.area, f.check, f.detail, f.fix)
    app.console.print(table)
    counts = {s: sum(f.status == s for f in findings) for s in ("pass", "warn", "fail")}
    app.console.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    if any_failed(findings):
        raise SystemExit(1)


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@pass_app
def backup(app: AppContext, dest: Path) -> None:
    """Back up the database, campaigns/, resources/ and the DKIM public keys into one archive in DEST.

    Safe while the web and the worker run. The DKIM private keys are not included: keep them apart.
    """
    from gll_mail.ops.backup import backup as make_backup
    from gll_mail.ops.backup import manifest_of

    archive = make_backup(app.settings, app.engine, dest)
    manifest = manifest_of(archive)
    click.echo(f"Wrote {archive} ({len(manifest['files'])} files, schema {manifest['schema']}, checksums verified).")


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data, and files that differ.")
@click.pass_obj
def restore(app: AppContext, archive: Path, force: bool) -> None:
    """Restore a `gll-mail backup` archive into the configured (empty) database and folders."""
    from gll_mail.db import check_folder, has_schema, migrate
    from gll_mail.ops.backup import restore as do_restore

    check_folder(app.engine)
    if not has_schema(app.engine):
        migrate(app.engine)  # an empty database: the schema first, the archive's rows replace it
    done = do_restore(app.settings, app.engine, archive, force=force)
    click.echo(f"Restored {archive} into {done.database} (schema {done.schema}); {done.files} file(s) written.")
    click.echo("Run `gll-mail init` if this gll-mail is newer than the backup, then `gll-mail doctor`.")


@click.command("log-hash")
@click.argument("address")
@click.pass_obj
def log_hash(app: AppContext, address: str) -> None:
    """Print the keyed hash that stands for ADDRESS in log lines (to find a member's lines)."""
    from gll_mail.ops.logs import address_hash

    click.echo(address_hash(address, app.settings.secret_keys[0]))


def register(main: click.Group) -> None:
    for command in (doctor, backup, restore, log_hash):
        main.add_command(command)
