"""`gll-mail campaign check|preview|test|audience|translations`: the authoring loop, before anything is sent."""

from __future__ import annotations

import tempfile
import webbrowser
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from gll_mail.cli.base import AppContext, from_smtp, pass_app, smtp_problem
from gll_mail.errors import GllMailError
from gll_mail.languages import LANGUAGES


class AuthoringError(GllMailError):
    pass


def _print_report(app: AppContext, report) -> None:
    for label, problems in (("[bold red]error[/]", report.errors), ("[yellow]warning[/]", report.warnings)):
        for problem in problems:
            app.console.print(f"{label} {escape(str(problem))}", markup=True, soft_wrap=True)
            if problem.detail:
                app.console.print(problem.detail.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def _source(app: AppContext, source: str):
    from gll_mail.campaigns.sources import find_source

    return find_source(app.settings, source, strict=False)  # the preflight reports a mismatched slug


@click.command("check")
@click.argument("source")
@click.option("--check-urls", is_flag=True, help="Also ask every https:// link and resource URL to answer 2xx/3xx.")
@pass_app
def check_command(app: AppContext, source: str, check_urls: bool) -> None:
    """Run the preflight on SOURCE (a path or a slug in campaigns/): exit 1 when it may not be sent."""
    from gll_mail.campaigns.preflight import check

    campaign_source = _source(app, source)
    with app.session() as session:
        report = check(app.settings, session, campaign_source, check_urls=check_urls)
    _print_report(app, report)
    languages = ", ".join(campaign_source.languages)
    if report.ok:
        click.echo(
            f"{campaign_source.slug}: ready to send ({languages}; {report.audience} recipient(s); {report.summary()})."
        )
        return
    click.echo(f"{campaign_source.slug}: NOT ready to send: {report.summary()}.", err=True)
    raise SystemExit(1)


def _recipient(session, email: str | None, language: str | None):
    from gll_mail.campaigns.render import recipient_for, sample_recipient
    from gll_mail.subscribers import get_by_email

    if email:
        return recipient_for(session, get_by_email(session, email))
    return sample_recipient(language or "en")


@click.command("preview")
@click.argument("source")
@click.option(
    "--lang",
    "language",
    type=click.Choice(list(LANGUAGES)),
    help="Language variant (default: the recipient's, else English).",
)
@click.option("--as", "as_email", metavar="EMAIL", help="Render exactly as this subscriber receives it.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--text", "text", is_flag=True, help="The plain-text part instead of the HTML.")
@click.option("--open", "open_browser", is_flag=True, help="Open the HTML in the web browser.")
@pass_app
def preview_command(
    app: AppContext,
    source: str,
    language: str | None,
    as_email: str | None,
    out: Path | None,
    text: bool,
    open_browser: bool,
) -> None:
    """Render SOURCE as a recipient gets it (HTML, or --text)."""
    from gll_mail.campaigns.records import get_campaign
    from gll_mail.campaigns.render import CampaignRenderer

    campaign_source = _source(app, source)
    with app.session() as session:
        recipient = _recipient(session, as_email, language)
        renderer = CampaignRenderer(app.settings, session, campaign_source, get_campaign(session, campaign_source.slug))
        message = renderer.render(recipient, language=language)
    content = message.text if text else message.html
    if open_browser and out is None:
        out = Path(tempfile.mkdtemp(prefix="gll-mail-preview-")) / f"{campaign_source.slug}.{message.language}.html"
    if out is not None:
        out.write_text(content, encoding="utf-8")
        click.echo(
            f"Subject: {message.subject}\nWrote the {message.language} {'text' if text else 'HTML'} part to {out}",
            err=True,
        )
        if open_browser:
            webbrowser.open(out.resolve().as_uri())
    else:
        click.echo(f"Subject: {message.subject}", err=True)
        click.echo(content)


@click.command("test")
@click.argument("source")
@click.option("--to", "to", multiple=True, required=True, metavar="EMAIL", help="Send a test to EMAIL (repeatable).")
@click.option(
    "--lang",
    "language",
    type=click.Choice(list(LANGUAGES)),
    help="Language variant (default: each address's subscriber language, else English).",
)
@click.option("--force", is_flag=True, help="Send even when the preflight finds errors.")
@pass_app
def test_command(app: AppContext, source: str, to: tuple[str, ...], language: str | None, force: bool) -> None:
    """Send real test messages of SOURCE, marked [Test], to the given addresses.

    Each is the message a recipient gets: every campaign header, the one-click unsubscribe and,
    when GLL_MAIL_DKIM_* is set, the DKIM signature. A subscriber's address gets their language,
    name and links.
    """
    from gll_mail.campaigns.preflight import check
    from gll_mail.campaigns.proofs import build_proofs, send_proof

    campaign_source = _source(app, source)
    with app.session() as session:
        report = check(app.settings, session, campaign_source)
        _print_report(app, report)
        if not report.ok and not force:
            click.echo(
                f"Not sending tests: the preflight found {report.summary()} (use --force to send anyway).", err=True
            )
            raise SystemExit(1)
        proofs = build_proofs(app.settings, session, campaign_source, list(to), language=language)
    for proof in proofs:
        try:
            send_proof(app.settings, proof)
        except Exception as exc:
            reason = smtp_problem(app.settings.smtp_url, exc) if from_smtp(exc) else str(exc)
            raise AuthoringError(f"sending the test to {proof.to} failed: {reason}") from exc
        click.echo(f"Sent test “{proof.subject}” to {proof.to}.")


@click.command("audience")
@click.argument("source")
@pass_app
def audience_command(app: AppContext, source: str) -> None:
    """How many subscribers SOURCE would go to, by language and learning pod."""
    from gll_mail.campaigns.audience import (
        audience_breakdown,
        original_recipient_count,
        unreachable_recipients,
    )

    campaign_source = _source(app, source)
    with app.session() as session:
        breakdown = audience_breakdown(session, campaign_source.audience)
        unreachable = None
        if campaign_source.corrects:
            sent = original_recipient_count(session, campaign_source.corrects)
            unreachable = (sent, *unreachable_recipients(session, campaign_source.corrects, limit=20))
    spec = "; ".join(
        f"{k}: {', '.join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v}"
        for k, v in campaign_source.audience.items()
    )
    click.echo(
        f"{campaign_source.slug}: {breakdown.total} recipient(s) ({spec}); "
        f"{breakdown.registered} registered GLL member(s)."
    )
    table = Table("language", "recipients", box=None, title="By language")
    for code, count in breakdown.by_language.items():
        table.add_row(f"{code} ({LANGUAGES.get(code, {}).get('english', '?')})", str(count))
    app.console.print(table)
    table = Table("learning pod", "recipients", box=None, title="By learning pod")
    for slug, count in breakdown.by_pod.items():
        table.add_row(slug or "(no pod)", str(count))
    app.console.print(table)
    if unreachable is not None:
        sent, count, rows = unreachable
        click.echo(
            f"The original {campaign_source.corrects} was sent to {sent}; {count} of them can no longer be reached:"
        )
        for row in rows:
            click.echo(f"  {row.email} ({row.reason})")
        if count > len(rows):
            click.echo(f"  … and {count - len(rows)} more")


@click.command("translations")
@click.argument("source")
@click.option(
    "--mark",
    "mark_language",
    type=click.Choice([c for c in LANGUAGES if c != "en"]),
    metavar="LANG",
    help="Record that the LANG translation translates the English text as it is now.",
)
@click.option("--as", "as_user", metavar="USER", help="The team account marking (an editor or above; with --mark).")
@pass_app
def translations_command(app: AppContext, source: str, mark_language: str | None, as_user: str | None) -> None:
    """Each language of SOURCE: up to date, stale (the English lines changed since), missing or
    unmarked, with the recipients it affects; or --mark LANG as translating the English text now."""
    from gll_mail.campaigns import translations
    from gll_mail.campaigns.audience import audience_breakdown
    from gll_mail.team.accounts import get_admin

    campaign_source = _source(app, source)
    slug = campaign_source.slug
    if mark_language:
        if not as_user:
            raise AuthoringError("--mark needs --as USER: the team account marking the translation")
        with app.session() as session:
            marked = translations.mark(app.settings, session, get_admin(session, as_user), slug, mark_language)
            revision = marked.revision.id
        if marked.changed:
            click.echo(f"{slug}: {mark_language} translates English text {marked.digest} (revision {revision}).")
        else:
            click.echo(f"{slug}: {mark_language} was marked as translating English text {marked.digest} already.")
        return
    with app.session() as session:
        counts = audience_breakdown(session, campaign_source.audience).by_language
        found = translations.statuses(session, campaign_source, counts)
    english = LANGUAGES["en"]["english"]
    click.echo(f"{slug}: en ({english}) is the source: {counts.get('en', 0)} recipient(s)")
    for status in found:
        name = LANGUAGES[status.language]["english"]
        click.echo(f"  {status.language} ({name}): {status.describe()}; {status.recipients} recipient(s)")
    for status in found:
        if status.diff:
            click.echo(f"\n{status.language}: what changed in the English text since it was translated")
            click.echo(status.diff.rstrip("\n"))


def register(campaign_group: click.Group) -> None:
    for command in (check_command, preview_command, test_command, audience_command, translations_command):
        campaign_group.add_command(command)
