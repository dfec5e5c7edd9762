"""`gll-mail serve`: the member web site under gunicorn (Flask's development server only with --dev)."""

from __future__ import annotations

import multiprocessing

import click

from gll_mail.cli.base import AppContext, pass_app


def _gunicorn_app(options: dict):
    from gunicorn.app.base import BaseApplication

    class GllMailWeb(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from gll_mail.web import create_app

            return create_app()  # each worker builds its own app, engine and connection pool

    return GllMailWeb()


def _flush_clicks(server, worker) -> None:
    """gunicorn's worker_exit hook: write the worker's queued click events before it goes."""
    app = getattr(worker, "wsgi", None)
    writer = getattr(app, "extensions", {}).get("gll_mail_clicks")
    if writer is not None:
        writer.close()


def _metrics_dir() -> None:
    """Under gunicorn the request metrics of every worker process go to files in
    PROMETHEUS_MULTIPROC_DIR (set before prometheus_client is imported), so /metrics sums them."""
    import os
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="gll-mail-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    from gll_mail.ops.metrics import clear_multiprocess_dir

    clear_multiprocess_dir(path)


def _worker_gone(server, worker) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges leave the metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def register(main: click.Group) -> None:
    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
    @click.option(
        "--workers", type=click.IntRange(1, 256), default=None, help="Worker processes (default: 2 × CPU cores + 1)."
    )
    @click.option(
        "--threads",
        type=click.IntRange(1, 64),
        default=1,
        show_default=True,
        help="Threads per worker (more than 1 uses gunicorn's gthread workers).",
    )
    @click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn (never in production).")
    @pass_app
    def serve(app: AppContext, host: str, port: int, workers: int | None, threads: int, dev: bool) -> None:
        """Serve the member web site: gated links, registration, manage and unsubscribe pages.

        Put it behind a TLS-terminating reverse proxy at GLL_MAIL_BASE_URL (and set
        GLL_MAIL_WEB_PROXIES to the number of proxies in front).
        """
        from gll_mail.cli.ops import service_logging

        settings = app.settings
        service_logging(app)
        if dev:
            if not settings.is_development:
                raise click.ClickException("--dev is for development only; GLL_MAIL_ENV is production")
            from gll_mail.web import create_app

            create_app(settings, app.engine).run(host=host, port=port, debug=False, use_reloader=False)
            return
        workers = workers or multiprocessing.cpu_count() * 2 + 1
        _metrics_dir()
        click.echo(
            f"gll-mail serving {settings.base_url} on http://{host}:{port} with {workers} gunicorn worker(s)", err=True
        )
        _gunicorn_app(
            {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "timeout": 60,
                "graceful_timeout": 10,
                "errorlog": "-",
                "accesslog": None,  # member URLs carry tokens: no access log by default
                "proc_name": "gll-mail-web",
                "limit_request_line": 4094,
                "limit_request_fields": 60,
                "worker_exit": _flush_clicks,
                "child_exit": _worker_gone,
                "control_socket_disable": True,  # one shared ~/.gunicorn socket would clash between servers
            }
        ).run()
