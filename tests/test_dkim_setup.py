"""DKIM set-up: a key from `gll-mail dkim keygen`, its record served by a real DNS server over UDP,
checked with `gll-mail dkim check` (dkimpy verifies against what DNS served); and the preflight."""

from __future__ import annotations

import re
import stat

import pytest
from dns_support import TxtServer

from gll_mail.cli import main
from gll_mail.smtp.dkim import DkimError, DkimSigner
from gll_mail.smtp.dkim_setup import (
    TXT_CHUNK,
    check_published,
    fetch_txt,
    generate_key,
    zone_entry,
)

NAME = "gll2026._domainkey.who.int"


@pytest.fixture
def dns_server():
    with TxtServer() as server:
        yield server


def zone_strings(signer: DkimSigner) -> list[str]:
    """The quoted strings of the zone-file line, as a DNS operator would paste them."""
    return re.findall(r'"([^"]*)"', zone_entry(signer))


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_published_key_checks_out_over_real_dns(tmp_path, dns_server, algorithm):
    signer = generate_key(tmp_path / "dkim.pem", "gll2026", "who.int", algorithm)
    strings = zone_strings(signer)
    assert all(len(s) <= TXT_CHUNK for s in strings) and "".join(strings) == signer.public_dns_record()
    if algorithm == "rsa":
        assert len(strings) == 2  # an RSA-2048 record does not fit one string
    dns_server.records[NAME] = [strings]
    result = check_published(signer, dns_server.address)
    assert result.ok, result.errors
    assert result.record == signer.public_dns_record() and dns_server.questions == [NAME]
    # the file on disk is the key DNS now serves
    assert DkimSigner.from_file(tmp_path / "dkim.pem", "gll2026", "who.int").public_dns_record() == result.record


def test_keygen_never_overwrites_and_keeps_the_key_private(tmp_path):
    path = tmp_path / "dkim.pem"
    first = generate_key(path, "gll2026", "who.int")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(DkimError, match="never overwritten"):
        generate_key(path, "gll2026", "who.int")
    assert path.read_bytes() == before and first.algorithm == b"rsa-sha256"
    with pytest.raises(DkimError, match="SELECTOR"):
        generate_key(tmp_path / "other.pem", "bad selector;", "who.int")
    assert not (tmp_path / "other.pem").exists()


def test_wrong_missing_and_revoked_records_are_errors(tmp_path, dns_server):
    signer = generate_key(tmp_path / "dkim.pem", "gll2026", "who.int")
    result = check_published(signer, dns_server.address)
    assert not result.ok and "no TXT record" in result.errors[0] and result.record is None

    old = generate_key(tmp_path / "old.pem", "gll2026", "who.int")
    dns_server.records[NAME] = [zone_strings(old)]  # the key changed but DNS did not
    result = check_published(signer, dns_server.address)
    assert result.errors == [
        "the record publishes another key than GLL_MAIL_DKIM_KEY_FILE "
        "(a key changed without DNS, or a typo in the record)"
    ]

    dns_server.records[NAME] = [["v=DKIM1; k=rsa; p="]]
    assert "revoked" in check_published(signer, dns_server.address).errors[0]

    dns_server.records[NAME] = [zone_strings(signer), zone_strings(old)]
    assert "2 TXT records" in check_published(signer, dns_server.address).errors[0]

    ed = generate_key(tmp_path / "ed.pem", "gll2026", "who.int", "ed25519")
    dns_server.records[NAME] = [zone_strings(signer)]
    assert any("k=rsa" in e for e in check_published(ed, dns_server.address).errors)


def test_testing_flag_is_a_warning(tmp_path, dns_server):
    signer = generate_key(tmp_path / "dkim.pem", "gll2026", "who.int")
    value = signer.public_dns_record().replace("k=rsa;", "k=rsa; t=y;")
    dns_server.records[NAME] = [[value[:200], value[200:]]]
    result = check_published(signer, dns_server.address)
    assert result.ok and "t=y" in result.warnings[0]


def test_dns_that_does_not_answer_is_a_clear_error(dns_server):
    dns_server.silent = True
    with pytest.raises(DkimError, match="DNS did not answer"):
        fetch_txt(NAME, dns_server.address, timeout=0.5)
    with pytest.raises(DkimError, match="IP address"):
        fetch_txt(NAME, "dns.example.org")


def test_cli_keygen_record_and_check(runner, tmp_path, dns_server, monkeypatch):
    made = runner.invoke(main, ["dkim", "keygen", "dkim.pem", "--selector", "gll2026", "--domain", "who.int"])
    assert made.exit_code == 0, made.output
    assert f"at {NAME}:" in made.output and "GLL_MAIL_DKIM_KEY_FILE=dkim.pem" in made.output
    again = runner.invoke(main, ["dkim", "keygen", "dkim.pem", "--selector", "gll2026", "--domain", "who.int"])
    assert again.exit_code == 1 and "never overwritten" in again.output and "Traceback" not in again.output

    off = runner.invoke(main, ["dkim", "record"])
    assert off.exit_code == 1 and "GLL_MAIL_DKIM_KEY_FILE is not set" in off.output

    monkeypatch.setenv("GLL_MAIL_DKIM_KEY_FILE", str(tmp_path / "dkim.pem"))
    monkeypatch.setenv("GLL_MAIL_DKIM_SELECTOR", "gll2026")
    monkeypatch.setenv("GLL_MAIL_DKIM_DOMAIN", "who.int")
    record = runner.invoke(main, ["dkim", "record"])
    assert record.exit_code == 0 and record.output.strip() in made.output and "IN TXT (" in record.output

    failed = runner.invoke(main, ["dkim", "check", "--nameserver", dns_server.address])
    assert failed.exit_code == 1 and "no TXT record" in failed.stderr and "1 error(s)" in failed.stderr

    signer = DkimSigner.from_file(tmp_path / "dkim.pem", "gll2026", "who.int")
    dns_server.records[NAME] = [zone_strings(signer)]
    passed = runner.invoke(main, ["dkim", "check", "--nameserver", dns_server.address])
    assert passed.exit_code == 0, passed.output
    assert "OK: gll2026._domainkey.who.int publishes our rsa-sha256 key" in passed.stdout
    assert passed.stderr == ""  # the default From address is in who.int

    monkeypatch.setenv("GLL_MAIL_FROM", "GLL <news@gll.example.org>")
    misaligned = runner.invoke(main, ["dkim", "check", "--nameserver", dns_server.address])
    assert misaligned.exit_code == 0 and "DMARC will not count" in misaligned.stderr


def test_cli_keygen_record_and_check_both_keys_of_dual_signing(runner, tmp_path, dns_server, monkeypatch):
    rsa_made = runner.invoke(main, ["dkim", "keygen", "rsa.pem", "--selector", "gll2026", "--domain", "who.int"])
    ed_made = runner.invoke(
        main, ["dkim", "keygen", "ed.pem", "--selector", "gll2026e", "--domain", "who.int", "--algorithm", "ed25519"]
    )
    assert rsa_made.exit_code == 0 and ed_made.exit_code == 0, ed_made.output
    assert "GLL_MAIL_DKIM_ED25519_KEY_FILE=ed.pem" in ed_made.output
    assert "GLL_MAIL_DKIM_ED25519_SELECTOR=gll2026e" in ed_made.output and "Ed25519 alone" in ed_made.output
    for name, value in {
        "KEY_FILE": tmp_path / "rsa.pem",
        "SELECTOR": "gll2026",
        "DOMAIN": "who.int",
        "ED25519_KEY_FILE": tmp_path / "ed.pem",
        "ED25519_SELECTOR": "gll2026e",
    }.items():
        monkeypatch.setenv(f"GLL_MAIL_DKIM_{name}", str(value))
    record = runner.invoke(main, ["dkim", "record"])
    assert record.exit_code == 0, record.output
    assert f"at {NAME}:" in record.output and "at gll2026e._domainkey.who.int:" in record.output
    assert "k=rsa;" in record.output and "k=ed25519;" in record.output

    rsa_signer = DkimSigner.from_file(tmp_path / "rsa.pem", "gll2026", "who.int")
    ed_signer = DkimSigner.from_file(tmp_path / "ed.pem", "gll2026e", "who.int")
    dns_server.records[NAME] = [zone_strings(rsa_signer)]
    half = runner.invoke(main, ["dkim", "check", "--nameserver", dns_server.address])
    assert half.exit_code == 1 and "OK: gll2026._domainkey.who.int publishes our rsa-sha256 key" in half.stdout
    assert "DKIM check failed for gll2026e._domainkey.who.int: 1 error(s)" in half.stderr
    dns_server.records["gll2026e._domainkey.who.int"] = [zone_strings(ed_signer)]
    both = runner.invoke(main, ["dkim", "check", "--nameserver", dns_server.address])
    assert both.exit_code == 0, both.output
    assert "OK: gll2026e._domainkey.who.int publishes our ed25519-sha256 key" in both.stdout
