"""Registration with double opt-in: the public form (``/register``) and the confirm link (``/confirm/``).

A thin shell over :mod:`gll_mail.members.registration`. The form's answers wait until the member
presses "Confirm" on the page their confirmation email links to.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, redirect, request

from gll_mail import links
from gll_mail.languages import LANGUAGES
from gll_mail.members import registration
from gll_mail.web import context
from gll_mail.web.lookup import member_or_404, read_link
from gll_mail.web.pages import PageError, local_path, page, page_language
from gll_mail.web.security import check_csrf, client_ip
from gll_mail.web.throttle import limit_shared

bp = Blueprint("registration", __name__)
log = logging.getLogger(__name__)


def send_confirmation(started: registration.Started, language: str):
    """Send the confirmation email (if the registration calls for one) and answer "check your email";
    a request that sends none answers no sooner than a typical send (:class:`~gll_mail.web.security.SendTimes`)."""
    times = context.send_times()
    began = time.monotonic()
    if started.subscriber is not None:
        try:
            registration.send_confirmation(context.settings(), started.subscriber, started.confirm_url)
        except Exception:
            log.exception("could not send a confirmation email")
            return page("message.html", 503, language=language, message="send-failed")
        times.record(time.monotonic() - began)
    else:
        times.pad(began)  # no email: answer when one would have been sent
    return page("message.html", language=language, message="check-email", confirm_days=registration.CONFIRM_LINK_DAYS)


@bp.get("/")
def home():
    """The site's front page is the public registration form."""
    return _public_form(page_language(), "/register")


def _public_form(language: str, action: str):
    """The registration form as anyone reaches it, with no gated link behind it."""
    return page(
        "register.html",
        language=language,
        form=registration.RegistrationForm(language=language),
        fixed_email=False,
        resource=None,
        pod=None,
        action=action,
    )


@bp.route("/register", methods=["GET", "POST"])
def register():
    language = page_language()
    if request.method != "POST":
        return _public_form(language, request.path)
    check_csrf()
    limit_shared("register", context.settings().register_rate_limit, 3600)
    form = registration.read_form(request.form, default_language=language)
    if not form.ok:
        return page(
            "register.html",
            400,
            language=language,
            form=form,
            fixed_email=False,
            resource=None,
            pod=None,
            action=request.path,
        )
    with context.session() as session:
        started = registration.start_registration(session, context.settings(), form, ip=client_ip())
    return send_confirmation(started, form.language)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    data = read_link("confirm", token)
    with context.session() as session:
        subscriber = member_or_404(session, data)
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
    settings = context.settings()
    if done.resource_slug:
        return redirect(
            local_path(links.gate_url(settings, done.subscriber.public_id, done.resource_slug, done.campaign_id)), 303
        )
    if done.pod_slug:
        return redirect(
            local_path(
                links.join_pod_url(settings, done.subscriber.public_id, done.pod_slug, campaign_id=done.campaign_id)
            ),
            303,
        )
    return page(
        "message.html",
        language=done.subscriber.language,
        message="confirmed",
        link=local_path(links.manage_url(settings, done.subscriber.public_id, language=done.subscriber.language)),
    )
