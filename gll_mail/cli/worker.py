"""`gll-mail worker`: the long-running sender."""

from __future__ import annotations

import click

from gll_mail.cli.base import AppContext, pass_app


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 500),
    default=None,
    help="SMTP connections of this worker (default GLL_MAIL_SMTP_CONNECTIONS).",
)
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the outbox when it is empty.",
)
@pass_app
def worker_command(app: AppContext, concurrency: int | None, poll: float) -> None:
    """Send scheduled and running campaigns until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    from gll_mail.cli.ops import service_logging
    from gll_mail.delivery.worker import run_worker
    from gll_mail.ops import heartbeat

    service_logging(app)
    app.require_smtp()
    if app.settings.worker_metrics_port:
        from gll_mail.ops.metrics import serve_worker_metrics

        serve_worker_metrics(app.engine, app.settings.worker_metrics_port)
        click.echo(f"metrics on http://127.0.0.1:{app.settings.worker_metrics_port}/metrics", err=True)
    where = app.engine.url.render_as_string(hide_password=True)

    def ready(drainer) -> None:
        from gll_mail.smtp.dkim_setup import dns_name

        signer = drainer.signer
        signing = f"DKIM {signer.algorithm.decode()} as {dns_name(signer)}" if signer is not None else "no DKIM"
        click.echo(
            f"worker {drainer.owner} ready: {drainer.connections} SMTP connection(s), {signing}, database {where}",
            err=True,
        )

    started = heartbeat.utcnow()

    def beat(drainer) -> None:
        heartbeat.beat(app.engine, drainer.owner, sent=drainer.sent_here, started_at=started)

    drainer = run_worker(
        app.engine, app.settings, concurrency=concurrency, poll=poll, on_ready=ready, every=(beat, heartbeat.PERIOD)
    )
    heartbeat.gone(app.engine, drainer.owner)
    click.echo(f"worker {drainer.owner} stopped after sending {drainer.sent_here} message(s).", err=True)


def register(main: click.Group) -> None:
    main.add_command(worker_command)
