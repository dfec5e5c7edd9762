"""The URLs members get, in one place: what render puts in emails and what the web answers.

| purpose      | path              | token payload                                   |
|--------------|-------------------|-------------------------------------------------|
| gate         | /r/<token>        | s=public id, r=resource slug, c=campaign id      |
| join-pod     | /p/<token>        | s=public id, p=pod slug, r=resource slug (opt.)  |
| manage       | /m/<token>        | s=public id, c=campaign id (optional), l=language (optional: the pages of a deleted account) |
| unsubscribe  | /u/<token>        | s=public id, c=campaign id (optional), l=language (optional) |
| archive      | /a/<token>        | s=public id, c=campaign slug                     |
| confirm      | /confirm/<token>  | s=public id, n=the request it confirms, r=resource / p=pod slug, c=campaign (opt.) |
| open         | /o/<token>.gif    | s=public id, c=campaign id (only with GLL_MAIL_OPEN_TRACKING) |
"""

from __future__ import annotations

from collections.abc import Callable

from gll_mail.settings import Settings
from gll_mail.tokens import TokenMinter, TokenShape, make_token

# A campaign body's link schemes (and the layout's links): the token purpose and the path each opens.
LINK_PATHS: dict[str, tuple[str, str]] = {
    "resource": ("gate", "/r/"),
    "pod": ("join-pod", "/p/"),
    "manage": ("manage", "/m/"),
    "unsubscribe": ("unsubscribe", "/u/"),
    "archive": ("archive", "/a/"),
}


def gate_url(settings: Settings, public_id: str, resource_slug: str, campaign_id: int | None = None) -> str:
    return settings.url_for(f"/r/{make_token(settings, 'gate', public_id, r=resource_slug, c=campaign_id)}")


def join_pod_url(
    settings: Settings, public_id: str, pod_slug: str, resource_slug: str | None = None, campaign_id: int | None = None
) -> str:
    token = make_token(settings, "join-pod", public_id, p=pod_slug, r=resource_slug, c=campaign_id)
    return settings.url_for(f"/p/{token}")


def manage_url(settings: Settings, public_id: str, campaign_id: int | None = None, language: str | None = None) -> str:
    return settings.url_for(f"/m/{make_token(settings, 'manage', public_id, c=campaign_id, l=language)}")


def unsubscribe_url(
    settings: Settings, public_id: str, campaign_id: int | None = None, language: str | None = None
) -> str:
    return settings.url_for(f"/u/{make_token(settings, 'unsubscribe', public_id, c=campaign_id, l=language)}")


def archive_url(settings: Settings, public_id: str, campaign_slug: str) -> str:
    return settings.url_for(f"/a/{make_token(settings, 'archive', public_id, c=campaign_slug)}")


def confirm_url(
    settings: Settings,
    public_id: str,
    resource_slug: str | None = None,
    pod_slug: str | None = None,
    campaign_id: int | None = None,
    nonce: str | None = None,
) -> str:
    token = make_token(settings, "confirm", public_id, r=resource_slug, p=pod_slug, c=campaign_id, n=nonce)
    return settings.url_for(f"/confirm/{token}")


def unsubscribe_mailto(settings: Settings, public_id: str, campaign_id: int | None = None) -> str:
    """The mailto: half of List-Unsubscribe (RFC 2369), answered by the bounce intake."""
    token = make_token(settings, "unsubscribe", public_id, c=campaign_id)
    return f"mailto:unsubscribe@{settings.bounce_domain}?subject=unsubscribe%20{token}"


def open_pixel_url(settings: Settings, public_id: str, campaign_id: int | None) -> str:
    """The optional open-tracking pixel (off by default; see GLL_MAIL_OPEN_TRACKING)."""
    return settings.url_for(f"/o/{make_token(settings, 'open', public_id, c=campaign_id)}.gif")


class CampaignLinks:
    """Every recipient's personal links in one campaign, minted at render speed.

    A link key is what a campaign body names: ``resource:SLUG``, ``pod:SLUG``, ``manage``,
    ``unsubscribe``, ``archive``. The URLs equal those of :func:`gate_url`, :func:`join_pod_url`,
    :func:`manage_url`, :func:`unsubscribe_url` and :func:`archive_url` minted at the same second.
    """

    def __init__(
        self,
        settings: Settings,
        campaign_id: int | None,
        campaign_slug: str,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._minter = TokenMinter(settings, clock=clock)
        self._base = settings.base_url.rstrip("/")
        self.campaign_id = campaign_id
        self.campaign_slug = campaign_slug
        self._shapes: dict[tuple[tuple[str, ...], str | None], list[TokenShape]] = {}

    def _shape(self, key: str, language: str | None = None) -> TokenShape:
        """The token shape of a link key, its URL up to the token as prefix. Manage and unsubscribe
        links carry the recipient's language, so even a deleted account's pages answer in it."""
        kind, _, slug = key.partition(":")
        purpose, path = LINK_PATHS[kind]
        prefix = self._base + path
        if kind == "resource":
            return self._minter.shape(purpose, prefix=prefix, r=slug, c=self.campaign_id)
        if kind == "pod":
            return self._minter.shape(purpose, prefix=prefix, p=slug, c=self.campaign_id)
        if kind == "archive":
            return self._minter.shape(purpose, prefix=prefix, c=self.campaign_slug)
        # manage, unsubscribe: the campaign an unsubscribe is counted for
        return self._minter.shape(purpose, prefix=prefix, c=self.campaign_id, l=language)

    def url_list(self, keys: tuple[str, ...], public_id: str, language: str | None = None) -> list[str]:
        """The recipient's URLs for ``keys``, in order (the renderer's hot path)."""
        shapes = self._shapes.get((keys, language))
        if shapes is None:
            shapes = self._shapes[(keys, language)] = [self._shape(key, language) for key in keys]
        return self._minter.mint(shapes, public_id)

    def urls(self, keys: tuple[str, ...], public_id: str, language: str | None = None) -> dict[str, str]:
        """The recipient's URL for each link key."""
        return dict(zip(keys, self.url_list(keys, public_id, language), strict=False))

    def url(self, key: str, public_id: str, language: str | None = None) -> str:
        return self.url_list((key,), public_id, language)[0]
