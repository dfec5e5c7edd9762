"""Webhooks in the console (admins only): the endpoints with add, send a test event, rotate the
secret and remove; and the delivery log with each try's outcome and the next retry.

A thin shell over :mod:`gll_mail.webhooks.endpoints`. A new secret is shown once, in the answer to
the form that made it (never in a redirect, a cookie or the audit log).
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from gll_mail.errors import GllMailError
from gll_mail.events import WEBHOOK_EVENTS
from gll_mail.models import WebhookStatus
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render
from gll_mail.web.security import check_csrf
from gll_mail.webhooks import endpoints as hooks

bp = blueprint("console_webhooks")
ACTION = hooks.ACTION


def _page(status: int = 200, **extra):
    with context.session() as s:
        endpoints = hooks.list_endpoints(s, g.user)
        log = hooks.deliveries(s, g.user, limit=10)
    return render("webhooks.html", status, endpoints=endpoints, log=log, events=WEBHOOK_EVENTS, **extra)


@bp.get("/webhooks")
@allowed(ACTION)
def index():
    return _page()


@bp.post("/webhooks")
@allowed(ACTION)
def change():
    """``action`` = add (url, events, description), test, rotate or remove (endpoint; remove needs confirm)."""
    check_csrf()
    form, action = request.form, request.form.get("action", "")
    endpoint = form.get("endpoint", "")
    try:
        with context.session() as s:
            if action == "add":
                made = hooks.add_endpoint(
                    s, context.settings(), g.user, form.get("url", ""), form.getlist("events"),
                    description=form.get("description", ""),
                )  # fmt: skip
                secret = (made.url, made.secret)
            elif action == "rotate":
                made = hooks.rotate_secret(s, g.user, endpoint)
                secret = (made.url, made.secret)
            elif action == "test":
                message_id = hooks.send_test(s, g.user, endpoint)
                flash(f"Test event {message_id} queued: the worker sends it within seconds.", "notice")
                return redirect(url_for(".deliveries", hook=endpoint))
            elif action == "remove":
                if form.get("confirm") != "yes":
                    raise GllMailError("tick the box to confirm the removal")
                hooks.remove_endpoint(s, g.user, endpoint)
                flash("The endpoint and its delivery log are removed.", "notice")
                return redirect(url_for(".index"))
            else:
                raise GllMailError("unknown action")
    except GllMailError as exc:
        return _page(400, problem=message_of(exc), form=form)
    return _page(new_secret=secret)


@bp.get("/webhooks/deliveries")
@allowed(ACTION)
def deliveries():
    endpoint = request.args.get("hook", "").strip() or None
    status = request.args.get("status", "").strip()
    status = status if status in {s.value for s in WebhookStatus} else None
    with context.session() as s:
        log = hooks.deliveries(s, g.user, endpoint=endpoint, status=status, limit=200)
        endpoints = hooks.list_endpoints(s, g.user)
    return render(
        "webhook_deliveries.html",
        log=log,
        endpoints=endpoints,
        endpoint=endpoint or "",
        status=status or "",
        statuses=[s.value for s in WebhookStatus],
    )
