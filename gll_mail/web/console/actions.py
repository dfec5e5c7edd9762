"""What the console does to a campaign: approval, test sends, schedule, pause, resume, cancel, retry
failed, and the progress view. Each is one POST (CSRF) through the domain: ``campaigns.approvals``,
``campaigns.proofs``, ``delivery.control`` and ``campaigns.lifecycle`` (no SQL here). Every action
goes to the audit log; refusals (a role, a missing approval, a preflight error) come back as the
campaign page with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, g, jsonify, redirect, request, url_for

from gll_mail.campaigns import approvals, lifecycle
from gll_mail.campaigns.content_hash import content_hash
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.proofs import build_proofs, send_proof
from gll_mail.campaigns.records import get_campaign
from gll_mail.campaigns.revisions import base_file
from gll_mail.campaigns.sources import load_source
from gll_mail.delivery import control
from gll_mail.delivery.outbox import Snapshot, summary
from gll_mail.errors import GllMailError
from gll_mail.models import utcnow
from gll_mail.team import audit
from gll_mail.team.roles import require
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render, with_scripts
from gll_mail.web.console.drafts import parse_send_at, send_at_value
from gll_mail.web.security import check_csrf

bp = blueprint("console_actions")
MAX_TEST_ADDRESSES = 10


def _back(slug: str):
    return redirect(url_for("console_campaigns.detail", slug=slug))


def _source(slug: str):
    return load_source(base_file(context.settings(), slug), strict=False)


def _campaign_id(slug: str) -> int:
    with context.session() as s:
        campaign = get_campaign(s, slug)
    if campaign is None:
        raise GllMailError(f"{slug} has not been scheduled or sent yet: there is nothing to control")
    return campaign.id


def _audit(action: str, slug: str, **details) -> None:
    with context.session() as s:
        try:
            after = content_hash(context.settings(), s, _source(slug))
        except GllMailError:
            after = ""
        audit.record(s, g.user, action, object_type="campaign", object_id=slug, hash_after=after, details=details)


@bp.post("/campaigns/<slug>/approval")
@allowed("campaign.view")
def approval(slug: str):
    """``decision`` = request, approve or reject (with ``note``; ``hash`` is what the approver reviewed)."""
    check_csrf()
    decision, note = request.form.get("decision", ""), request.form.get("note", "").strip()[:1000]
    settings = context.settings()
    try:
        with context.session() as s:
            if decision == "request":
                approvals.request(settings, s, g.user, slug, note)
                done = "Approval requested: an approver who did not write it can now sign it off."
            elif decision == "approve":
                approvals.approve(settings, s, g.user, slug, note, expected_hash=request.form.get("hash") or None)
                done = "Approved. The approval holds for exactly this content."
            elif decision == "reject":
                approvals.reject(settings, s, g.user, slug, note, expected_hash=request.form.get("hash") or None)
                done = "Rejected, with your note for the editor."
            else:
                raise GllMailError("choose request, approve or reject")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    else:
        flash(done, "notice")
    return _back(slug)


@bp.post("/campaigns/<slug>/test")
@allowed("campaign.test-send")
def test_send(slug: str):
    """Real test messages, marked [Test], to the listed addresses (and the signed-in user's own)."""
    check_csrf()
    settings = context.settings()
    addresses = [a.strip() for a in request.form.get("to", "").replace(",", "\n").splitlines() if a.strip()]
    if request.form.get("me") and getattr(g.user, "email", None):
        addresses.insert(0, g.user.email)
    if not addresses:
        flash("Give at least one address for the test.", "error")
        return _back(slug)
    if len(addresses) > MAX_TEST_ADDRESSES:
        flash(f"At most {MAX_TEST_ADDRESSES} addresses per test.", "error")
        return _back(slug)
    language = request.form.get("lang") or None
    try:
        source = _source(slug)
        with context.session() as s:
            report = check(settings, s, source)
            if not report.ok:
                raise GllMailError(f"the preflight finds {report.summary()}: fix them in the editor first")
            proofs = build_proofs(settings, s, source, addresses, language=language)
        for proof in proofs:
            send_proof(settings, proof)
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return _back(slug)
    except OSError as exc:
        flash(f"The SMTP server did not take the test: {exc}", "error")
        return _back(slug)
    _audit("campaign.test-send", slug, to=addresses)
    flash(f"Sent the test to {', '.join(addresses)}.", "notice")
    return _back(slug)


def _when() -> datetime | None:
    value = send_at_value(request.form.get("send_at", ""), request.form.get("timezone", "UTC"))
    return parse_send_at(value).astimezone(UTC) if value else None


@bp.post("/campaigns/<slug>/control")
@allowed("campaign.view")
def control_action(slug: str):
    """``action`` = schedule, send-now, pause, resume, cancel or retry-failed."""
    check_csrf()
    action = request.form.get("action", "")
    settings, engine = context.settings(), context.engine()
    try:
        if action in ("schedule", "send-now"):
            require(g.user, "campaign.schedule" if action == "schedule" else "campaign.send")
            if action == "send-now":  # due now: the worker's launch pass (every minute) starts it
                campaign = control.prepare(engine, settings, _source(slug))
                lifecycle.schedule(engine, campaign.id, utcnow())
            else:
                campaign = control.schedule(engine, settings, _source(slug), _when())
            done = (
                "Sending: the worker starts within a minute; follow it on the progress page."
                if action == "send-now"
                else f"Scheduled for {campaign.send_at:%Y-%m-%d %H:%M} UTC."
            )
        elif action == "pause":
            require(g.user, "campaign.pause")
            lifecycle.pause(engine, _campaign_id(slug), f"paused by {g.user.username}")
            done = "Paused: the messages in flight finish, nothing more is sent until you resume."
        elif action == "resume":
            require(g.user, "campaign.resume")
            campaign = control.resume(engine, settings, _campaign_id(slug))
            done = f"Resumed: {campaign.status}."
        elif action == "cancel":
            require(g.user, "campaign.cancel")
            if request.form.get("confirm") != "yes":
                raise GllMailError("tick the box to confirm: a cancelled campaign cannot be sent again")
            control.cancel(engine, _campaign_id(slug), f"cancelled by {g.user.username}")
            done = "Cancelled: nothing more is sent; what was sent stays recorded."
        elif action == "retry-failed":
            require(g.user, "campaign.retry-failed")
            done = f"Queued {control.retry_failed(engine, _campaign_id(slug))} failed message(s) again."
        else:
            raise GllMailError("unknown action")
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return _back(slug)
    _audit(f"campaign.{action}", slug)
    flash(done, "notice")
    return redirect(
        url_for(".progress", slug=slug)
        if action in ("send-now", "resume")
        else url_for("console_campaigns.detail", slug=slug)
    )


def figures(slug: str) -> dict:
    """What the progress view shows: sent, failed, queued, rate (messages per minute) and ETA."""
    with context.session() as s:
        campaign = get_campaign(s, slug)
    if campaign is None:
        return {"status": "draft", "total": 0, "sent": 0, "failed": 0, "queued": 0, "rate": 0, "eta": None}
    found = summary(context.engine(), campaign.id)
    elapsed = (utcnow() - campaign.started_at.replace(tzinfo=UTC)).total_seconds() if campaign.started_at else 0
    snap = Snapshot.of(found, found.sent / elapsed if elapsed > 0 else 0.0)
    return {
        "status": found.status,
        "paused_reason": found.paused_reason,
        "total": snap.total,
        "sent": snap.sent,
        "failed": snap.failed,
        "suppressed": snap.suppressed,
        "deferred": snap.deferred,
        "queued": snap.remaining,
        "rate": round(snap.rate * 60, 1),
        "eta": round(snap.eta) if snap.eta is not None else None,
        "done": snap.sent + snap.failed + snap.suppressed,
        "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
    }


@bp.get("/campaigns/<slug>/progress")
@allowed("campaign.view")
def progress(slug: str):
    with_scripts()
    return render("progress.html", slug=slug, figures=figures(slug))


@bp.get("/campaigns/<slug>/progress.json")
@allowed("campaign.view")
def progress_json(slug: str):
    return jsonify(figures(slug))
