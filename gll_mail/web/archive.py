"""``/a/<token>``: the web version of a campaign email ("View this email in your browser").

Rendered for the member exactly as mailed (their language, name and signed links), from the
campaign's source file. Read-only. The email's own inline styles need a looser style policy than
the member pages; scripts stay forbidden.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, g
from sqlmodel import select

from gll_mail.campaigns.sources import SourceError, find_source
from gll_mail.catalog import member_pods
from gll_mail.members.gate import GateNotFound, load_subscriber
from gll_mail.models import Campaign

bp = Blueprint("archive", __name__)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https:; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
_renderers: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _renderer(settings, session, source, campaign):
    from gll_mail.campaigns.render import CampaignRenderer

    key = (id(current_app), source.slug, source.source_hash)
    with _lock:
        if key in _renderers:
            _renderers.move_to_end(key)
            return _renderers[key]
    renderer = CampaignRenderer(settings, session, source, campaign)  # compiles MJML once per campaign
    with _lock:
        _renderers[key] = renderer
        while len(_renderers) > 8:
            _renderers.popitem(last=False)
    return renderer


@bp.route("/a/<token>", methods=["GET", "HEAD"])
def web_version(token: str):
    from gll_mail.campaigns.render import Recipient
    from gll_mail.web.members import PageError, _session, _settings, _token

    data = _token("archive", token)
    slug = data.extra.get("c")
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise PageError(404)
    settings = _settings()
    with _session() as session:
        try:
            subscriber = load_subscriber(session, data.subject)
        except GateNotFound:
            raise PageError(404) from None
        campaign = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
        if campaign is None:
            raise PageError(404)
        try:
            source = find_source(settings, slug)
        except SourceError:
            raise PageError(404) from None
        pods = tuple(p.slug for p in member_pods(session, subscriber))
        message = _renderer(settings, session, source, campaign).render(
            Recipient(subscriber.public_id, subscriber.email, subscriber.name, subscriber.language, pods))
    g.csp = CSP
    response = Response(message.html, mimetype="text/html")
    response.headers["Content-Language"] = message.language
    return response
