"""`gll-mail campaign schedule|send|status|pause|resume|cancel|retry-failed|list`."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gll_mail.cli.base import AppContext, pass_app
from gll_mail.errors import GllMailError
from gll_mail.models import Campaign, CampaignStatus, utcnow


class SendingError(GllMailError):
    pass


def _campaign(session, slug: str) -> Campaign:
    from gll_mail.campaigns.records import get_campaign

    campaign = get_campaign(session, slug)
    if campaign is None:
        raise SendingError(f"no campaign {slug!r} in the database (see `gll-mail campaign list`)")
    return campaign


def _campaign_id(app: AppContext, slug: str) -> int:
    with app.session() as session:
        return _campaign(session, slug).id


def _when(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-12-01T09:00+01:00", param_hint="--at"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-01T09:00Z or +01:00", param_hint="--at")
    return when.astimezone(UTC)


@click.command("schedule")
@click.argument("source")
@click.option("--at", "at", metavar="ISO8601", help="When to send (default: send_at of the front matter).")
@pass_app
def schedule_command(app: AppContext, source: str, at: str | None) -> None:
    """Run the preflight on SOURCE and schedule it; a running `gll-mail worker` sends it when due."""
    from gll_mail.campaigns.sources import find_source
    from gll_mail.delivery.control import schedule

    when = _when(at) if at else None
    campaign = schedule(app.engine, app.settings, find_source(app.settings, source), when)
    when = campaign.send_at
    late = " (in the past: it goes out as soon as a worker runs)" if when <= utcnow() else ""
    click.echo(f"Scheduled {campaign.slug} for {when.isoformat()}{late}. `gll-mail worker` sends it.")


class _Bar:
    """The rich progress bar of `campaign send`: sent, failed, deferred, remaining, rate and ETA."""

    def __init__(self, console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.fields[sent]} sent · {task.fields[failed]} failed · {task.fields[deferred]} deferred · "
                "{task.fields[remaining]} remaining · {task.fields[rate]}/s · ETA {task.fields[eta]}"
            ),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, snap) -> None:
        eta = "–" if snap.eta is None else f"{int(snap.eta // 60)}:{int(snap.eta % 60):02d}"
        fields = {
            "sent": snap.sent,
            "failed": snap.failed,
            "deferred": snap.deferred,
            "remaining": snap.remaining,
            "rate": f"{snap.rate:.0f}",
            "eta": eta,
        }
        done = snap.sent + snap.failed + snap.suppressed
        if self.task is None:
            self.task = self.progress.add_task("sending", total=max(snap.total, 1), completed=done, **fields)
        else:
            self.progress.update(self.task, total=max(snap.total, 1), completed=done, **fields)


@click.command("send")
@click.argument("source")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
@pass_app
def send_command(app: AppContext, source: str, no_progress: bool) -> None:
    """Send SOURCE (a path or a slug) now, in the foreground, with a progress bar."""
    from gll_mail.campaigns.sources import find_source
    from gll_mail.delivery.control import send_now

    campaign_source = find_source(app.settings, source)
    if no_progress:
        result = send_now(app.engine, app.settings, campaign_source)
    else:
        with _Bar(app.err) as bar:
            result = send_now(app.engine, app.settings, campaign_source, progress=bar)
    click.echo(
        f"{campaign_source.slug}: {result.status}: {result.sent} sent, {result.failed} failed, "
        f"{result.suppressed} suppressed, {result.deferred} deferred, {result.remaining} remaining"
        + (f", {result.possible_duplicates} possible duplicate(s)" if result.possible_duplicates else "")
        + "."
    )
    if result.status == CampaignStatus.PAUSED:
        fix = (
            "Start the SMTP server, or set GLL_MAIL_SMTP_URL to yours"
            if "SMTP server unreachable" in (result.paused_reason or "")
            else "Fix the cause"
        )
        raise SendingError(
            f"{campaign_source.slug} paused itself: {result.paused_reason}. {fix}, then "
            f"`gll-mail campaign resume {campaign_source.slug}`."
        )
    if result.remaining:
        click.echo(
            f"{result.remaining} message(s) wait for a retry: `gll-mail worker` (or `gll-mail campaign send "
            f"{campaign_source.slug}` again) sends them."
        )


@click.command("status")
@click.argument("slug")
@pass_app
def status_command(app: AppContext, slug: str) -> None:
    """Where a campaign stands: status (with the reason of a pause) and its deliveries."""
    from gll_mail.delivery.outbox import summary

    with app.session() as session:
        campaign = _campaign(session, slug)
    figures = summary(app.engine, campaign.id)
    line = f"{campaign.slug}: {campaign.status}"
    if campaign.status == CampaignStatus.PAUSED:
        line += f" ({campaign.paused_reason or 'paused by hand'})"
    click.echo(line)
    for label, value in (
        ("send at", campaign.send_at),
        ("started", campaign.started_at),
        ("finished", campaign.finished_at),
    ):
        if value is not None:
            click.echo(f"  {label}: {value.isoformat()}")
    click.echo(
        f"  recipients: {figures.total}; sent {figures.sent}, failed {figures.failed}, suppressed "
        f"{figures.suppressed}, cancelled {figures.cancelled}, deferred {figures.deferred}, remaining "
        f"{figures.remaining}, possible duplicates {figures.possible_duplicates}"
    )


@click.command("pause")
@click.argument("slug")
@click.option("--reason", default="paused by hand", show_default=True)
@pass_app
def pause_command(app: AppContext, slug: str, reason: str) -> None:
    """Stop sending SLUG; workers finish the messages in flight. `campaign resume` goes on."""
    from gll_mail.campaigns.lifecycle import pause

    pause(app.engine, _campaign_id(app, slug), reason)
    click.echo(f"Paused {slug}.")


@click.command("resume")
@click.argument("slug")
@pass_app
def resume_command(app: AppContext, slug: str) -> None:
    """Go on sending a paused SLUG (a running worker, or `campaign send`, sends the rest)."""
    from gll_mail.delivery.control import resume

    campaign = resume(app.engine, app.settings, _campaign_id(app, slug))
    if campaign.status == CampaignStatus.SCHEDULED:
        click.echo(f"Resumed {slug}: scheduled for {campaign.send_at.isoformat()}.")
        return
    click.echo(f"Resumed {slug}: a running `gll-mail worker` (or `gll-mail campaign send {slug}`) sends the rest.")


@click.command("cancel")
@click.argument("slug")
@pass_app
def cancel_command(app: AppContext, slug: str) -> None:
    """Cancel SLUG: nothing more is sent; what was sent stays recorded."""
    from gll_mail.delivery.control import cancel

    cancel(app.engine, _campaign_id(app, slug), "cancelled by hand")
    click.echo(f"Cancelled {slug}.")


@click.command("retry-failed")
@click.argument("slug")
@pass_app
def retry_failed_command(app: AppContext, slug: str) -> None:
    """Queue SLUG's failed messages again (hard-bounced addresses stay suppressed at send time)."""
    from gll_mail.delivery.control import retry_failed

    count = retry_failed(app.engine, _campaign_id(app, slug))
    click.echo(f"Queued {count} failed message(s) of {slug} again.")


@click.command("list")
@pass_app
def list_command(app: AppContext) -> None:
    """Every campaign in the database with its status and figures."""
    from gll_mail.campaigns.records import list_campaigns
    from gll_mail.delivery.outbox import summary

    with app.session() as session:
        campaigns = list_campaigns(session)
    if not campaigns:
        click.echo("No campaigns yet (`gll-mail campaign schedule SOURCE` or `gll-mail campaign send SOURCE`).")
        return
    table = Table("campaign", "status", "send at", "sent", "failed", "remaining", box=None)
    for campaign in campaigns:
        figures = summary(app.engine, campaign.id)
        status = campaign.status + (f" ({campaign.paused_reason})" if campaign.paused_reason else "")
        table.add_row(
            campaign.slug,
            status,
            campaign.send_at.isoformat() if campaign.send_at else "",
            str(figures.sent),
            str(figures.failed),
            str(figures.remaining),
        )
    app.console.print(table)


def register(campaign_group: click.Group) -> None:
    for command in (
        schedule_command,
        send_command,
        status_command,
        pause_command,
        resume_command,
        cancel_command,
        retry_failed_command,
        list_command,
    ):
        campaign_group.add_command(command)
