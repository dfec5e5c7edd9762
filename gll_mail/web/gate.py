"""Gated links: ``/r/<token>`` (a resource) and ``/p/<token>`` (a learning pod).

A thin shell over :mod:`gll_mail.members.gate`: the resource, the registration form, the join-pod
page, or (for an archived resource) a page saying where it went. GET never changes member state (a click event is analytics, not state); registering and joining
are POSTs with a CSRF token.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, request, send_from_directory
from werkzeug.security import safe_join

from gll_mail import links
from gll_mail.catalog import get_pod
from gll_mail.events import is_scanner
from gll_mail.members import membership, registration
from gll_mail.members.gate import (
    Gate,
    GateNotFound,
    Outcome,
    ResourceInfo,
    load_gate,
    quick_gate,
)
from gll_mail.models import EventType
from gll_mail.web import context
from gll_mail.web.lookup import read_link
from gll_mail.web.pages import PageError, local_path, page, page_language
from gll_mail.web.registration import send_confirmation
from gll_mail.web.security import allow_form_target, check_csrf, client_ip
from gll_mail.web.throttle import limit_shared

bp = Blueprint("gate", __name__)


@bp.route("/r/<token>", methods=["GET", "HEAD", "POST"])
def resource_link(token: str):
    return _gated("gate", token)


@bp.route("/p/<token>", methods=["GET", "HEAD", "POST"])
def pod_link(token: str):
    return _gated("join-pod", token)


def _open_resource(resource: ResourceInfo):
    """Redirect to the resource's registered URL, or serve its file: never a URL from the request."""
    if resource.url:
        return redirect(resource.url, 302)
    resources_dir = Path(context.settings().resources_dir).resolve()
    if not resource.file_path or safe_join(str(resources_dir), resource.file_path) is None:
        raise PageError(404)
    if not (resources_dir / resource.file_path).is_file():
        raise PageError(404)
    return send_from_directory(resources_dir, resource.file_path, max_age=0)


def _record_click(
    subscriber_id: int,
    campaign_id: int | None,
    resource_id: int | None,
    pod_id: int | None,
    scanner: bool,
    outcome: str,
) -> None:
    """Queue the click event (written in batches, see :mod:`gll_mail.web.clicks`)."""
    context.clicks().add(
        type=EventType.CLICK.value,
        subscriber_id=subscriber_id,
        campaign_id=campaign_id,
        resource_id=resource_id,
        pod_id=pod_id,
        is_bot=scanner,
        data={
            "method": request.method,
            "outcome": str(outcome),
            "user_agent": request.headers.get("User-Agent", "")[:300],
        },
    )


def _gate_page(gate: Gate, outcome: Outcome, pod_slug: str | None, form=None, status: int = 200):
    language = page_language(gate.subscriber)
    if outcome is Outcome.REGISTER:
        form = form or registration.RegistrationForm(
            email=gate.subscriber.email,
            name=gate.subscriber.name,
            country=gate.subscriber.country,
            organization=gate.subscriber.organization,
            role=gate.subscriber.role,
            language=language,
        )
        return page(
            "register.html",
            status,
            language=language,
            form=form,
            fixed_email=True,
            resource=gate.resource,
            pod=gate.pod,
            action=request.path,
        )
    if outcome is Outcome.ARCHIVED:
        manage_path = local_path(
            links.manage_url(context.settings(), gate.subscriber.public_id, language=gate.subscriber.language)
        )
        return page("archived.html", 410, language=language, resource=gate.resource, manage_url=manage_path)
    if outcome is Outcome.POD_ARCHIVED:
        manage_path = local_path(
            links.manage_url(context.settings(), gate.subscriber.public_id, language=gate.subscriber.language)
        )
        with context.session() as session:
            pod = gate.pod if gate.pod is not None and gate.pod.slug == pod_slug else get_pod(session, pod_slug)
        return page("pod_archived.html", 410, language=language, pod=pod, manage_url=manage_path)
    if outcome is Outcome.JOIN_POD:
        pod = gate.pod if gate.pod is not None and gate.pod.slug == pod_slug else None
        if pod is None:
            with context.session() as session:
                pod = get_pod(session, pod_slug)
        if gate.resource is not None and gate.resource.url:
            parts = urlsplit(gate.resource.url)
            allow_form_target(f"{parts.scheme}://{parts.netloc}")
        return page("join_pod.html", language=language, pod=pod, resource=gate.resource, action=request.path)
    manage_path = local_path(
        links.manage_url(context.settings(), gate.subscriber.public_id, language=gate.subscriber.language)
    )
    return page("in_pod.html", language=language, pod=gate.pod, manage_url=manage_path)


def _gated(purpose: str, token: str):
    data = read_link(purpose, token)
    scanner = is_scanner(request.method, request.headers.get("User-Agent"))
    if request.method != "POST":
        with context.engine().connect() as connection:
            quick = quick_gate(connection, data)
        if quick is not None and quick.decision.outcome is Outcome.OPEN:
            _record_click(quick.subscriber_id, quick.campaign_id, quick.resource.id, None, scanner, Outcome.OPEN)
            return _open_resource(quick.resource)
    with context.session() as session:
        try:
            gate = load_gate(session, data)
        except GateNotFound:
            raise PageError(404) from None
        decision = gate.decision()
        g.language = page_language(gate.subscriber)
        if request.method == "POST":
            return _gated_post(session, gate, decision)
        _record_click(
            gate.subscriber.id,
            gate.campaign_id,
            gate.resource.id if gate.resource else None,
            gate.pod.id if gate.pod else None,
            scanner,
            decision.outcome,
        )
    if decision.outcome is Outcome.OPEN:
        return _open_resource(gate.resource)
    return _gate_page(gate, decision.outcome, decision.pod_slug)


def _gated_post(session, gate: Gate, decision):
    check_csrf()
    if decision.outcome is Outcome.REGISTER:
        limit_shared("register", context.settings().register_rate_limit, 3600)
        form = registration.read_form(request.form, fixed_email=gate.subscriber.email, default_language=g.language)
        if not form.ok:
            return _gate_page(gate, decision.outcome, decision.pod_slug, form=form, status=400)
        started = registration.start_registration(
            session,
            context.settings(),
            form,
            ip=client_ip(),
            subscriber=gate.subscriber,
            resource_slug=gate.resource.slug if gate.resource else None,
            pod_slug=gate.pod.slug if gate.pod else None,
            campaign_id=gate.campaign_id,
        )
        session.commit()
        return send_confirmation(started, form.language)
    if decision.outcome is Outcome.JOIN_POD and request.form.get("action") == "join":
        try:
            membership.join(session, gate.subscriber, decision.pod_slug, source="web", campaign_id=gate.campaign_id)
        except membership.PodArchived:  # archived meanwhile: the page now says so
            pass
    session.commit()
    return redirect(request.path, 303)
