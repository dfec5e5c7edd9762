"""What members see: gated links (/r/, /p/), registration (/register, /confirm/), manage (/m/), unsubscribe (/u/).

A thin shell over :mod:`gll_mail.members.gate`, :mod:`gll_mail.members.registration`, :mod:`gll_mail.members.membership` and
:mod:`gll_mail.members.preferences`. GET never changes member state (a click event is analytics, not state); every
change is a POST with a CSRF token, except RFC 8058 one-click unsubscribe.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join

from gll_mail import links
from gll_mail.campaigns.records import linked_campaign
from gll_mail.events import is_scanner
from gll_mail.languages import LANGUAGES, text_direction
from gll_mail.members import membership, preferences, registration
from gll_mail.members.gate import (
    Gate,
    GateNotFound,
    Outcome,
    ResourceInfo,
    load_gate,
    load_subscriber,
    quick_gate,
)
from gll_mail.members.web_strings import strings_for
from gll_mail.models import EventType, Subscriber
from gll_mail.tokens import TokenData, TokenError, TokenWrongPurpose, read_token
from gll_mail.web.security import (
    allow_form_target,
    check_csrf,
    client_ip,
    limit,
    limit_shared,
)

bp = Blueprint("members", __name__)
log = logging.getLogger(__name__)


class PageError(Exception):
    """Show the friendly error page ``kind`` (400, wrong, 404, 410 …) with ``status``."""

    def __init__(self, status: int, kind: str | None = None) -> None:
        super().__init__(kind or str(status))
        self.status, self.kind = status, kind or str(status)


@bp.app_template_filter("fill")
def fill(text: str, **values) -> Markup:
    """``text.format(**values)`` with each value escaped and isolated in <bdi> (names in Arabic text)."""
    return Markup.escape(text).format(**{k: Markup("<bdi>{}</bdi>").format(v) for k, v in values.items()})


def _settings():
    from gll_mail.web import app_settings

    return app_settings(current_app)


def _session():
    from gll_mail.web import app_session

    return app_session(current_app)


# --- language and rendering -------------------------------------------------------------------

def page_language(subscriber: Subscriber | None = None) -> str:
    asked = request.args.get("lang", "")
    if asked in LANGUAGES:
        return asked
    if subscriber is not None and subscriber.language in LANGUAGES:
        return subscriber.language
    return request.accept_languages.best_match(list(LANGUAGES), default="en") or "en"


def page(template: str, status: int = 200, *, language: str | None = None, **context) -> Response:
    language = language or g.get("language") or page_language()
    html = render_template(f"members/{template}", s=strings_for(language), lang=language,
                           dir=text_direction(language), languages=LANGUAGES, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Language"] = language
    return response


def error_page(status: int, kind: str | None = None) -> Response:
    kind = kind or str(status)
    return page("error.html", status, kind=kind, register_url="/register")


ONE_CLICK_ALLOWANCE = 20  # times the links allowance: one-click POSTs come from a few mailbox providers' hosts


def _token(purpose: str, token: str, *, bucket: str = "links", allowance: int = 1) -> TokenData:
    limit(bucket, _settings().web_rate_limit * allowance, 60)
    try:
        return read_token(_settings(), purpose, token)
    except TokenWrongPurpose:
        raise PageError(400, "wrong") from None
    except TokenError as exc:
        raise PageError(exc.status, str(exc.status)) from None


@bp.app_errorhandler(PageError)
def _page_error(exc: PageError):
    return error_page(exc.status, exc.kind)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if request.blueprint == "admin":
        return exc
    status = exc.code or 500
    kind = "csrf" if status == 403 else str(status) if status in (400, 404, 405, 410, 413, 429) else "400"
    response = error_page(status, kind)
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.app_errorhandler(Exception)
def _server_error(exc: Exception):
    log.exception("unhandled error on %s", request.path)
    return error_page(500, "500")


def _local(url: str) -> str:
    """The path (and query) of one of our own absolute URLs, to redirect within this site."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- gated links -------------------------------------------------------------------------------

def _open_resource(resource: ResourceInfo):
    """Redirect to the resource's registered URL, or serve its file: never a URL from the request."""
    if resource.url:
        return redirect(resource.url, 302)
    resources_dir = Path(_settings().resources_dir).resolve()
    if not resource.file_path or safe_join(str(resources_dir), resource.file_path) is None:
        raise PageError(404)
    if not (resources_dir / resource.file_path).is_file():
        raise PageError(404)
    return send_from_directory(resources_dir, resource.file_path, max_age=0)


def _record_click(subscriber_id: int, campaign_id: int | None, resource_id: int | None, pod_id: int | None,
                  scanner: bool, outcome: str) -> None:
    """Queue the click event (written in batches, see :mod:`gll_mail.web.clicks`)."""
    current_app.extensions["gll_mail_clicks"].add(
        type=EventType.CLICK.value, subscriber_id=subscriber_id, campaign_id=campaign_id, resource_id=resource_id,
        pod_id=pod_id, is_bot=scanner, data={"method": request.method, "outcome": str(outcome),
                                             "user_agent": request.headers.get("User-Agent", "")[:300]})


def _gate_page(gate: Gate, outcome: Outcome, pod_slug: str | None, form=None, status: int = 200):
    language = page_language(gate.subscriber)
    if outcome is Outcome.REGISTER:
        form = form or registration.RegistrationForm(
            email=gate.subscriber.email, name=gate.subscriber.name, country=gate.subscriber.country,
            organization=gate.subscriber.organization, role=gate.subscriber.role, language=language)
        return page("register.html", status, language=language, form=form, fixed_email=True,
                    resource=gate.resource, pod=gate.pod, action=request.path)
    if outcome is Outcome.JOIN_POD:
        pod = gate.pod if gate.pod is not None and gate.pod.slug == pod_slug else None
        if pod is None:
            from gll_mail.catalog import get_pod

            with _session() as session:
                pod = get_pod(session, pod_slug)
        if gate.resource is not None and gate.resource.url:
            parts = urlsplit(gate.resource.url)
            allow_form_target(f"{parts.scheme}://{parts.netloc}")
        return page("join_pod.html", language=language, pod=pod, resource=gate.resource, action=request.path)
    manage_path = _local(links.manage_url(_settings(), gate.subscriber.public_id))
    return page("in_pod.html", language=language, pod=gate.pod, manage_url=manage_path)


def _gated(purpose: str, token: str):
    data = _token(purpose, token)
    scanner = is_scanner(request.method, request.headers.get("User-Agent"))
    if request.method != "POST":
        with current_app.extensions["gll_mail"]["engine"].connect() as connection:
            quick = quick_gate(connection, data)
        if quick is not None and quick.decision.outcome is Outcome.OPEN:
            _record_click(quick.subscriber_id, quick.campaign_id, quick.resource.id, None, scanner, Outcome.OPEN)
            return _open_resource(quick.resource)
    with _session() as session:
        try:
            gate = load_gate(session, data)
        except GateNotFound:
            raise PageError(404) from None
        decision = gate.decision()
        g.language = page_language(gate.subscriber)
        if request.method == "POST":
            return _gated_post(session, gate, decision)
        _record_click(gate.subscriber.id, gate.campaign_id, gate.resource.id if gate.resource else None,
                      gate.pod.id if gate.pod else None, scanner, decision.outcome)
    if decision.outcome is Outcome.OPEN:
        return _open_resource(gate.resource)
    return _gate_page(gate, decision.outcome, decision.pod_slug)


def _gated_post(session, gate: Gate, decision):
    check_csrf()
    if decision.outcome is Outcome.REGISTER:
        limit_shared("register", _settings().register_rate_limit, 3600)
        form = registration.read_form(request.form, fixed_email=gate.subscriber.email,
                                      default_language=g.language)
        if not form.ok:
            return _gate_page(gate, decision.outcome, decision.pod_slug, form=form, status=400)
        started = registration.start_registration(
            session, _settings(), form, ip=client_ip(), subscriber=gate.subscriber,
            resource_slug=gate.resource.slug if gate.resource else None,
            pod_slug=gate.pod.slug if gate.pod else None, campaign_id=gate.campaign_id)
        session.commit()
        return _send_confirmation(started, form.language)
    if decision.outcome is Outcome.JOIN_POD and request.form.get("action") == "join":
        membership.join(session, gate.subscriber, decision.pod_slug, source="web",
                        campaign_id=gate.campaign_id)
    session.commit()
    return redirect(request.path, 303)


def _send_confirmation(started: registration.Started, language: str):
    times = current_app.extensions["gll_mail_send_times"]
    began = time.monotonic()
    if started.subscriber is not None:
        try:
            registration.send_confirmation(_settings(), started.subscriber, started.confirm_url)
        except Exception:  # noqa: BLE001 - any SMTP failure: tell the person to retry later
            log.exception("could not send a confirmation email")
            return page("message.html", 503, language=language, title_key="send_failed_title",
                        text_key="send_failed_text")
        times.record(time.monotonic() - began)
    else:
        times.pad(began)  # no email: answer when one would have been sent
    return page("message.html", language=language, title_key="check_email_title", text_key="check_email_text")


@bp.route("/r/<token>", methods=["GET", "HEAD", "POST"])
def resource_link(token: str):
    return _gated("gate", token)


@bp.route("/p/<token>", methods=["GET", "HEAD", "POST"])
def pod_link(token: str):
    return _gated("join-pod", token)


# --- public registration and confirmation ------------------------------------------------------

@bp.route("/register", methods=["GET", "POST"])
def register():
    language = page_language()
    if request.method != "POST":
        return page("register.html", language=language, form=registration.RegistrationForm(language=language),
                    fixed_email=False, resource=None, pod=None, action=request.path)
    check_csrf()
    limit_shared("register", _settings().register_rate_limit, 3600)
    form = registration.read_form(request.form, default_language=language)
    if not form.ok:
        return page("register.html", 400, language=language, form=form, fixed_email=False, resource=None,
                    pod=None, action=request.path)
    with _session() as session:
        started = registration.start_registration(session, _settings(), form, ip=client_ip())
    return _send_confirmation(started, form.language)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    data = _token("confirm", token)
    with _session() as session:
        try:
            subscriber = load_subscriber(session, data.subject)
        except GateNotFound:
            raise PageError(404) from None
        pending_language = (subscriber.attributes or {}).get(registration.PENDING, {}).get("language")
        language = page_language(subscriber)
        if pending_language in LANGUAGES and request.args.get("lang") not in LANGUAGES:
            language = pending_language
        if request.method != "POST":
            return page("confirm.html", language=language, action=request.path)
        check_csrf()
        try:
            done = registration.confirm(session, data, ip=client_ip())
        except registration.ConfirmError:
            raise PageError(404) from None
    settings = _settings()
    if done.resource_slug:
        return redirect(_local(links.gate_url(settings, done.subscriber.public_id, done.resource_slug,
                                              done.campaign_id)), 303)
    if done.pod_slug:
        return redirect(_local(links.join_pod_url(settings, done.subscriber.public_id, done.pod_slug,
                                                  campaign_id=done.campaign_id)), 303)
    return page("message.html", language=done.subscriber.language, title_key="confirmed_title",
                text_key="confirmed_text",
                link=(_local(links.manage_url(settings, done.subscriber.public_id)), "manage_link"))


# --- manage ------------------------------------------------------------------------------------

MANAGE_ACTIONS = ("topics", "pods", "language", "pause", "resume", "unsubscribe", "resubscribe", "export",
                  "delete-ask", "delete")


@bp.route("/m/<token>", methods=["GET", "POST"])
def manage_page(token: str):
    data = _token("manage", token)
    with _session() as session:
        try:
            subscriber = load_subscriber(session, data.subject)
        except GateNotFound:
            raise PageError(404) from None
        if request.method == "POST":
            return _manage_post(session, subscriber, linked_campaign(session.connection(), data.extra.get("c")))
        view = preferences.overview(session, subscriber)
        language = page_language(subscriber)
        return page("manage.html", language=language, subscriber=subscriber, view=view, action=request.path,
                    done=request.args.get("done", ""))


def _manage_post(session, subscriber: Subscriber, campaign_id: int | None):
    check_csrf()
    action = request.form.get("action", "")
    if action not in MANAGE_ACTIONS:
        abort(400)
    source = "web"
    language = page_language(subscriber)
    if action == "export":
        body = json.dumps(preferences.export_data(session, subscriber), ensure_ascii=False, indent=2)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": 'attachment; filename="gll-my-data.json"'})
    if action == "delete-ask":
        return page("delete.html", language=language, action=request.path)
    if action == "delete":
        preferences.delete_account(session, subscriber, source=source)
        return page("message.html", language=language, title_key="deleted_title", text_key="deleted_text")
    changed = 0
    if action == "topics":
        changed = preferences.set_topics(session, subscriber, request.form.getlist("topic")[:100], source=source)
    elif action == "pods":
        changed = preferences.set_pods(session, subscriber, request.form.getlist("pod")[:100], source=source)
    elif action == "language":
        try:
            changed = preferences.set_language(session, subscriber, request.form.get("language", "")[:20], source=source)
        except ValueError:
            abort(400)
    elif action in ("pause", "resume"):
        changed = preferences.set_paused(session, subscriber, action == "pause", source=source)
    elif action == "unsubscribe":
        changed = preferences.unsubscribe(session, subscriber, source=source, campaign_id=campaign_id)
    elif action == "resubscribe":
        changed = preferences.resubscribe(session, subscriber, source=source)
    return redirect(f"{request.path}?done={'saved' if changed else 'same'}", 303)


# --- unsubscribe (RFC 8058 one-click and RFC 2369) ---------------------------------------------

@bp.route("/u/<token>", methods=["GET", "HEAD", "POST"])
def unsubscribe(token: str):
    # RFC 8058 POSTs arrive from Gmail's or Yahoo's servers on behalf of many members at once: a
    # 429 there would lose an unsubscribe, so they get their own, much larger allowance
    data = (_token("unsubscribe", token, bucket="one-click", allowance=ONE_CLICK_ALLOWANCE)
            if request.method == "POST" else _token("unsubscribe", token))
    settings = _settings()
    with _session() as session:
        try:
            subscriber = load_subscriber(session, data.subject)
        except GateNotFound:
            raise PageError(404) from None
        language = page_language(subscriber)
        if request.method != "POST":
            manage_path = _local(links.manage_url(settings, subscriber.public_id))
            return page("unsubscribe.html", language=language, action=request.path, manage_url=manage_path)
        one_click = request.form.get("List-Unsubscribe", "") == "One-Click"
        preferences.unsubscribe(session, subscriber, source="one-click" if one_click else "web",
                           campaign_id=linked_campaign(session.connection(), data.extra.get("c")))
    return page("message.html", language=language, title_key="unsubscribed_title", text_key="unsubscribed_text")
