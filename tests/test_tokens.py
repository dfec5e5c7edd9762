"""Signed tokens: key rotation, purpose scoping, expiry and tampering; the render path's minter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from gll_mail.tokens import (
    MAX_AGE,
    TokenExpired,
    TokenInvalid,
    TokenMinter,
    TokenWrongPurpose,
    make_token,
    make_verp_token,
    read_token,
    read_verp_token,
)

OLD, NEW = "old-secret-key-0123456789abcdefghijklmnopq", "new-secret-key-0123456789abcdefghijklmnopq"
T0 = datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)  # 1_750_000_000


def test_rotation_newest_key_signs_every_listed_key_verifies(settings):
    before = settings.replace(secret_keys=(OLD,))
    rotated = settings.replace(secret_keys=(NEW, OLD))
    after = settings.replace(secret_keys=(NEW,))
    old_link = make_token(before, "gate", "pub-1", r="toolkit")
    # emails already sent keep working while the old key is still listed
    data = read_token(rotated, "gate", old_link)
    assert (data.subject, data.extra) == ("pub-1", {"r": "toolkit"})
    new_link = make_token(rotated, "gate", "pub-1", r="toolkit")
    assert read_token(after, "gate", new_link).subject == "pub-1"  # signed with the newest key
    with pytest.raises(TokenInvalid):
        read_token(before, "gate", new_link)
    with pytest.raises(TokenInvalid):  # the old key dropped: its links stop working
        read_token(after, "gate", old_link)
    verp = make_verp_token(before, 42)
    assert read_verp_token(rotated, verp) == 42


def test_a_token_is_valid_for_its_purpose_only(settings):
    unsubscribe = make_token(settings, "unsubscribe", "pub-1")
    with pytest.raises(TokenWrongPurpose):
        read_token(settings, "manage", unsubscribe)
    assert read_token(settings, "unsubscribe", unsubscribe).subject == "pub-1"


def test_expired_and_tampered_tokens_are_refused(settings):
    token = make_token(settings, "confirm", "pub-1", now=T0)
    assert read_token(settings, "confirm", token, now=T0).issued_at == T0
    with pytest.raises(TokenExpired):
        read_token(settings, "confirm", token, max_age=0, now=T0 + timedelta(seconds=1))
    last_valid = T0 + timedelta(seconds=MAX_AGE["confirm"])
    assert read_token(settings, "confirm", token, now=last_valid).subject == "pub-1"
    with pytest.raises(TokenExpired):
        read_token(settings, "confirm", token, now=last_valid + timedelta(seconds=1))
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "", "x" * 2000, "not.a.token"):
        with pytest.raises(TokenInvalid):
            read_token(settings, "confirm", bad)


def plain(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"gll-mail.{purpose}")


@pytest.mark.parametrize("subject", ["Zx81_kq-PUBLICid0000000", 'odd "id" é/'])
def test_minted_tokens_are_plain_itsdangerous_tokens(settings, subject):
    rotated = settings.replace(secret_keys=(NEW, OLD))
    minter = TokenMinter(rotated, clock=lambda: T0.timestamp() + 0.75)
    shapes = [
        minter.shape("gate", r="compassion-tools", c=42),
        minter.shape("join-pod", p="ipc", r=None, c=42),
        minter.shape("manage"),
        minter.shape("archive", c="2019-06-compassion-reports"),
    ]
    gate, pod, manage, archive = minter.mint(shapes, subject)
    # plain itsdangerous, newest key, reads them …
    payload, signed_at = plain(NEW, "gate").loads(gate, return_timestamp=True)
    assert payload == {"s": subject, "r": "compassion-tools", "c": 42} and signed_at == T0
    assert plain(NEW, "join-pod").loads(pod) == {"s": subject, "p": "ipc", "c": 42}
    assert plain(NEW, "manage").loads(manage) == {"s": subject}
    assert read_token(rotated, "archive", archive, now=T0).extra == {"c": "2019-06-compassion-reports"}
    with pytest.raises(TokenWrongPurpose):
        read_token(rotated, "unsubscribe", manage, now=T0)
    # … and they are the very tokens itsdangerous makes at that second
    assert gate == make_token(rotated, "gate", subject, r="compassion-tools", c=42, now=T0)
    assert manage == make_token(rotated, "manage", subject, now=T0)


def test_plain_itsdangerous_tokens_are_read(settings):
    token = plain(NEW, "unsubscribe").dumps({"s": "pub-1", "c": 7})
    data = read_token(settings.replace(secret_keys=(NEW,)), "unsubscribe", token)
    assert (data.subject, data.extra) == ("pub-1", {"c": 7})
    long_extra = {"s": "pub-2", "r": "x" * 300}  # long enough for itsdangerous to compress it
    compressed = plain(NEW, "gate").dumps(long_extra)
    assert compressed.startswith(".")
    assert read_token(settings.replace(secret_keys=(NEW,)), "gate", compressed).extra == {"r": "x" * 300}


def now_dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_minter_stamps_the_clock_second(settings):
    now = [T0.timestamp()]
    minter = TokenMinter(settings, clock=lambda: now[0])
    shape = minter.shape("manage")
    first = minter.mint([shape], "pub-1")[0]
    now[0] += 3600
    later = minter.mint([shape], "pub-1")[0]
    assert read_token(settings, "manage", first, now=T0).issued_at == T0
    assert read_token(settings, "manage", later, now=now_dt(now[0])).issued_at == T0 + timedelta(hours=1)


# Minted by the renderer's own HMAC code before tokens.TokenMinter replaced it (key "legacy-key-" × 4,
# campaign 42, at T0): links in emails already sent must keep opening.
LEGACY_KEY = "legacy-key-" * 4
LEGACY_LINKS = {
    "gate": (
        "eyJzIjoiWng4MV9rcS1QVUJMSUNpZDAwMDAwMDAiLCJyIjoiY29tcGFzc2lvbi10b29scyIsImMiOjQyfQ.aE7hgA."
        "Km3w4F8gNTKrisk99BfP37hF83g",
        "Zx81_kq-PUBLICid0000000",
        {"r": "compassion-tools", "c": 42},
    ),
    "join-pod": (
        "eyJzIjoiWng4MV9rcS1QVUJMSUNpZDAwMDAwMDAiLCJwIjoiaXBjIiwiYyI6NDJ9.aE7hgA.cTdeyLkGLwYASpKcm2J7l1Paffw",
        "Zx81_kq-PUBLICid0000000",
        {"p": "ipc", "c": 42},
    ),
    "unsubscribe": (
        "eyJzIjoiWng4MV9rcS1QVUJMSUNpZDAwMDAwMDAiLCJjIjo0Mn0.aE7hgA.teBJ1YAj7moHeOy4qQulz7TIfKM",
        "Zx81_kq-PUBLICid0000000",
        {"c": 42},
    ),
    "archive": (
        "eyJzIjoiWng4MV9rcS1QVUJMSUNpZDAwMDAwMDAiLCJjIjoiY2FtcCJ9.aE7hgA.TWltGEpjp4ws1OiaKPuUWeulVL8",
        "Zx81_kq-PUBLICid0000000",
        {"c": "camp"},
    ),
}
LEGACY_ODD_ID = (
    "eyJzIjoib2RkIFwiaWRcIiDDqS8iLCJyIjoiY29tcGFzc2lvbi10b29scyIsImMiOjQyfQ.aE7hgA.2WTG2abLB-kFen-d3vkbn8NTPxs"
)


def test_links_minted_by_the_old_renderer_still_open(settings):
    legacy = settings.replace(secret_keys=(NEW, LEGACY_KEY))  # rotated since: the old key still verifies
    a_year_later = T0 + timedelta(days=365)
    for purpose, (token, subject, extra) in LEGACY_LINKS.items():
        data = read_token(legacy, purpose, token, now=a_year_later)
        assert (data.subject, data.extra, data.issued_at) == (subject, extra, T0)
    assert read_token(legacy, "gate", LEGACY_ODD_ID, now=T0).subject == 'odd "id" é/'
    # the old format is today's: the new minter makes the same string at the same second
    same = TokenMinter(settings.replace(secret_keys=(LEGACY_KEY,)), clock=T0.timestamp)
    assert same.mint([same.shape("gate", r="compassion-tools", c=42)], "Zx81_kq-PUBLICid0000000") == [
        LEGACY_LINKS["gate"][0]
    ]


def test_verp_tokens_carry_their_kind_and_are_signed(settings):
    from gll_mail.tokens import TokenInvalid, make_verp_token, read_verp, read_verp_token

    for kind, number in (("delivery", 123456), ("member", 42), ("test", 7)):
        token = make_verp_token(settings, number, kind=kind)
        assert len(f"bounces+{token}") <= 64 and token == token.lower()
        assert (read_verp(settings, token).kind, read_verp(settings, token).id) == (kind, number)
    assert read_verp_token(settings, make_verp_token(settings, 5)) == 5
    member = make_verp_token(settings, 5, kind="member")
    with pytest.raises(TokenInvalid):
        read_verp_token(settings, member)  # a member's token is never read as delivery 5's
    with pytest.raises(TokenInvalid):
        read_verp(settings, "t" + member[1:])  # the kind is signed too
