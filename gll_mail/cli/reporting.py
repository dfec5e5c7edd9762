"""`gll-mail campaign report SLUG [--format text|json|html]`."""

from __future__ import annotations

import json

import click

from gll_mail.cli.base import AppContext, pass_app


@click.command("report")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
@pass_app
def report(app: AppContext, slug: str, fmt: str, output) -> None:
    """What a campaign achieved: sends, bounces, complaints, human vs bot clicks, conversions."""
    from gll_mail.bounces.report_html import render_html
    from gll_mail.bounces.reports import campaign_report, render_text

    with app.session() as session:
        data = campaign_report(session, slug)
    if fmt == "json":
        output.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "html":
        output.write(render_html(data))
    else:
        output.write(render_text(data) + "\n")


def register(campaign: click.Group) -> None:
    campaign.add_command(report)
