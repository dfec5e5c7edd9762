"""The members' pages of the console: search with filters and paging, one member's page (profile,
consent, topics, pods with their history, events, deliveries per campaign) and what the team does to
a member (edit the profile, pods and topics, unsubscribe, export, erase after a confirmation page).

A thin shell over :mod:`gll_mail.members.directory` and :mod:`gll_mail.members.team_edits`: they
check the roles again and write the audit log. The team cannot re-subscribe anyone: there is no
such action here, only the member's own link does it.
"""

from __future__ import annotations

import json

from flask import Response, flash, g, redirect, request, url_for

from gll_mail import catalog
from gll_mail.errors import GllMailError
from gll_mail.languages import LANGUAGES
from gll_mail.members import team_edits
from gll_mail.members.directory import MemberNotFound, find_member, member_view, search_members
from gll_mail.models import SubscriberStatus
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, error, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_members")
FILTERS = ("q", "country", "organization", "pod", "topic", "status", "language")
PAGE_SIZE = 50


def _choices(session) -> dict:
    return {
        "pods": catalog.list_pods(session, archived=True),
        "topics": catalog.list_topics(session, archived=True),
        "statuses": list(SubscriberStatus),
        "languages": LANGUAGES,
    }


@bp.get("/members")
@allowed("member.view")
def index():
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    cursor_text = request.args.get("cursor", "")
    cursor = int(cursor_text) if cursor_text.isdigit() else None
    problem, page = "", None
    with context.session() as s:
        try:
            page = search_members(s, g.user, limit=PAGE_SIZE, cursor=cursor, **filters)
        except GllMailError as exc:
            problem = message_of(exc)
        choices = _choices(s)
    next_url = None
    if page is not None and page.next_cursor is not None:
        next_url = url_for(".index", cursor=page.next_cursor, **{k: v for k, v in filters.items() if v})
    return render(
        "members.html",
        400 if problem else 200,
        filters=filters,
        rows=page.rows if page else [],
        next_url=next_url,
        first_url=url_for(".index", **{k: v for k, v in filters.items() if v}) if cursor else None,
        problem=problem,
        **choices,
    )


@bp.get("/members/<key>")
@allowed("member.view")
def member(key: str):
    with context.session() as s:
        try:
            view = member_view(s, g.user, key)
        except MemberNotFound:
            return error(404, f"There is no member {key}.")
        current_pods = {p["slug"] for p in view["pod_history"] if not p["left_at"]}
        choices = _choices(s)
    return render(
        "member.html",
        m=view,
        current_pods=current_pods,
        topic_slugs={t["slug"] for t in view["topics"]},
        **choices,
    )


@bp.post("/members/<key>")
@allowed("member.edit")
def change(key: str):
    """``action`` = profile (name, organization, country, role, language), pod-add / pod-remove (pod),
    topic-add / topic-remove (topic) or unsubscribe (reason)."""
    check_csrf()
    action, form = request.form.get("action", ""), request.form
    try:
        with context.session() as s:
            m = find_member(s, key)
            key = str(m.id)
            if action == "profile":
                fields = (*team_edits.PROFILE_FIELDS, "language")
                changes = team_edits.update_profile(s, g.user, m, {f: form.get(f) for f in fields if f in form})
                flash(f"Saved: {', '.join(changes)}." if changes else "Nothing changed.", "notice")
            elif action in ("pod-add", "pod-remove"):
                slug = form.get("pod", "")
                edit = team_edits.add_to_pod if action == "pod-add" else team_edits.remove_from_pod
                done = edit(s, g.user, m, slug)
                verb = "added to" if action == "pod-add" else "removed from"
                flash(
                    f"{'Member ' + verb if done else 'Already not' if action == 'pod-remove' else 'Already in'} pod {slug}.",
                    "notice",
                )
            elif action in ("topic-add", "topic-remove"):
                slug = form.get("topic", "")
                edit = team_edits.add_topic if action == "topic-add" else team_edits.remove_topic
                done = edit(s, g.user, m, slug)
                flash(
                    f"Topic {slug} {'added' if action == 'topic-add' else 'removed'}." if done else "Nothing changed.",
                    "notice",
                )
            elif action == "unsubscribe":
                done = team_edits.unsubscribe(s, g.user, m, reason=form.get("reason", ""))
                flash("Unsubscribed: no more mail to this member." if done else "Already unsubscribed.", "notice")
            else:
                raise GllMailError("unknown action")
    except MemberNotFound:
        return error(404, f"There is no member {key}.")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    return redirect(url_for(".member", key=key))


@bp.post("/members/<key>/export")
@allowed("member.export")
def export(key: str):
    check_csrf()
    with context.session() as s:
        try:
            m = find_member(s, key)
        except MemberNotFound:
            return error(404, f"There is no member {key}.")
        data = team_edits.export(s, g.user, m)
        public_id = m.public_id
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="member-{public_id}.json"'},
    )


@bp.get("/members/<key>/erase")
@allowed("member.erase")
def erase_page(key: str):
    with context.session() as s:
        try:
            view = member_view(s, g.user, key, events=0)
        except MemberNotFound:
            return error(404, f"There is no member {key}.")
    return render("member_erase.html", m=view)


@bp.post("/members/<key>/erase")
@allowed("member.erase")
def erase(key: str):
    check_csrf()
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm the erasure.", "error")
        return redirect(url_for(".erase_page", key=key))
    try:
        with context.session() as s:
            public_id = team_edits.erase(s, g.user, find_member(s, key), reason=request.form.get("reason", ""))
    except MemberNotFound:
        return error(404, f"There is no member {key}.")
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".erase_page", key=key))
    flash(f"Member {public_id} erased: only a hash of the address is kept.", "notice")
    return redirect(url_for(".index"))
