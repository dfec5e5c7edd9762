"""The member's own page (``/m/<token>``) and unsubscribe (``/u/<token>``, RFC 8058 and RFC 2369).

A thin shell over :mod:`gll_mail.members.preferences`. Every change is a POST with a CSRF token,
except RFC 8058 one-click unsubscribe, which needs only its signed token and is idempotent.

The manage page is one form: every button posts every section, the server applies only the section
(or action) of the button pressed, and what the member had changed in the other sections but not
saved is kept as a draft in their session cookie and shown again, marked unsaved, after the redirect.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, redirect, request
from flask import session as browser_session

from gll_mail import links
from gll_mail.addresses import clean_text
from gll_mail.campaigns.records import linked_campaign
from gll_mail.members import preferences
from gll_mail.models import Subscriber
from gll_mail.web import context
from gll_mail.web.lookup import ONE_CLICK_ALLOWANCE, member_or_404, read_link
from gll_mail.web.pages import local_path, page, page_language
from gll_mail.web.security import check_csrf

bp = Blueprint("manage", __name__)

MANAGE_ACTIONS = (
    "profile",
    "topics",
    "pods",
    "language",
    "pause",
    "resume",
    "unsubscribe",
    "resubscribe",
    "export",
    "delete-ask",
    "delete",
)
SECTIONS = ("profile", "topics", "pods", "language")  # the parts of the form with a Save button of their own
DRAFT = "manage_draft"  # session key: {"who": public id, "sections": {section: unsaved values}}


@bp.route("/m/<token>", methods=["GET", "POST"])
def manage_page(token: str):
    data = read_link("manage", token)
    with context.session() as session:
        subscriber = member_or_404(session, data)
        if request.method == "POST":
            return _manage_post(session, subscriber, linked_campaign(session.connection(), data.extra.get("c")))
        draft = session_draft(subscriber)
        return manage_view(session, subscriber, draft, done=request.args.get("done", ""))


def manage_view(
    session, subscriber: Subscriber, draft: dict, *, done: str = "", errors: dict | None = None, status: int = 200
):
    """The manage page: the saved state, with the sections in ``draft`` shown as the member left them."""
    view = preferences.overview(session, subscriber)
    shown = _saved(view, subscriber)
    shown.update(draft)
    return page(
        "manage.html",
        status,
        language=page_language(subscriber),
        subscriber=subscriber,
        view=view,
        shown=shown,
        unsaved=set(draft),
        errors=errors or {},
        action=request.path,
        done=done,
    )


def _saved(view: dict, subscriber: Subscriber) -> dict:
    return {
        "profile": {name: getattr(subscriber, name) or "" for name in preferences.PROFILE_LIMITS},
        "topics": sorted(t.slug for t, on in view["topics"] if on),
        "pods": sorted(p.slug for p, on in view["pods"] if on),
        "language": subscriber.language,
    }


def _posted() -> dict:
    """Each section the posted form carried (a hidden ``section`` field marks it), as the member left it."""
    form, present = request.form, set(request.form.getlist("section"))
    posted: dict = {}
    if "profile" in present:
        posted["profile"] = {
            name: clean_text(form.get(name, "")[: limit * 2]) for name, limit in preferences.PROFILE_LIMITS.items()
        }
    if "topics" in present:
        posted["topics"] = sorted(set(form.getlist("topic")[:100]))
    if "pods" in present:
        posted["pods"] = sorted(set(form.getlist("pod")[:100]))
    if "language" in present:
        posted["language"] = form.get("language", "")[:20]
    return posted


def session_draft(subscriber: Subscriber) -> dict:
    """The member's unsaved sections kept by the last POST (once: a reload shows the saved state)."""
    kept = browser_session.pop(DRAFT, None)
    if not isinstance(kept, dict) or kept.get("who") != subscriber.public_id:
        return {}
    return {k: v for k, v in (kept.get("sections") or {}).items() if k in SECTIONS}


def _keep_draft(subscriber: Subscriber, saved: dict, posted: dict, applied: str) -> None:
    draft = {k: v for k, v in posted.items() if k != applied and v != saved.get(k)}
    if draft:
        browser_session[DRAFT] = {"who": subscriber.public_id, "sections": draft}


def _manage_post(session, subscriber: Subscriber, campaign_id: int | None):
    check_csrf()
    action = request.form.get("action", "")
    if action not in MANAGE_ACTIONS:
        abort(400)
    source = "web"
    language = page_language(subscriber)
    if action == "export":
        body = json.dumps(preferences.export_data(session, subscriber), ensure_ascii=False, indent=2)
        return Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": 'attachment; filename="gll-my-data.json"'},
        )
    if action == "delete-ask":
        return page("delete.html", language=language, action=request.path)
    if action == "delete":
        preferences.delete_account(session, subscriber, source=source)
        return page("message.html", language=language, message="deleted")
    posted = _posted()
    saved = _saved(preferences.overview(session, subscriber), subscriber)
    changed = 0
    if action == "profile":
        values, errors = preferences.read_profile(request.form)
        if errors:
            draft = {k: v for k, v in posted.items() if v != saved.get(k)}
            draft["profile"] = values
            return manage_view(session, subscriber, draft, errors=errors, status=400)
        changed = preferences.set_profile(session, subscriber, values, source=source)
    elif action == "topics":
        changed = preferences.set_topics(session, subscriber, request.form.getlist("topic")[:100], source=source)
    elif action == "pods":
        changed = preferences.set_pods(session, subscriber, request.form.getlist("pod")[:100], source=source)
    elif action == "language":
        try:
            changed = preferences.set_language(
                session, subscriber, request.form.get("language", "")[:20], source=source
            )
        except ValueError:
            abort(400)
    elif action in ("pause", "resume"):
        changed = preferences.set_paused(session, subscriber, action == "pause", source=source)
    elif action == "unsubscribe":
        changed = preferences.unsubscribe(session, subscriber, source=source, campaign_id=campaign_id)
    elif action == "resubscribe":
        changed = preferences.resubscribe(session, subscriber, source=source)
    _keep_draft(subscriber, saved, posted, action)
    return redirect(f"{request.path}?done={'saved' if changed else 'same'}", 303)


@bp.route("/u/<token>", methods=["GET", "HEAD", "POST"])
def unsubscribe(token: str):
    # RFC 8058 POSTs arrive from Gmail's or Yahoo's servers on behalf of many members at once: a
    # 429 there would lose an unsubscribe, so they get their own, much larger allowance
    data = (
        read_link("unsubscribe", token, bucket="one-click", allowance=ONE_CLICK_ALLOWANCE)
        if request.method == "POST"
        else read_link("unsubscribe", token)
    )
    settings = context.settings()
    with context.session() as session:
        subscriber = member_or_404(session, data)
        language = page_language(subscriber)
        if request.method != "POST":
            manage_path = local_path(links.manage_url(settings, subscriber.public_id, language=subscriber.language))
            return page("unsubscribe.html", language=language, action=request.path, manage_url=manage_path)
        one_click = request.form.get("List-Unsubscribe", "") == "One-Click"
        preferences.unsubscribe(
            session,
            subscriber,
            source="one-click" if one_click else "web",
            campaign_id=linked_campaign(session.connection(), data.extra.get("c")),
        )
        manage_path = local_path(links.manage_url(settings, subscriber.public_id, language=subscriber.language))
    if request.form.get("from") != "page":  # a mailbox provider's RFC 8058 POST: no form, no cookie
        return page("message.html", language=language, message="unsubscribed")
    return page("unsubscribed.html", language=language, manage_url=manage_path)
