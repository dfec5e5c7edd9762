"""Setting DKIM up: a new key, the DNS record to publish for it, and a check of what DNS serves.

The team makes a key (:func:`generate_key`), publishes :func:`zone_entry` at
``SELECTOR._domainkey.DOMAIN``, and runs :func:`check_published` before the first signed campaign:
it fetches the TXT record over DNS, checks that it is the public half of our key, and has dkimpy
(an independent verifier) verify a message signed by our signer against exactly that record.
A record that is missing, split wrongly, stale after a key change or revoked is found there,
not by receivers after a campaign went out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gll_mail.smtp.dkim import DkimError, DkimSigner

ALGORITHMS = ("rsa", "ed25519")
DNS_TIMEOUT = 5.0
TXT_CHUNK = 255  # the longest character-string a TXT record can hold; longer values are split


def generate_key(path: str | Path, selector: str, domain: str, algorithm: str = "rsa") -> DkimSigner:
    """Write a new private key (RSA-2048 or Ed25519, unencrypted PKCS#8 PEM) to ``path``, readable by
    its owner only, and return its signer. An existing file is never overwritten: it may be the key
    DNS points at."""
    if algorithm not in ALGORITHMS:
        raise DkimError(f"unknown DKIM algorithm {algorithm!r} (choose {' or '.join(ALGORITHMS)})")
    key = rsa.generate_private_key(65537, 2048) if algorithm == "rsa" else ed25519.Ed25519PrivateKey.generate()
    signer = DkimSigner(key, selector, domain)  # refuses a bad selector or domain before anything is written
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DkimError(
            f"{path} exists; a key is never overwritten (choose another file, or delete it "
            "once DNS no longer publishes it)"
        ) from None
    except OSError as exc:
        raise DkimError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return signer


def dns_name(signer) -> str:
    """``SELECTOR._domainkey.DOMAIN`` of a signer (both names, comma-separated, when dual signing)."""
    return ", ".join(f"{s.selector.decode()}._domainkey.{s.domain.decode()}" for s in signer.signers)


def zone_entry(signer: DkimSigner, ttl: int = 3600) -> str:
    """The record as a zone-file line, its value split into strings of at most 255 characters (an
    RSA-2048 key does not fit in one; DNS joins them back)."""
    value = signer.public_dns_record()
    parts = " ".join(f'"{value[i : i + TXT_CHUNK]}"' for i in range(0, len(value), TXT_CHUNK))
    return f"{dns_name(signer)}. {ttl} IN TXT ( {parts} )"


@dataclass
class PublishedCheck:
    name: str
    record: str | None = None  # the TXT value DNS served, its strings joined
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def fetch_txt(name: str, nameserver: str | None = None, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Every TXT record at ``name``, each with its strings joined; [] when there is none.
    ``nameserver`` is ``HOST`` or ``HOST:PORT`` (default: the system's resolvers)."""
    import dns.exception
    import dns.resolver

    if nameserver:
        host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "")
        resolver = dns.resolver.Resolver(configure=False)
        try:
            resolver.nameservers = [host]
        except ValueError:
            raise DkimError(f"the name server {nameserver!r} must be an IP address, or IP:PORT") from None
        if port:
            if not port.isdigit():
                raise DkimError(f"the name server {nameserver!r} is not HOST or HOST:PORT")
            resolver.port = int(port)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DkimError("this machine has no DNS resolver configured; name one with --nameserver") from None
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DkimError(f"DNS did not answer for {name}: {exc}") from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip()] = "".join(value.split())
    return tags


def check_published(signer: DkimSigner, nameserver: str | None = None, timeout: float = DNS_TIMEOUT) -> PublishedCheck:
    """Does DNS publish the public half of ``signer``'s key, so that receivers verify our mail?"""
    result = PublishedCheck(dns_name(signer))
    records = fetch_txt(result.name, nameserver, timeout)
    if not records:
        result.errors.append(f"DNS has no TXT record at {result.name}: publish the one `gll-mail dkim record` prints")
        return result
    if len(records) > 1:
        result.errors.append(f"DNS has {len(records)} TXT records at {result.name}; receivers need exactly one")
    result.record = record = records[0]
    tags = _tags(record)
    ours = _tags(signer.public_dns_record())
    if "v" in tags and tags["v"] != "DKIM1":
        result.errors.append(f"the record says v={tags['v']}; it must be v=DKIM1")
    if tags.get("k", "rsa") != ours["k"]:
        result.errors.append(f"the record is for k={tags.get('k', 'rsa')} keys but ours is {ours['k']}")
    if not tags.get("p"):
        result.errors.append("the record has an empty p=: the key is revoked")
    elif tags["p"] != ours["p"]:
        result.errors.append(
            "the record publishes another key than GLL_MAIL_DKIM_KEY_FILE "
            "(a key changed without DNS, or a typo in the record)"
        )
    if "y" in tags.get("t", "").split(":"):
        result.warnings.append("the record has t=y (testing): receivers may treat failures as unsigned mail")
    if "s" in tags and not {"email", "*"} & set(tags["s"].split(":")):
        result.errors.append(f"the record's s={tags['s']} does not allow email")
    if result.ok and not _verifies(signer, record):
        result.errors.append("dkimpy could not verify a message signed with our key against this record")
    return result


def _verifies(signer: DkimSigner, record: str) -> bool:
    """Sign a small message as a campaign would be signed and verify it as a receiver would."""
    import dkim

    headers = (
        f"From: GLL <news@{signer.domain.decode()}>\r\nTo: member@example.org\r\nSubject: DKIM check\r\n"
        f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <check@{signer.domain.decode()}>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
    ).encode()
    body = b"A message signed by gll-mail to check the published DKIM record.\r\n"
    data = signer.sign(headers, body) + headers + b"\r\n" + body
    name = (dns_name(signer) + ".").encode()
    return bool(dkim.verify(data, dnsfunc=lambda asked, timeout=5: record.encode() if asked == name else None))


def misalignment(signer: DkimSigner, from_address: str) -> str | None:
    """Why DMARC will not count our signature for mail from ``from_address``, or None. Relaxed
    alignment, approximately: the From domain must be d= or a subdomain of it."""
    domain = parseaddr(from_address)[1].rpartition("@")[2].lower()
    d = signer.domain.decode().lower()
    if domain == d or domain.endswith("." + d):
        return None
    return f"DKIM signs as d={d} but the mail is from {from_address}: DMARC will not count the signature"
