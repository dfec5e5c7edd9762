"""/admin: login and the HTML campaign reports for the team."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/login", methods=["GET", "POST"])
def login():
    from gll_mail.admin import authenticate
    from gll_mail.web import app_session

    error = ""
    if request.method == "POST":
        with app_session(current_app) as s:
            user = authenticate(s, request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            session.clear()
            session["admin"] = user.username
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/admin/") else url_for("admin.login"))
        error = "Wrong username or password."
    return render_template("admin/login.html", error=error), 401 if error else 200


@bp.get("/campaigns/<slug>")
def campaign_report(slug: str):
    from gll_mail.report_html import render_html
    from gll_mail.reports import ReportError, campaign_report as build
    from gll_mail.web import app_session

    if not session.get("admin"):
        return redirect(url_for("admin.login", next=request.path))
    try:
        with app_session(current_app) as s:
            data = build(s, slug)
    except ReportError:
        abort(404)
    return render_html(data)
