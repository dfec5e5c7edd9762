"""/admin: the team's sign-in, its second factor and the forced password change.

Sign-in is a POST with a CSRF token, limited per client address (failed attempts per 15 minutes),
and a session that ends when the account's password changes or the account is deleted. An account
with a TOTP secret (or one that needs it: approvers and admins in production, ``team.totp.required``)
gives a code from its authenticator before the session starts. An account whose password an admin
reset must choose a new one before any other page. The console's pages (``gll_mail.web.console``)
use :func:`login_required`, which puts the signed-in account in ``g.user``.
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

from gll_mail.errors import GllMailError
from gll_mail.team import totp
from gll_mail.team.accounts import (
    authenticate,
    session_stamp,
    set_password,
    sign_out_everywhere,
    signed_in_user,
)
from gll_mail.web import context
from gll_mail.web.security import check_csrf, client_ip

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
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
        return "/admin/"
    return target


def _signed_in():
    """The account of this session (loaded fresh: a role changed by an admin applies at once), or None."""
    signed_in_at = session.get("admin_at")
    fresh = isinstance(signed_in_at, (int, float)) and time.time() - signed_in_at < SESSION_HOURS * 3600
    if not fresh:
        return None
    with context.session() as s:
        return signed_in_user(s, session.get("admin"), session.get("admin_stamp"))


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = _signed_in()
        g.user = user
        g.admin = user.username if user else None
        if user is None:
            session.pop("admin", None)
            return redirect(url_for("admin.login", next=request.path))
        if user.must_change_password and request.endpoint != "admin.change_password":
            return redirect(url_for("admin.change_password"))
        return view(*args, **kwargs)

    return wrapper


def _start_session(user) -> None:
    session.clear()  # a fresh session: no fixation of a cookie set before sign-in
    session["admin"], session["admin_stamp"], session["admin_at"] = user.username, session_stamp(user), time.time()
    session.permanent = True


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
            target = _safe_next(request.args.get("next", ""))
            if totp.enrolled(user) or totp.required(context.settings(), user):
                session.clear()
                session["totp_user"], session["totp_stamp"], session["totp_next"] = user.username, stamp, target
                session["totp_at"] = time.time()
                return redirect(url_for("admin.second_factor"))
            _start_session(user)
            return redirect(target)
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


@bp.route("/totp", methods=["GET", "POST"])
def second_factor():
    """The code from the authenticator app, after the password; the first time, the secret to add."""
    started = session.get("totp_at")
    if not isinstance(started, (int, float)) or time.time() - started > LOGIN_WINDOW:
        session.clear()
        return redirect(url_for("admin.login"))
    error, status, uri = "", 200, None
    if request.method == "POST":
        check_csrf()
    if request.method == "POST" and request.form.get("action") != "enrol":
        # counted before the code is checked, like the password (a separate write: SQLite has one writer)
        attempts, allowed = context.attempts(), context.settings().admin_login_rate_limit
        if allowed and attempts.add("admin-login", client_ip(), LOGIN_WINDOW) > allowed:
            return render_template("admin/totp.html", error="Too many failed codes.", enrolled=True), 429
        with context.session() as s:
            user = signed_in_user(s, session.get("totp_user"), session.get("totp_stamp"))
            if user is None:
                abort(403)
            right = totp.verify(s, user, request.form.get("code", ""))
        if right:
            if allowed:
                attempts.take_back("admin-login", client_ip(), LOGIN_WINDOW)
            target = session.get("totp_next") or "/admin/"
            _start_session(user)
            return redirect(_safe_next(target))
        error, status = "That code is not right (or was used already). Try the next one.", 401
    with context.session() as s:
        user = signed_in_user(s, session.get("totp_user"), session.get("totp_stamp"))
        if user is None:
            abort(403)
        if request.method == "POST" and request.form.get("action") == "enrol" and not totp.enrolled(user):
            uri = totp.enrol(s, user, actor=user)
        enrolled = totp.enrolled(user)
    return render_template("admin/totp.html", error=error, enrolled=enrolled, uri=uri), status


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    error, status = "", 200
    if request.method == "POST":
        check_csrf()
        new, again = request.form.get("password", ""), request.form.get("again", "")
        if new != again:
            error, status = "The two passwords differ.", 400
        else:
            try:
                with context.session() as s:
                    if authenticate(s, g.user.username, request.form.get("current", "")) is None:
                        raise GllMailError("your current password is not right")
                    user = set_password(s, g.user.username, new, actor=g.user)
                _start_session(user)
                return redirect("/admin/")
            except GllMailError as exc:
                error, status = str(exc)[:1].upper() + str(exc)[1:] + ".", 400
    return render_template("admin/password.html", error=error, user=g.user, forced=g.user.must_change_password), status
