"""What every API request goes through: the bearer token, its rate limit, the role of the route,
the Idempotency-Key of a POST, ETags, cursors, and errors as ``application/problem+json``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from spectree import SpecTree
from werkzeug.exceptions import HTTPException

from gll_mail.campaigns.approvals import ApprovalRequired
from gll_mail.campaigns.lifecycle import LifecycleError
from gll_mail.campaigns.revisions import ConflictError
from gll_mail.errors import GllMailError
from gll_mail.members.team_edits import MemberExists
from gll_mail.team import api_tokens, idempotency
from gll_mail.team.roles import ACTIONS, PermissionDenied, require
from gll_mail.web import context, pages
from gll_mail.web.api.schemas import ProblemBody

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://gll-mail.who.int/problems/"  # problem type URIs: names, documented in docs/api.md
RATE_WINDOW = 60

bp = Blueprint("api", __name__, url_prefix=PREFIX)
spec = SpecTree(
    "flask",
    title="gll-mail API",
    version="1",
    description="The REST API of gll-mail. Send `Authorization: Bearer TOKEN`. See docs/api.md.",
    path="apidoc",
    page_templates={},
    mode="strict",
    validation_error_status=422,
    validation_error_model=ProblemBody,
    annotations=False,
)


class ApiProblem(Exception):
    """An answer other than success, as RFC 9457 describes it."""

    def __init__(self, status: int, kind: str, detail: str, *, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status, self.kind, self.detail, self.headers, self.extra = status, kind, detail, headers or {}, extra


TITLES = {
    "validation": "The request is not valid",
    "unauthorized": "A valid bearer token is needed",
    "forbidden": "The token's role does not allow this",
    "not-found": "No such resource",
    "conflict": "The request conflicts with the current state",
    "precondition-failed": "The resource changed since you read it",
    "precondition-required": "Send If-Match with the ETag you read",
    "rate-limited": "Too many requests for this token",
    "idempotency-conflict": "The Idempotency-Key cannot be used for this request",
    "unprocessable": "The request cannot be carried out",
    "method-not-allowed": "The method is not allowed here",
    "server-error": "Something went wrong on our side",
}
HTTP_KINDS = {400: "validation", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
HTTP_KINDS |= {413: "validation", 415: "validation", 429: "rate-limited"}


def problem_response(status: int, kind: str, detail: str, headers: dict[str, str] | None = None, **extra) -> Response:
    body = {"type": PROBLEM_BASE + kind, "title": TITLES.get(kind, kind), "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_status(exc: GllMailError) -> tuple[int, str]:
    """The status and problem type of a domain error."""
    if isinstance(exc, PermissionDenied):
        return 403, "forbidden"
    if isinstance(exc, idempotency.IdempotencyConflict):
        return 409, "idempotency-conflict"
    if isinstance(exc, LookupError):
        return 404, "not-found"
    if isinstance(exc, ConflictError | MemberExists | LifecycleError | ApprovalRequired):
        return 409, "conflict"
    return 422, "unprocessable"


def _on_problem(exc: ApiProblem) -> Response:
    return problem_response(exc.status, exc.kind, exc.detail, exc.headers, **exc.extra)


def _on_domain_error(exc: GllMailError) -> Response:
    status, kind = error_status(exc)
    return problem_response(status, kind, str(exc))


def _on_http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 422 or (status == 400 and exc.response is not None):  # spectree's validation answer
        return problem_response(422, "validation", "the request does not match the schema", errors=_errors(exc))
    return problem_response(status, HTTP_KINDS.get(status, "unprocessable"), exc.description or "")


def _errors(exc: HTTPException) -> list:
    try:
        return json.loads(exc.response.get_data()) if exc.response is not None else []
    except ValueError:
        return []


def _on_exception(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _on_http_error(exc)
    pages.log.exception("unhandled error on %s", request.path)
    return problem_response(500, "server-error", "the error is logged; try again later")


def validation_hook(req, resp, req_validation_error, instance, *_args) -> None:
    """spectree's request check: a body or query that does not match becomes a 422 problem."""
    if req_validation_error is not None:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in req_validation_error.errors()
        ]
        raise ApiProblem(422, "validation", "the request does not match the schema", errors=errors)


spec.before = validation_hook


# --- authentication, rate limits, roles -----------------------------------------------------------


BATCH_BYTES = 2 * 1024 * 1024  # a batch of 5,000 members; every other request keeps the app's 64 KiB


def _authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    auth = {"WWW-Authenticate": 'Bearer realm="gll-mail"'}
    if scheme.lower() != "bearer" or not secret.strip():
        return problem_response(401, "unauthorized", "send Authorization: Bearer TOKEN", auth)
    with context.session() as session:
        token = api_tokens.authenticate(session, secret.strip())
        if token is None:
            return problem_response(401, "unauthorized", "the token is unknown or revoked", auth)
        g.api_user = api_tokens.acting_user(session, token)
        session.flush()  # the last use, before the token leaves the session
        session.expunge(token)
    g.api_token = token
    per_minute = context.settings().api_rate_limit
    if not context.limiter().hit("api", str(token.id), per_minute, RATE_WINDOW):
        return problem_response(
            429, "rate-limited", f"at most {per_minute} requests a minute per token", {"Retry-After": str(RATE_WINDOW)}
        )
    return None


PUBLIC_ENDPOINTS = {"api.openapi_json", "api.reference_page"}


def needs(action: str) -> Callable:
    """The route needs a token whose role allows ``action`` (:data:`gll_mail.team.roles.ACTIONS`)."""
    if action not in ACTIONS:
        raise KeyError(action)

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            require(g.api_user, action)
            return view(*args, **kwargs)

        checked.api_action = action
        return checked

    return decorate


def actor():
    """The team account the token acts as (a detached copy; never added to a session)."""
    return g.api_user


# --- idempotency ----------------------------------------------------------------------------------


def _claim_idempotency() -> Response | None:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or "api_token" not in g:
        return None
    print_ = idempotency.fingerprint(request.method, request.path, request.get_data())
    stored = idempotency.claim(context.engine(), g.api_token.id, key, print_)
    if stored is None:
        g.idempotency_key = key
        return None
    response = Response(stored.body, status=stored.status, headers=stored.headers)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _store_idempotency(response: Response) -> Response:
    key = g.pop("idempotency_key", None)
    if key is not None:
        kept = {k: v for k, v in response.headers.items() if k in ("Content-Type", "ETag", "Location")}
        answer = idempotency.Stored(response.status_code, response.get_data(as_text=True), kept)
        idempotency.store(context.engine(), g.api_token.id, key, answer)
    return response


# --- ETags and cursors ----------------------------------------------------------------------------


def etag_of(data: Any) -> str:
    """A strong ETag of a resource's JSON form."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'"{digest}"'


def check_if_match(current: str) -> None:
    """An update must name the version it changes: 428 without If-Match, 412 when it is not current."""
    given = request.headers.get("If-Match")
    if not given:
        raise ApiProblem(428, "precondition-required", "send If-Match with the ETag of the resource you read")
    if given.strip() != "*" and current not in [tag.strip() for tag in given.split(",")]:
        raise ApiProblem(412, "precondition-failed", "the resource changed since you read it; read it again")


def with_etag(data: Any, status: int = 200) -> Response:
    response = Response(json.dumps(data, default=str), status=status, mimetype="application/json")
    response.headers["ETag"] = etag_of(data)
    return response


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status=status, mimetype="application/json")


def page(items: list, next_cursor: Any) -> Response:
    return json_response({"items": items, "next_cursor": None if next_cursor is None else str(next_cursor)})


def cursor_int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not str(value).isdigit():
        raise ApiProblem(422, "validation", "cursor must be the next_cursor of a previous page")
    return int(value)


def _refuse_nul() -> Response | None:
    """No text we store or look up may hold NUL (PostgreSQL refuses it): 422 before anything runs."""
    if request.endpoint == "api.create_subscribers":
        request.max_content_length = BATCH_BYTES
    if "\x00" in request.path or "\x00" in request.query_string.decode("utf-8", "replace"):
        return problem_response(422, "validation", "NUL characters are not allowed")
    if "%00" in request.query_string.decode("latin-1") or b"\\u0000" in request.get_data():
        return problem_response(422, "validation", "NUL characters are not allowed")
    return None


bp.before_request(_refuse_nul)
bp.before_request(_authenticate)
bp.before_request(_claim_idempotency)
bp.after_request(_store_idempotency)
bp.register_error_handler(ApiProblem, _on_problem)
bp.register_error_handler(GllMailError, _on_domain_error)


def init_app(app: Flask) -> None:
    """Errors outside the blueprint's views (unknown paths, methods) under /api/v1 answer problem+json too."""
    app_http, app_other = pages.http_error, pages.server_error

    def http_error(exc: HTTPException):
        return _on_http_error(exc) if request.path.startswith(PREFIX + "/") else app_http(exc)

    def any_error(exc: Exception):
        if request.path.startswith(PREFIX + "/"):
            if isinstance(exc, ApiProblem):
                return _on_problem(exc)
            if isinstance(exc, GllMailError):
                return _on_domain_error(exc)
            return _on_exception(exc)
        return app_other(exc)

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, any_error)
