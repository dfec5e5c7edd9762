"""The team console under /admin: campaigns, the editor, approvals, sending and following, the team.

One blueprint per area, each a thin shell over the domain: ``campaigns`` (the list, a new campaign,
a campaign's page with its report), ``editor`` (the editor, autosave, preview, revisions),
``actions`` (approval, test sends, schedule, pause, resume, cancel, retry, progress) and ``team``
(accounts and the audit log). Every view needs a signed-in account (:func:`gll_mail.web.admin.login_required`)
and checks the role of each action on the server with :func:`gll_mail.team.roles.require`.
Domain errors become the page again with the message, or a console error page with the status.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, g, render_template

from gll_mail.errors import GllMailError
from gll_mail.team.roles import ROLES, PermissionDenied, can, require
from gll_mail.web.admin import login_required

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
CSP_WITH_SCRIPT = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ERROR_TITLES = {400: "That did not work", 403: "Not allowed", 404: "Not found", 409: "Changed meanwhile"}


def blueprint(name: str) -> Blueprint:
    """A console blueprint under /admin: console headers and console error pages."""
    bp = Blueprint(name, __name__, url_prefix="/admin")

    @bp.before_request
    def _headers():
        g.csp = CSP

    bp.app_context_processor(lambda: {"can": _can})  # the sign-in pages share the console's layout
    bp.register_error_handler(PermissionDenied, lambda exc: error(403, str(exc)))
    bp.register_error_handler(403, lambda exc: error(403, "This form has expired or came from another site."))
    bp.register_error_handler(404, lambda exc: error(404, "There is no such page or campaign."))
    return bp


def with_scripts() -> None:
    """This page loads the console's own small scripts (and may frame its own preview)."""
    g.csp = CSP_WITH_SCRIPT


def render(template: str, http_status: int = 200, /, **context) -> tuple[str, int]:
    return render_template(
        f"admin/{template}", user=g.get("user"), admin=g.get("admin"), can=_can, roles=ROLES, **context
    ), http_status


def _can(action: str) -> bool:
    return can(g.get("user"), action)


def error(status: int, message: str) -> Response:
    html, _ = render("error.html", title=ERROR_TITLES.get(status, "Error"), message=message)
    return Response(html, status=status, mimetype="text/html")


def allowed(action: str):
    """The view needs a signed-in account whose role allows ``action`` (403 page otherwise)."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            require(g.user, action)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


def message_of(exc: GllMailError) -> str:
    return str(exc).strip() or "That did not work."
