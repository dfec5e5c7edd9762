"""Signed tokens: key rotation, purpose scoping, expiry and tampering."""

from __future__ import annotations

import time

import pytest

from gll_mail.tokens import (
    TokenExpired,
    TokenInvalid,
    TokenWrongPurpose,
    make_token,
    make_verp_token,
    read_token,
    read_verp_token,
)

OLD, NEW = "old-secret-key-0123456789abcdefghijklmnopq", "new-secret-key-0123456789abcdefghijklmnopq"


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
    token = make_token(settings, "confirm", "pub-1")
    time.sleep(1.1)
    with pytest.raises(TokenExpired):
        read_token(settings, "confirm", token, max_age=0)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "", "x" * 2000, "not.a.token"):
        with pytest.raises(TokenInvalid):
            read_token(settings, "confirm", bad)


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
