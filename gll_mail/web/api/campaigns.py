"""``/api/v1/campaigns``: list, read, create and update the draft's files per language, preflight,
preview, approval (request, approve, reject), schedule, pause, resume, cancel, status and report,
through ``campaigns.revisions``, ``campaigns.approvals``, ``delivery.control`` and ``campaigns.lifecycle``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from flask import g, request
from spectree import Response as Spec

from gll_mail.bounces.reports import campaign_report
from gll_mail.campaigns import approvals, lifecycle, revisions
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.records import get_campaign
from gll_mail.campaigns.render import CampaignRenderer, sample_recipient
from gll_mail.campaigns.sources import list_sources, load_source
from gll_mail.delivery import control
from gll_mail.delivery.outbox import summary
from gll_mail.errors import GllMailError
from gll_mail.team import api_tokens, audit
from gll_mail.team.accounts import campaign_overview
from gll_mail.web import context
from gll_mail.web.api import schemas as s
from gll_mail.web.api.core import ApiProblem, actor, bp, json_response, needs, spec

TAG = "campaigns"
ERRORS = {"HTTP_401": s.ProblemBody, "HTTP_403": s.ProblemBody, "HTTP_404": s.ProblemBody}
WRITE_ERRORS = ERRORS | {"HTTP_409": s.ProblemBody, "HTTP_412": s.ProblemBody, "HTTP_428": s.ProblemBody}
WRITE_ERRORS |= {"HTTP_422": s.ProblemBody}


def _source(slug: str):
    return load_source(revisions.base_file(context.settings(), slug), strict=False)


def _campaign_id(slug: str) -> int:
    with context.session() as session:
        campaign = get_campaign(session, slug)
    if campaign is None:
        raise lifecycle.LifecycleError(f"{slug} has not been scheduled or sent yet: there is nothing to control")
    return campaign.id


def _read(slug: str, status: int = 200):
    settings = context.settings()
    loaded = revisions.load_files(settings, slug)
    if not loaded.files:
        raise ApiProblem(404, "not-found", f"no campaign {slug!r}")
    with context.session() as session:
        campaign = get_campaign(session, slug)
        try:
            state = approvals.state(settings, session, slug)
            approval = {"summary": state.summary(), "approved": state.approved, "content_hash": state.content_hash}
        except GllMailError as exc:
            approval = {"summary": str(exc), "approved": False, "content_hash": ""}
    data = {
        "slug": slug,
        "status": campaign.status if campaign else "draft",
        "files": loaded.files,
        "files_hash": loaded.files_hash,
        "approval": approval,
        "send_at": campaign.send_at.isoformat() if campaign and campaign.send_at else None,
    }
    response = json_response(data, status)
    response.headers["ETag"] = f'"{loaded.files_hash}"'
    return response


def _audit(action: str, slug: str, **details) -> None:
    with context.session() as session:
        audit.record(session, actor(), action, object_type="campaign", object_id=slug, details=details)


@bp.get("/campaigns")
@needs("campaign.view")
@spec.validate(resp=Spec(HTTP_200=s.CampaignList, **ERRORS), tags=[TAG])
def list_campaigns():
    """Every campaign: those sent or scheduled (with delivery counts), then drafts only on disk."""
    with context.session() as session:
        rows = [
            {"slug": r.slug, "status": r.status, "subject": r.subject, "kind": r.kind, "sent": r.sent}
            for r in campaign_overview(session)
        ]
    known = {r["slug"] for r in rows}
    for path in reversed(list_sources(context.settings())):
        slug = path.name[: -len(".md")]
        if slug not in known:
            rows.append({"slug": slug, "status": "draft", "subject": "", "kind": "", "sent": 0})
    return json_response({"items": rows})


@bp.post("/campaigns")
@needs("campaign.create")
@spec.validate(json=s.CampaignCreate, resp=Spec(HTTP_201=s.CampaignOut, **WRITE_ERRORS), tags=[TAG])
def create_campaign():
    """A new draft from its files (``en`` is required: front matter and Markdown body)."""
    body: s.CampaignCreate = request.context.json
    with context.session() as session:
        revisions.save_source(context.settings(), session, actor(), body.slug, dict(body.files), None)
    response = _read(body.slug, 201)
    response.headers["Location"] = f"/api/v1/campaigns/{body.slug}"
    return response


@bp.get("/campaigns/<slug>")
@needs("campaign.view")
@spec.validate(resp=Spec(HTTP_200=s.CampaignOut, **ERRORS), tags=[TAG])
def get_campaign_(slug: str):
    """The campaign's files per language, its status and approval; the ETag is the files' hash."""
    return _read(slug)


@bp.patch("/campaigns/<slug>/sources")
@needs("campaign.edit")
@spec.validate(json=s.SourcesUpdate, resp=Spec(HTTP_200=s.CampaignOut, **WRITE_ERRORS), tags=[TAG])
def update_sources(slug: str):
    """Save files per language (null removes a translation). Needs ``If-Match``: the ETag you read;
    412 when the files changed meanwhile (on disk or through another client)."""
    body: s.SourcesUpdate = request.context.json
    given = (request.headers.get("If-Match") or "").strip()
    if not given:
        raise ApiProblem(428, "precondition-required", "send If-Match with the ETag of the campaign you read")
    expected = given.strip('"')
    if not revisions.load_files(context.settings(), slug).files:
        raise ApiProblem(404, "not-found", f"no campaign {slug!r}")
    try:
        with context.session() as session:
            revisions.save_source(context.settings(), session, actor(), slug, dict(body.files), expected)
    except revisions.ConflictError as exc:
        raise ApiProblem(412, "precondition-failed", str(exc)) from None
    return _read(slug)


@bp.post("/campaigns/<slug>/preflight")
@needs("campaign.preview")
@spec.validate(resp=Spec(HTTP_200=s.Preflight, **ERRORS), tags=[TAG])
def preflight(slug: str):
    """Every problem that would stop the send, with file and line; and the audience size."""
    with context.session() as session:
        report = check(context.settings(), session, _source(slug))
    problems = [
        {"severity": p.severity, "file": p.file.name if p.file else None, "line": p.line, "message": p.message}
        for p in (*report.errors, *report.warnings)
    ]
    return json_response(
        {"ok": report.ok, "summary": report.summary(), "audience": report.audience, "problems": problems}
    )


@bp.get("/campaigns/<slug>/preview")
@needs("campaign.preview")
@spec.validate(query=s.PreviewQuery, resp=Spec(HTTP_200=s.Preview, **WRITE_ERRORS), tags=[TAG])
def preview(slug: str):
    """The email for a sample member in one language: subject, HTML and plain text."""
    language = request.context.query.language
    with context.session() as session:
        source = _source(slug)
        renderer = CampaignRenderer(context.settings(), session, source, get_campaign(session, slug))
        message = renderer.render(sample_recipient(language or "en"), language=language)
    return json_response(
        {"language": message.language, "subject": message.subject, "html": message.html, "text": message.text}
    )


def _decide(slug: str, decision: str):
    body: s.Note = request.context.json
    settings, user = context.settings(), actor()
    with context.session() as session:
        if decision == "request":
            row = approvals.request(settings, session, user, slug, body.note)
        else:
            api_tokens.require_may_approve(g.api_token)
            decide = approvals.approve if decision == "approve" else approvals.reject
            row = decide(settings, session, user, slug, body.note, expected_hash=body.hash)
        data = {"decision": row.decision, "content_hash": row.content_hash, "by": row.username}
    return json_response(data)


@bp.post("/campaigns/<slug>/approval-request")
@needs("campaign.request-approval")
@spec.validate(json=s.Note, resp=Spec(HTTP_200=s.ApprovalOut, **WRITE_ERRORS), tags=[TAG])
def request_approval(slug: str):
    """Ask for approval of the current content; the requester counts as one of its authors."""
    return _decide(slug, "request")


@bp.post("/campaigns/<slug>/approve")
@needs("campaign.approve")
@spec.validate(json=s.Note, resp=Spec(HTTP_200=s.ApprovalOut, **WRITE_ERRORS), tags=[TAG])
def approve(slug: str):
    """Approve the current content (four eyes: not by one of its authors; never by a service token)."""
    return _decide(slug, "approve")


@bp.post("/campaigns/<slug>/reject")
@needs("campaign.reject")
@spec.validate(json=s.Note, resp=Spec(HTTP_200=s.ApprovalOut, **WRITE_ERRORS), tags=[TAG])
def reject(slug: str):
    """Reject the current content with a note (same rules as approving)."""
    return _decide(slug, "reject")


@bp.post("/campaigns/<slug>/schedule")
@needs("campaign.schedule")
@spec.validate(json=s.ScheduleBody, resp=Spec(HTTP_200=s.Status, **WRITE_ERRORS), tags=[TAG])
def schedule(slug: str):
    """Schedule the approved campaign (``send_at`` ISO 8601, or the front matter's time)."""
    body: s.ScheduleBody = request.context.json
    when = None
    if body.send_at:
        try:
            when = datetime.fromisoformat(body.send_at)
        except ValueError:
            raise ApiProblem(422, "validation", "send_at must be an ISO 8601 date-time") from None
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    campaign = control.schedule(context.engine(), context.settings(), _source(slug), when)
    _audit("campaign.schedule", slug, send_at=campaign.send_at.isoformat() if campaign.send_at else None)
    return json_response({"status": campaign.status, "send_at": campaign.send_at})


def _control(slug: str, action: str):
    engine, name = context.engine(), actor().username
    campaign_id = _campaign_id(slug)
    if action == "pause":
        lifecycle.pause(engine, campaign_id, f"paused by {name}")
    elif action == "resume":
        control.resume(engine, context.settings(), campaign_id)
    else:
        control.cancel(engine, campaign_id, f"cancelled by {name}")
    _audit(f"campaign.{action}", slug)
    return json_response({"status": lifecycle.current(engine, campaign_id)[0]})


@bp.post("/campaigns/<slug>/pause")
@needs("campaign.pause")
@spec.validate(resp=Spec(HTTP_200=s.Status, **WRITE_ERRORS), tags=[TAG])
def pause(slug: str):
    """Pause sending: messages in flight finish, nothing more goes out until resumed."""
    return _control(slug, "pause")


@bp.post("/campaigns/<slug>/resume")
@needs("campaign.resume")
@spec.validate(resp=Spec(HTTP_200=s.Status, **WRITE_ERRORS), tags=[TAG])
def resume(slug: str):
    """Resume a paused campaign."""
    return _control(slug, "resume")


@bp.post("/campaigns/<slug>/cancel")
@needs("campaign.cancel")
@spec.validate(resp=Spec(HTTP_200=s.Status, **WRITE_ERRORS), tags=[TAG])
def cancel(slug: str):
    """Cancel: nothing more is sent; what was sent stays recorded. Cannot be undone."""
    return _control(slug, "cancel")


@bp.get("/campaigns/<slug>/status")
@needs("campaign.view")
@spec.validate(resp=Spec(HTTP_200=s.Status, **ERRORS), tags=[TAG])
def status(slug: str):
    """Where sending stands: deliveries by outcome, status, the reason of a pause."""
    with context.session() as session:
        campaign = get_campaign(session, slug)
    if campaign is None:
        if not revisions.load_files(context.settings(), slug).files:
            raise ApiProblem(404, "not-found", f"no campaign {slug!r}")
        return json_response({"status": "draft"})
    return json_response(asdict(summary(context.engine(), campaign.id)))


@bp.get("/campaigns/<slug>/report")
@needs("report.view")
@spec.validate(resp=Spec(HTTP_200=s.Report, **ERRORS), tags=[TAG])
def report(slug: str):
    """The campaign's report: sends, bounces, complaints, unsubscribes, human and bot clicks."""
    with context.session() as session:
        if get_campaign(session, slug) is None:
            raise ApiProblem(404, "not-found", f"no campaign {slug!r} has been sent")
        return json_response(campaign_report(session, slug))
