"""The team page (admins: accounts, roles, password resets, new accounts) and the audit log."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from gll_mail.errors import GllMailError
from gll_mail.team import audit, totp
from gll_mail.team.accounts import create_admin, list_admins, reset_password, set_email, set_role
from gll_mail.team.roles import ROLE_HELP
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_team")
AUDIT_ROWS = 100  # a page of the audit log; the next page by cursor (?before=ID)


@bp.get("/team")
@allowed("team.manage")
def team():
    with context.session() as s:
        accounts = list_admins(s)
    return render("team.html", accounts=accounts, role_help=ROLE_HELP, enrolled=totp.enrolled, new_password=None)


@bp.post("/team")
@allowed("team.manage")
def change():
    """``action`` = role (``username``, ``role``), email (``username``, ``email``), reset (``username``) or
    create (``username``, ``role``, ``password``, ``email``)."""
    check_csrf()
    action, username = request.form.get("action", ""), request.form.get("username", "")
    new_password = None
    try:
        with context.session() as s:
            if action == "role":
                set_role(s, username, request.form.get("role", ""), actor=g.user)
                flash(f"{username} is now {request.form.get('role')}.", "notice")
            elif action == "email":
                set_email(s, username, request.form.get("email", ""), actor=g.user)
                flash(f"Address of {username} saved.", "notice")
            elif action == "reset":
                new_password = (username, reset_password(s, username, actor=g.user))
            elif action == "create":
                create_admin(
                    s, username, request.form.get("password", ""), request.form.get("role") or None, actor=g.user
                )
                if request.form.get("email", "").strip():
                    set_email(s, username, request.form["email"], actor=g.user)
                flash(f"Account {username} created.", "notice")
            else:
                raise GllMailError("unknown action")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    if new_password is None:
        return redirect(url_for(".team"))
    with context.session() as s:
        accounts = list_admins(s)
    return render(
        "team.html", accounts=accounts, role_help=ROLE_HELP, enrolled=totp.enrolled, new_password=new_password
    )


@bp.get("/audit")
@allowed("audit.view")
def audit_log():
    since_text = request.args.get("since", "").strip()
    object_text = request.args.get("object", "").strip()
    action = request.args.get("action", "").strip() or None
    error = ""
    try:
        since = audit.parse_since(since_text) if since_text else None
        obj = audit.parse_object(object_text) if object_text else None
    except GllMailError as exc:
        error, since, obj = message_of(exc), None, None
    before = request.args.get("before", type=int)
    with context.session() as s:
        found = audit.entries(s, since=since, object=obj, action=action, limit=AUDIT_ROWS + 1, before=before)
    found = list(reversed(found))
    more = len(found) > AUDIT_ROWS
    found = found[:AUDIT_ROWS]
    filters = {k: v for k, v in (("since", since_text), ("object", object_text), ("action", action)) if v}
    older = url_for(".audit_log", before=found[-1].id, **filters) if more else None
    return render(
        "audit.html",
        400 if error else 200,
        entries=found,
        older=older,
        newest=url_for(".audit_log", **filters) if before else None,
        since=since_text,
        object=object_text,
        action=action or "",
        error=error,
        limit=AUDIT_ROWS,
    )
