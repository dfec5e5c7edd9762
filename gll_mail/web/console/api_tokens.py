"""The API tokens page (admins): create a token (its secret shown once, on this page only), see each
token's role, account and last use, revoke one. Through :mod:`gll_mail.team.api_tokens`."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from gll_mail.errors import GllMailError
from gll_mail.team.accounts import list_admins
from gll_mail.team.api_tokens import create_token, list_tokens, revoke_token
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_api_tokens")


def _page(new_token: tuple[str, str] | None = None, status: int = 200):
    with context.session() as s:
        tokens = list_tokens(s, g.user, revoked=True)
        accounts = [a.username for a in list_admins(s)]
    return render("api_tokens.html", status, tokens=tokens, accounts=accounts, new_token=new_token)


@bp.get("/api-tokens")
@allowed("team.manage")
def tokens():
    return _page()


@bp.post("/api-tokens")
@allowed("team.manage")
def change():
    """``action`` = create (``name``, ``role``, ``user``: empty for a service token) or revoke (``name``)."""
    check_csrf()
    action, name = request.form.get("action", ""), request.form.get("name", "").strip()
    try:
        with context.session() as s:
            if action == "create":
                info, secret = create_token(
                    s, g.user, name, request.form.get("role", ""), username=request.form.get("user") or None
                )
            elif action == "revoke":
                revoke_token(s, g.user, name)
                flash(f"Token {name} revoked: its next request gets 401.", "notice")
                return redirect(url_for(".tokens"))
            else:
                raise GllMailError("unknown action")
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".tokens"))
    return _page((info.name, secret))
