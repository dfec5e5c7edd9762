"""`gll-mail bounces …`: receive bounces over SMTP, scan mailboxes, retry failed ones."""

from __future__ import annotations

import time

import click

from gll_mail.cli.base import AppContext, pass_app


@click.group()
def bounces() -> None:
    """Take in bounces and complaints (SMTP server, Maildir, mbox, IMAP)."""


@bounces.command("receive")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=int)
@pass_app
def receive(app: AppContext, host: str, port: int) -> None:
    """Run the inbound SMTP server for the bounce domain's MX (Ctrl-C stops it)."""
    from gll_mail.bounces.intake import make_controller
    from gll_mail.cli.ops import service_logging

    service_logging(app)
    controller = make_controller(app.engine, app.settings, host, port)
    controller.start()
    click.echo(f"Receiving bounces for @{app.settings.bounce_domain} on {host}:{port}", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@bounces.command("scan")
@click.argument("source")
@pass_app
def scan(app: AppContext, source: str) -> None:
    """Process a Maildir folder, an mbox file or imap(s)://user:pass@host/FOLDER (safe to re-run)."""
    from gll_mail.bounces.mailboxes import scan as do_scan

    r = do_scan(app.engine, app.settings, source)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.kinds.items())) or "none"
    click.echo(f"{r.seen} messages: {r.stored} new, {r.skipped} already processed, {r.failed} failed; {kinds}")


@bounces.command("retry")
@pass_app
def retry(app: AppContext) -> None:
    """Process every stored message that is not processed yet: failed ones, and new ones a crash left."""
    from gll_mail.bounces.intake import retry as do_retry

    ok, failed = do_retry(app.engine, app.settings)
    click.echo(f"{ok} processed, {failed} still failing")


def register(main: click.Group) -> None:
    main.add_command(bounces)
