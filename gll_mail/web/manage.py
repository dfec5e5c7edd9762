"""The member's own page (``/m/<token>``) and unsubscribe (``/u/<token>``, RFC 8058 and RFC 2369).

A thin shell over :mod:`gll_mail.members.preferences`. Every change is a POST with a CSRF token,
except RFC 8058 one-click unsubscribe, which needs only its signed token and is idempotent.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, redirect, request

from gll_mail import links
from gll_mail.campaigns.records import linked_campaign
from gll_mail.members import preferences
from gll_mail.models import Subscriber
from gll_mail.web import context
from gll_mail.web.lookup import ONE_CLICK_ALLOWANCE, member_or_404, read_link
from gll_mail.web.pages import local_path, page, page_language
from gll_mail.web.security import check_csrf

bp = Blueprint("manage", __name__)

MANAGE_ACTIONS = ("topics", "pods", "language", "pause", "resume", "unsubscribe", "resubscribe", "export",
                  "delete-ask", "delete")


@bp.route("/m/<token>", methods=["GET", "POST"])
def manage_page(token: str):
    data = read_link("manage", token)
    with context.session() as session:
        subscriber = member_or_404(session, data)
        if request.method == "POST":
            return _manage_post(session, subscriber, linked_campaign(session.connection(), data.extra.get("c")))
        view = preferences.overview(session, subscriber)
        language = page_language(subscriber)
        return page("manage.html", language=language, subscriber=subscriber, view=view, action=request.path,
                    done=request.args.get("done", ""))


def _manage_post(session, subscriber: Subscriber, campaign_id: int | None):
    check_csrf()
    action = request.form.get("action", "")
    if action not in MANAGE_ACTIONS:
        abort(400)
    source = "web"
    language = page_language(subscriber)
    if action == "export":
        body = json.dumps(preferences.export_data(session, subscriber), ensure_ascii=False, indent=2)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": 'attachment; filename="gll-my-data.json"'})
    if action == "delete-ask":
        return page("delete.html", language=language, action=request.path)
    if action == "delete":
        preferences.delete_account(session, subscriber, source=source)
        return page("message.html", language=language, title_key="deleted_title", text_key="deleted_text")
    changed = 0
    if action == "topics":
        changed = preferences.set_topics(session, subscriber, request.form.getlist("topic")[:100], source=source)
    elif action == "pods":
        changed = preferences.set_pods(session, subscriber, request.form.getlist("pod")[:100], source=source)
    elif action == "language":
        try:
            changed = preferences.set_language(session, subscriber, request.form.get("language", "")[:20], source=source)
        except ValueError:
            abort(400)
    elif action in ("pause", "resume"):
        changed = preferences.set_paused(session, subscriber, action == "pause", source=source)
    elif action == "unsubscribe":
        changed = preferences.unsubscribe(session, subscriber, source=source, campaign_id=campaign_id)
    elif action == "resubscribe":
        changed = preferences.resubscribe(session, subscriber, source=source)
    return redirect(f"{request.path}?done={'saved' if changed else 'same'}", 303)


@bp.route("/u/<token>", methods=["GET", "HEAD", "POST"])
def unsubscribe(token: str):
    # RFC 8058 POSTs arrive from Gmail's or Yahoo's servers on behalf of many members at once: a
    # 429 there would lose an unsubscribe, so they get their own, much larger allowance
    data = (read_link("unsubscribe", token, bucket="one-click", allowance=ONE_CLICK_ALLOWANCE)
            if request.method == "POST" else read_link("unsubscribe", token))
    settings = context.settings()
    with context.session() as session:
        subscriber = member_or_404(session, data)
        language = page_language(subscriber)
        if request.method != "POST":
            manage_path = local_path(links.manage_url(settings, subscriber.public_id))
            return page("unsubscribe.html", language=language, action=request.path, manage_url=manage_path)
        one_click = request.form.get("List-Unsubscribe", "") == "One-Click"
        preferences.unsubscribe(session, subscriber, source="one-click" if one_click else "web",
                                campaign_id=linked_campaign(session.connection(), data.extra.get("c")))
    return page("message.html", language=language, title_key="unsubscribed_title", text_key="unsubscribed_text")
