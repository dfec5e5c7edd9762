"""DKIM signing (RFC 6376; Ed25519 per RFC 8463) with OpenSSL through ``cryptography``.

``DkimSigner.from_file(path, selector, domain).sign(headers, body)`` returns the
``DKIM-Signature:`` header line to put before ``headers``. Canonicalization is relaxed for headers
and simple for the body (our bodies are quoted-printable ASCII with short lines, which relays leave
alone). The RSA signature is made by OpenSSL, which also releases the GIL, so signing in a thread
pool uses every core; pure-Python RSA would cost ~6 ms a message.

Oversigning: ``h=`` names every header of :data:`SIGNED_HEADERS` one more time than the message
holds it (once when it holds none), so a relay that adds a Reply-To, a Cc, a second Subject or a
second List-Unsubscribe breaks the signature instead of riding on it (RFC 6376 §8.15).

Dual signing (RFC 8463): :func:`signer_from_settings` returns a :class:`DualSigner` when an
Ed25519 key is configured beside the RSA one; it adds both signatures, each with its own selector.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from gll_mail.errors import GllMailError

SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-help",
    "list-owner",
    "list-archive",
    "list-post",
    "list-subscribe",
    "feedback-id",
    "auto-submitted",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-language",
)
_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


class DkimError(GllMailError):
    pass


def _relaxed_headers(headers: bytes) -> dict[bytes, list[bytes]]:
    """Every header's relaxed form ``name:value`` by lower-cased name, in the order they occur."""
    found: dict[bytes, list[bytes]] = {}
    for line in _FOLD.sub(b"", headers).split(b"\r\n"):
        if not line:
            continue
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        found.setdefault(name, []).append(name + b":" + _WSP.sub(b" ", value).strip())
    return found


def signed_header_names(relaxed: dict[bytes, list[bytes]]) -> list[str]:
    """``h=``: each name of SIGNED_HEADERS as often as it occurs, plus once more (oversigning)."""
    return [n for n in SIGNED_HEADERS for _ in range(len(relaxed.get(n.encode(), ())) + 1)]


def _fold_names(names: list[str]) -> bytes:
    """The ``h=`` value folded into lines of a few names (FWS is allowed around its colons)."""
    lines = [":".join(names[i : i + 8]) for i in range(0, len(names), 8)]
    return ":\r\n\t".join(lines).encode()


def body_hash(body: bytes) -> bytes:
    """The simple body canonicalization: trailing empty lines become one CRLF."""
    stripped = body.rstrip(b"\r\n")
    canonical = stripped + b"\r\n" if stripped else b"\r\n"
    return base64.b64encode(hashlib.sha256(canonical).digest())


class DkimSigner:
    def __init__(self, key, selector: str, domain: str) -> None:
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 1024:
                raise DkimError("the DKIM RSA key is too short (use 2048 bits)")
            self.algorithm = b"rsa-sha256"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = b"ed25519-sha256"
        else:
            raise DkimError("the DKIM key must be RSA or Ed25519")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", selector or "") or not re.fullmatch(r"[A-Za-z0-9.-]+", domain or ""):
            raise DkimError("set GLL_MAIL_DKIM_SELECTOR and GLL_MAIL_DKIM_DOMAIN (letters, digits, dots, dashes)")
        self.key = key
        self.selector = selector.encode()
        self.domain = domain.encode()

    @classmethod
    def from_file(cls, path: str | Path, selector: str, domain: str) -> DkimSigner:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise DkimError(f"cannot read the DKIM key {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError(f"{path} is not an unencrypted PEM private key: {exc}") from None
        return cls(key, selector, domain)

    @classmethod
    def from_settings(cls, settings) -> DkimSigner | DualSigner | None:
        """The configured signer (see :func:`signer_from_settings`)."""
        return signer_from_settings(settings)

    @property
    def signers(self) -> tuple[DkimSigner, ...]:
        return (self,)

    def public_dns_record(self) -> str:
        """The TXT record to publish at ``SELECTOR._domainkey.DOMAIN``."""
        public = self.key.public_key()
        if self.algorithm == b"rsa-sha256":
            der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"

    def sign(self, headers: bytes, body: bytes) -> bytes:
        """The ``DKIM-Signature`` header (with its CRLF) for a message of ``headers`` + CRLF + ``body``."""
        relaxed = _relaxed_headers(headers)
        names = signed_header_names(relaxed)
        value = (
            b"v=1; a="
            + self.algorithm
            + b"; c=relaxed/simple; d="
            + self.domain
            + b"; s="
            + self.selector
            + b"; t="
            + str(int(time.time())).encode()
            + b";\r\n\th="
            + _fold_names(names)
            + b";\r\n\tbh="
            + body_hash(body)
            + b";\r\n\tb="
        )
        # instances are taken from the last one up (RFC 6376 §5.4.2); the extra name matches nothing
        signed = b"".join(line + b"\r\n" for n in SIGNED_HEADERS for line in reversed(relaxed.get(n.encode(), ())))
        signed += b"dkim-signature:" + _WSP.sub(b" ", _FOLD.sub(b"", value)).strip()
        if self.algorithm == b"rsa-sha256":
            signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = self.key.sign(hashlib.sha256(signed).digest())
        b64 = base64.b64encode(signature)
        folded = b"\r\n\t".join(b64[i : i + 72] for i in range(0, len(b64), 72))
        return b"DKIM-Signature: " + value + folded + b"\r\n"


class DualSigner:
    """RSA and Ed25519 together (RFC 8463): a receiver that verifies either counts the message as
    signed, so the Ed25519 signature costs nothing where it is not understood yet."""

    def __init__(self, *signers: DkimSigner) -> None:
        self.signers = signers
        self.algorithm = b"+".join(s.algorithm for s in signers)
        self.domain = signers[0].domain

    def sign(self, headers: bytes, body: bytes) -> bytes:
        """The ``DKIM-Signature`` headers, one per key, the RSA one nearest the message headers."""
        return b"".join(signer.sign(headers, body) for signer in reversed(self.signers))


def signer_from_settings(settings) -> DkimSigner | DualSigner | None:
    """The signer of ``GLL_MAIL_DKIM_KEY_FILE`` and, when set, a second one of
    ``GLL_MAIL_DKIM_ED25519_KEY_FILE`` (its own selector, the same domain); None when neither is set.

    In production a configuration that signs with Ed25519 only is refused: most receivers do not
    verify Ed25519 yet, so its mail would count as unsigned.
    """
    signers = []
    if settings.dkim_key_file:
        signers.append(DkimSigner.from_file(settings.dkim_key_file, settings.dkim_selector, settings.dkim_domain))
    second = getattr(settings, "dkim_ed25519_key_file", "")
    if second:
        signer = DkimSigner.from_file(second, settings.dkim_ed25519_selector, settings.dkim_domain)
        if signer.algorithm != b"ed25519-sha256":
            raise DkimError("GLL_MAIL_DKIM_ED25519_KEY_FILE must hold an Ed25519 key")
        if signer.selector in {s.selector for s in signers}:
            raise DkimError("GLL_MAIL_DKIM_ED25519_SELECTOR must differ from GLL_MAIL_DKIM_SELECTOR")
        signers.append(signer)
    if not signers:
        return None
    if settings.env == "production" and all(s.algorithm == b"ed25519-sha256" for s in signers):
        raise DkimError(
            "production refuses to sign with Ed25519 only: most receivers do not verify it yet; "
            "set an RSA-2048 key in GLL_MAIL_DKIM_KEY_FILE (Ed25519 may sign beside it)"
        )
    return signers[0] if len(signers) == 1 else DualSigner(*signers)
