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

from gll_mail.campaigns.render import CampaignRenderer, Recipient
from gll_mail.campaigns.sources import SourceError, find_source
from gll_mail.catalog import member_pods
from gll_mail.models import Campaign
from gll_mail.web import context
from gll_mail.web.lookup import member_or_404, read_link
from gll_mail.web.pages import PageError

bp = Blueprint("archive", __name__)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_renderers: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _renderer(settings, session, source, campaign):
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
    data = read_link("archive", token)
    slug = data.extra.get("c")
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise PageError(404)
    settings = context.settings()
    with context.session() as session:
        subscriber = member_or_404(session, data)
        campaign = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
        if campaign is None:
            raise PageError(404)
        try:
            source = find_source(settings, slug)
        except SourceError:
            raise PageError(404) from None
        pods = tuple(p.slug for p in member_pods(session, subscriber))
        message = _renderer(settings, session, source, campaign).render(
            Recipient(subscriber.public_id, subscriber.email, subscriber.name, subscriber.language, pods)
        )
    g.csp = CSP
    response = Response(message.html, mimetype="text/html")
    response.headers["Content-Language"] = message.language
    return response
