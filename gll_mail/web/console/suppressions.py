"""The suppression list in the console: search it, add or remove an address with a reason (it goes
to the audit log), and open the raw inbound message behind a bounce or complaint.

A thin shell over :mod:`gll_mail.members.suppression_list`. Removing an address from the list does
not re-subscribe anyone.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from gll_mail.errors import GllMailError
from gll_mail.members import suppression_list
from gll_mail.suppressions import REASONS
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, error, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_suppressions")
PAGE_SIZE = 50


@bp.get("/suppressions")
@allowed("suppression.view")
def index():
    q, reason = request.args.get("q", "").strip(), request.args.get("reason", "").strip()
    cursor_text = request.args.get("cursor", "")
    cursor = int(cursor_text) if cursor_text.isdigit() else None
    with context.session() as s:
        rows, next_cursor = suppression_list.search(
            s, g.user, q=q, reason=reason if reason in REASONS else "", limit=PAGE_SIZE, cursor=cursor
        )
    next_url = url_for(".index", q=q or None, reason=reason or None, cursor=next_cursor) if next_cursor else None
    return render("suppressions.html", rows=rows, q=q, reason=reason, reasons=REASONS, next_url=next_url)


@bp.post("/suppressions")
@allowed("suppression.edit")
def change():
    """``action`` = add (email, reason, note) or remove (email, note)."""
    check_csrf()
    form, action = request.form, request.form.get("action", "")
    email = form.get("email", "").strip()
    try:
        with context.session() as s:
            if action == "add":
                suppression_list.add(s, g.user, email, reason=form.get("reason", "manual"), note=form.get("note", ""))
                flash(f"{email} is suppressed: it is never mailed.", "notice")
            elif action == "remove":
                done = suppression_list.remove(s, g.user, email, note=form.get("note", ""))
                flash(f"{email} is off the list." if done else f"{email} was not on the list.", "notice")
            else:
                raise GllMailError("unknown action")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    return redirect(url_for(".index"))


@bp.get("/inbound/<int:inbound_id>")
@allowed("suppression.view")
def inbound(inbound_id: int):
    with context.session() as s:
        try:
            message = suppression_list.inbound_message(s, g.user, inbound_id)
        except GllMailError:
            return error(404, f"There is no inbound message {inbound_id} (erased with a member, or never received).")
    return render("inbound.html", m=message)
