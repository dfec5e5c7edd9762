"""`gll-mail demo`: the whole path on embedded defaults, with no server to install."""

from __future__ import annotations

import socket
from pathlib import Path

import click
from rich.table import Table

from gll_mail.cli.base import AppContext
from gll_mail.db import check_folder
from gll_mail.demo.run import reset_demo_database, run_demo
from gll_mail.smtp.sink import LocalSMTPServer


@click.command()
@click.option("--members", default=300, show_default=True, help="How many demo members to generate.")
@click.option(
    "--outbox",
    default="demo-outbox",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder where the local SMTP server stores each received message as .eml.",
)
@click.option("--fresh", is_flag=True, help="Start from a new demo database and an empty outbox.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Serve the member web site after sending, until interrupted.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the member web site (`make demo PORT=5001`).",
)
@click.pass_obj
def demo(app: AppContext, members: int, outbox: Path, fresh: bool, serve: bool, host: str, port: int) -> None:
    """Run the main job on embedded defaults.

    Creates the SQLite database, loads the GLL's learning pods, topics and gated resources and a few
    hundred generated members, starts a local SMTP server that stores every message in OUTBOX,
    sends the demo's two campaigns in campaigns/ (a report release and its corrigendum; other files
    there are left alone) through the real pipeline, prints a summary, then serves the member web
    site until interrupted.
    """
    settings = app.settings
    if settings.base_url == type(settings)().base_url:
        settings = settings.replace(base_url=f"http://{host}:{port}")
    if serve:
        _check_port(host, port)
    check_folder(app.engine)
    if fresh:
        reset_demo_database(settings.database_url, outbox)
    app.engine.connect().close()  # a database that cannot be reached fails here, before anything starts
    step = lambda msg: app.err.print(f"[bold]•[/] {msg}")  # noqa: E731
    with LocalSMTPServer(outbox) as server:
        step(f"Local SMTP server listening on {server.host}:{server.port}, saving to {outbox}/")
        summary = run_demo(settings, app.engine, outbox=outbox, members=members, on_step=step, smtp_server=server)
        table = Table("campaign", "kind", "sent", "failed", "suppressed", title="Demo campaigns")
        for c in summary.campaigns:
            table.add_row(c.slug, c.kind, str(c.sent), str(c.failed), str(c.suppressed))
        app.console.print(table)
        click.echo(f"Database:      {summary.database} ({summary.members_added} demo members added)")
        click.echo(f"Messages:      {summary.eml_files} .eml files in {outbox.resolve()}/")
        if summary.sample_member:
            click.echo(f"Gated link of {summary.sample_member} (not yet registered):\n  {summary.sample_link}")
        if not serve:
            return
        from werkzeug.serving import make_server

        from gll_mail.web import create_app

        web = create_app(settings.replace(smtp_url=server.url), app.engine)
        try:
            httpd = make_server(host, port, web, threaded=True)
        except OSError as exc:
            raise click.ClickException(_port_busy(host, port, exc)) from exc
        click.echo(f"Member web site on http://{host}:{port}/ (Ctrl-C to stop)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            click.echo("Stopped.")
        finally:
            httpd.server_close()


def _port_busy(host: str, port: int, exc: OSError) -> str:
    return (
        f"cannot serve the demo on {host}:{port} ({exc.strerror or exc}): choose another port with "
        f"--port (`make demo PORT=5001`), or use --no-serve"
    )


def _check_port(host: str, port: int) -> None:
    """Refuse a busy port before anything is sent, not after."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server will
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(_port_busy(host, port, exc)) from exc


def register(main: click.Group) -> None:
    main.add_command(demo)
