"""``/o/<token>.gif``: the optional open-tracking pixel (GLL_MAIL_OPEN_TRACKING; off by default).

Always answers the same 1×1 transparent GIF, whatever the token, so it reveals nothing. A valid
token records an ``open`` event (analytics only: no member state changes). HEAD requests record
nothing; known scanner and image-proxy agents are recorded as bots. Reports label opens unreliable.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from gll_mail.events import SCANNER_AGENTS, record_event
from gll_mail.members.gate import GateNotFound, load_subscriber
from gll_mail.models import Campaign, EventType
from gll_mail.tokens import TokenError, read_token
from gll_mail.web import context

bp = Blueprint("tracking", __name__)

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@bp.route("/o/<token>.gif", methods=["GET", "HEAD"])
def open_pixel(token: str) -> Response:
    settings = context.settings()
    if settings.open_tracking and request.method == "GET":
        try:
            data = read_token(settings, "open", token)
        except TokenError:
            data = None
        if data is not None:
            agent = request.headers.get("User-Agent", "")[:300]
            with context.session() as session:
                try:
                    subscriber = load_subscriber(session, data.subject)
                except GateNotFound:
                    subscriber = None
                campaign_id = data.extra.get("c")
                if subscriber is not None and (campaign_id is None or session.get(Campaign, campaign_id)):
                    record_event(
                        session,
                        EventType.OPEN,
                        subscriber=subscriber,
                        source="web",
                        campaign_id=campaign_id,
                        is_bot=bool(SCANNER_AGENTS.search(agent)),
                        user_agent=agent,
                    )
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
