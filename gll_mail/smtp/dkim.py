"""DKIM signing (RFC 6376; Ed25519 per RFC 8463) with OpenSSL through ``cryptography``.

``DkimSigner.from_file(path, selector, domain).sign(headers, body)`` returns the
``DKIM-Signature:`` header line to put before ``headers``. Canonicalization is relaxed for headers
and simple for the body (our bodies are quoted-printable ASCII with short lines, which relays leave
alone). The RSA signature is made by OpenSSL, which also releases the GIL, so signing in a thread
pool uses every core; pure-Python RSA would cost ~6 ms a message.
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
    "from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post",
    "feedback-id", "mime-version", "content-type", "content-language",
)
_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


class DkimError(GllMailError):
    pass


def _relaxed_headers(headers: bytes) -> dict[bytes, bytes]:
    """Each header's relaxed form ``name:value`` by lower-cased name (the last one wins; we have one each)."""
    found: dict[bytes, bytes] = {}
    for line in _FOLD.sub(b"", headers).split(b"\r\n"):
        if not line:
            continue
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        found[name] = name + b":" + _WSP.sub(b" ", value).strip()
    return found


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
    def from_file(cls, path: str | Path, selector: str, domain: str) -> "DkimSigner":
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
    def from_settings(cls, settings) -> "DkimSigner | None":
        if not settings.dkim_key_file:
            return None
        return cls.from_file(settings.dkim_key_file, settings.dkim_selector, settings.dkim_domain)

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
        names = [n for n in SIGNED_HEADERS if n.encode() in relaxed]
        value = (
            b"v=1; a=" + self.algorithm + b"; c=relaxed/simple; d=" + self.domain + b"; s=" + self.selector
            + b"; t=" + str(int(time.time())).encode() + b";\r\n\th=" + ":".join(names).encode()
            + b";\r\n\tbh=" + body_hash(body) + b";\r\n\tb="
        )
        signed = b"".join(relaxed[n.encode()] + b"\r\n" for n in names)
        signed += b"dkim-signature:" + _WSP.sub(b" ", _FOLD.sub(b"", value)).strip()
        if self.algorithm == b"rsa-sha256":
            signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = self.key.sign(hashlib.sha256(signed).digest())
        b64 = base64.b64encode(signature)
        folded = b"\r\n\t".join(b64[i:i + 72] for i in range(0, len(b64), 72))
        return b"DKIM-Signature: " + value + folded + b"\r\n"
