"""From a link's token to what it names: the checked token data, and the member it was minted for."""

from __future__ import annotations

from flask import g, request
from sqlmodel import Session

from gll_mail.languages import LANGUAGES
from gll_mail.members.gate import GateNotFound, load_subscriber
from gll_mail.models import Subscriber
from gll_mail.tokens import TokenData, TokenError, TokenWrongPurpose, read_token
from gll_mail.web import context
from gll_mail.web.pages import PageError
from gll_mail.web.throttle import limit

ONE_CLICK_ALLOWANCE = 20  # times the links allowance: one-click POSTs come from a few mailbox providers' hosts


def read_link(purpose: str, token: str, *, bucket: str = "links", allowance: int = 1) -> TokenData:
    """The token's data, after counting the request against the client's allowance; else an error page
    (400 damaged or for another purpose, 410 expired)."""
    limit(bucket, context.settings().web_rate_limit * allowance, 60)
    try:
        return read_token(context.settings(), purpose, token)
    except TokenWrongPurpose:
        raise PageError(400, "wrong") from None
    except TokenError as exc:
        raise PageError(exc.status, str(exc.status)) from None


def member_or_404(session: Session, data: TokenData) -> Subscriber:
    """The member the token was minted for, or the 404 page (deleted or never existed), in the language
    the token carries (``l``) when it carries one: a deleted account's links answer in its language."""
    try:
        return load_subscriber(session, data.subject)
    except GateNotFound:
        carried = data.extra.get("l")
        if carried in LANGUAGES and request.args.get("lang") not in LANGUAGES:
            g.language = carried
        raise PageError(404) from None
