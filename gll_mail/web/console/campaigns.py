"""The campaigns page, a new campaign (incl. the corrigendum of a sent one), and a campaign's page:
its approval, its controls, its test sends and its report inside the console layout."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from flask import flash, g, redirect, request, url_for

from gll_mail.bounces.reports import ReportError, campaign_report
from gll_mail.campaigns import approvals, revisions
from gll_mail.campaigns.audience import cached_audience_counts, original_recipient_count
from gll_mail.campaigns.content_hash import source_files
from gll_mail.campaigns.records import get_campaign, list_campaigns
from gll_mail.campaigns.sources import KINDS, SLUG_RE, SourceError, list_sources, load_source
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.models import CampaignStatus
from gll_mail.team.accounts import campaign_overview
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render
from gll_mail.web.console.charts import bar_chart
from gll_mail.web.console.drafts import compose, parse, send_at_fields, zone_choices
from gll_mail.web.security import check_csrf

bp = blueprint("console_campaigns")
STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
STARTERS = {
    "announcement": "Dear {{ subscriber.name }},\n\nWrite the announcement here.",
    "report-release": "Dear {{ subscriber.name }},\n\nThe report is out: [read it](resource:SLUG).",
    "event": "Dear {{ subscriber.name }},\n\nJoin us on DATE for EVENT.",
    "corrigendum": "Dear {{ subscriber.name }},\n\nOur message of DATE contained an error. The correct text follows.",
}


@dataclass
class ListedCampaign:
    slug: str
    subject: str
    kind: str
    status: str
    languages: list[str]
    audience: int | None
    sent: int
    deliveries: int
    send_at: datetime | None


def _languages(slug: str) -> list[str]:
    try:
        found = source_files(revisions.base_file(context.settings(), slug))
    except GllMailError:
        return []
    return [code for code in LANGUAGES if code in found]


def rows(session) -> list[ListedCampaign]:
    """The campaigns in the database and the drafts only on disk, newest first. Sizes of audiences
    not yet sent to are counted together and cached a minute (``cached_audience_counts``)."""
    settings = context.settings()
    found: list[ListedCampaign] = []
    to_count: dict[int, dict | None] = {}  # row index → audience, counted together at the end
    known = set()
    campaigns = {c.slug: c for c in list_campaigns(session)}
    for r in campaign_overview(session):
        campaign = campaigns[r.slug]
        known.add(r.slug)
        if not r.deliveries:
            to_count[len(found)] = campaign.audience
        found.append(
            ListedCampaign(
                r.slug,
                r.subject,
                r.kind,
                r.status,
                _languages(r.slug),
                r.deliveries or None,
                r.sent,
                r.deliveries,
                campaign.send_at,
            )
        )
    for path in reversed(list_sources(settings)):
        slug = path.name[: -len(".md")]
        if slug in known:
            continue
        try:
            source = load_source(path, strict=False)
        except SourceError:
            found.append(
                ListedCampaign(
                    slug, "(cannot be read: open it to fix)", "", "draft", _languages(slug), None, 0, 0, None
                )
            )
            continue
        to_count[len(found)] = source.audience
        found.append(
            ListedCampaign(
                slug,
                source.subject,
                source.kind,
                "draft",
                source.languages,
                None,
                0,
                0,
                source.send_at,
            )
        )
    for index, count in zip(to_count, cached_audience_counts(session, list(to_count.values())), strict=True):
        found[index].audience = count
    return found


@bp.get("/")
@bp.get("/campaigns")
@allowed("campaign.view")
def index():
    status = request.args.get("status", "")
    with context.session() as s:
        found = rows(s)
    shown = [r for r in found if not status or r.status == status]
    counts = {name: sum(1 for r in found if r.status == name) for name in STATUSES}
    return render("campaigns.html", rows=shown, status=status, statuses=STATUSES, counts=counts, total=len(found))


@bp.route("/campaigns/new", methods=["GET", "POST"])
@allowed("campaign.create")
def new():
    settings = context.settings()
    kind = request.values.get("kind") if request.values.get("kind") in KINDS else "announcement"
    corrects = request.values.get("corrects", "")
    slug = request.values.get("slug", "").strip()
    subject = request.values.get("subject", "").strip()
    error = ""
    with context.session() as s:
        sent = [r for r in campaign_overview(s) if r.status in (CampaignStatus.SENT, CampaignStatus.SENDING)]
        original = original_recipient_count(s, corrects) if corrects else None
        if request.method == "POST":
            check_csrf()
            try:
                text = _first_file(settings, kind, subject, corrects)
                if not SLUG_RE.match(slug):
                    raise GllMailError(
                        "the short name must be lowercase letters, digits and dashes (e.g. 2026-12-news)"
                    )
                revisions.save_source(settings, s, g.user, slug, {DEFAULT_LANGUAGE: text}, None)
            except GllMailError as exc:
                error = message_of(exc)
            else:
                flash("Campaign created. Write it, then ask for approval.", "notice")
                return redirect(url_for("console_editor.edit", slug=slug))
    return render(
        "new.html",
        400 if error else 200,
        kinds=KINDS,
        kind=kind,
        slug=slug,
        subject=subject,
        corrects=corrects,
        sent=sent,
        original=original,
        error=error,
    )


def _first_file(settings, kind: str, subject: str, corrects: str) -> str:
    meta: dict = {"kind": kind, "subject": subject or "Subject"}
    body = STARTERS[kind]
    if kind == "corrigendum":
        if not corrects:
            raise GllMailError("choose the sent campaign this corrigendum corrects")
        meta["corrects"] = corrects
        original = revisions.load_files(settings, corrects).files.get(DEFAULT_LANGUAGE)
        if original:
            old = parse(DEFAULT_LANGUAGE, original)
            meta["subject"] = subject or f"Correction: {old.subject}"
            body = old.body  # start from the original text: the diff shows what the correction changes
    else:
        meta["audience"] = {"all": True}
    return compose(meta, body)


def _corrigendum_diff(settings, source) -> str:
    if not source or not source.corrects:
        return ""
    original = revisions.load_files(settings, source.corrects).files.get(DEFAULT_LANGUAGE, "")
    mine = revisions.load_files(settings, source.slug).files.get(DEFAULT_LANGUAGE, "")
    return "".join(
        difflib.unified_diff(
            parse("en", original).body.splitlines(keepends=True),
            parse("en", mine).body.splitlines(keepends=True),
            fromfile=f"{source.corrects} (sent)",
            tofile=f"{source.slug} (this corrigendum)",
        )
    )


@bp.get("/campaigns/<slug>")
@allowed("campaign.view")
def detail(slug: str):
    settings = context.settings()
    source, source_error = None, ""
    try:
        on_disk = revisions.base_file(settings, slug).is_file()
    except GllMailError:
        return render("error.html", 404, title="Not found", message="There is no such campaign.")
    try:
        source = load_source(revisions.base_file(settings, slug), strict=False) if on_disk else None
    except SourceError as exc:
        source_error = str(exc)
    with context.session() as s:
        campaign = get_campaign(s, slug)
        if campaign is None and source is None and not source_error:
            return render("error.html", 404, title="Not found", message=f"There is no campaign {slug}.")
        state = None
        if on_disk:
            state = approvals.state(settings, s, slug)
        report = None
        try:
            report = campaign_report(s, slug) if campaign is not None else None
        except ReportError:
            report = None
        original = original_recipient_count(s, source.corrects) if source and source.corrects else None
    charts = []
    if report and report["audience"]:
        charts = [
            bar_chart(
                "Messages sent per hour", report["series"]["sends"], x_label="Hour (UTC)", y_label="Messages sent"
            ),
            bar_chart(
                "Human clicks per hour", report["series"]["clicks"], x_label="Hour (UTC)", y_label="Human clicks"
            ),
            bar_chart("From delivered to action", report["funnel"], x_label="Step", y_label="Members"),
        ]
    if campaign and campaign.send_at:
        local, zone = send_at_fields(campaign.send_at)
    elif source and source.send_at:  # as the file says it, in its named zone
        raw = parse(DEFAULT_LANGUAGE, revisions.base_file(settings, slug).read_text(encoding="utf-8"))
        local, zone = send_at_fields(raw.meta.get("send_at") or source.send_at)
    else:
        local, zone = "", "UTC"
    return render(
        "campaign.html",
        slug=slug,
        source=source,
        source_error=source_error,
        campaign=campaign,
        state=state,
        report=report,
        charts=charts,
        original=original,
        corrigendum_diff=_corrigendum_diff(settings, source),
        send_at=local,
        timezone=zone,
        timezones=zone_choices(zone),
        languages=LANGUAGES,
    )
