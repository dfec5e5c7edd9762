"""/admin: the team's sign-in and the HTML campaign reports.

Sign-in is a POST with a CSRF token, limited per client address (failed attempts per 15 minutes),
and a session that ends when the account's password changes or the account is deleted. The pages
carry the same defensive headers as the member web; the report keeps its inline styles and SVG, so
its policy allows inline styles but still no scripts at all.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gll_mail.bounces.report_html import render_html
from gll_mail.bounces.reports import ReportError
from gll_mail.bounces.reports import campaign_report as build_report
from gll_mail.team.accounts import (
    authenticate,
    campaign_overview,
    session_stamp,
    sign_out_everywhere,
    signed_in_user,
)
from gll_mail.web import context
from gll_mail.web.security import check_csrf, client_ip

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
LOGIN_WINDOW = 15 * 60
SESSION_HOURS = 12  # a sign-in lasts a working day at most, however often the cookie is refreshed


@bp.before_request
def _admin_headers():
    g.csp = ADMIN_CSP


def _safe_next(target: str) -> str:
    """Only a path inside /admin on this site: never another host (no open redirect)."""
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or "\\" in target
        or "//" in target
        or not target.startswith("/admin/")
        or any(ord(c) < 0x20 or c == "\x7f" for c in target)
    ):  # a line break would be a 500
        return url_for("admin.index")
    return target


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        signed_in_at = session.get("admin_at")
        fresh = isinstance(signed_in_at, (int, float)) and time.time() - signed_in_at < SESSION_HOURS * 3600
        with context.session() as s:
            user = signed_in_user(s, session.get("admin"), session.get("admin_stamp")) if fresh else None
            g.admin = user.username if user else None
        if g.admin is None:
            session.pop("admin", None)
            return redirect(url_for("admin.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = "", 200
    if request.method == "POST":
        check_csrf()
        # the attempt is counted before the password is checked, in the database: guesses sent at
        # once, or to several web processes, cannot all slip under the limit
        attempts = context.attempts()
        allowed = context.settings().admin_login_rate_limit
        if allowed and attempts.add("admin-login", client_ip(), LOGIN_WINDOW) > allowed:
            return render_template("admin/login.html", error="Too many failed sign-ins. Try again in 15 minutes."), 429
        with context.session() as s:
            user = authenticate(s, request.form.get("username", ""), request.form.get("password", ""))
            stamp = session_stamp(user) if user else None
        if user is not None:
            if allowed:
                attempts.take_back("admin-login", client_ip(), LOGIN_WINDOW)  # only failures count
            session.clear()  # a fresh session: no fixation of a cookie set before sign-in
            session["admin"], session["admin_stamp"], session["admin_at"] = user.username, stamp, time.time()
            session.permanent = True
            return redirect(_safe_next(request.args.get("next", "")))
        error, status = "Wrong username or password.", 401
    return render_template("admin/login.html", error=error), status


@bp.post("/logout")
def logout():
    check_csrf()
    with context.session() as s:  # a copy of this cookie kept elsewhere must not go on working
        if signed_in_user(s, session.get("admin"), session.get("admin_stamp")) is not None:
            sign_out_everywhere(s, session["admin"])
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def index():
    with context.session() as s:
        rows = campaign_overview(s)
    return render_template("admin/index.html", rows=rows, admin=g.admin)


@bp.get("/campaigns/<slug>")
@login_required
def campaign_report(slug: str):
    try:
        with context.session() as s:
            data = build_report(s, slug)
    except ReportError:
        abort(404)
    return render_html(data)
