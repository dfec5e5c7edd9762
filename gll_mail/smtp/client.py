"""Outgoing SMTP: the GLL_MAIL_SMTP_URL parsed once, and a one-off send for transactional mail.

URL forms: ``smtp://host:25``, ``smtp://user:pass@host:587?starttls=true``, ``smtps://user:pass@host:465``
(implicit TLS). Query options: ``starttls`` (true/false), ``timeout`` (seconds), ``verify`` (true/false),
``pipelining`` (true/false, default true: use PIPELINING when the server advertises it).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from gll_mail.errors import GllMailError


class SmtpConfigError(GllMailError, ValueError):
    pass


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False
    timeout: float = 30.0
    verify: bool = True
    pipelining: bool = True

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SmtpConfigError(f"SMTP URL must look like smtp://host:port, not {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 25)
            timeout = float(query.get("timeout", 30))
        except ValueError as exc:
            raise SmtpConfigError(f"bad SMTP URL {url!r}: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=_flag(query.get("starttls", "false")) and not implicit,
            timeout=timeout,
            verify=_flag(query.get("verify", "true")),
            pipelining=_flag(query.get("pipelining", "true")),
        )

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            start_tls=self.starttls if self.starttls else False,
            timeout=self.timeout,
            validate_certs=self.verify,
        )


@asynccontextmanager
async def _connected(config: SmtpConfig):
    """A client connected (TLS, AUTH) for one message, said goodbye to afterwards."""
    client = config.client()
    await client.connect()
    try:
        yield client
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


async def send_one_async(
    config: SmtpConfig, message: EmailMessage, *, sender: str | None = None, recipients: list[str] | None = None
) -> None:
    async with _connected(config) as client:
        await client.send_message(message, sender=sender, recipients=recipients)


def send_one(config: SmtpConfig, message: EmailMessage, **kwargs) -> None:
    """Send one transactional message (a confirmation email) and wait for the server's answer."""
    asyncio.run(send_one_async(config, message, **kwargs))


def send_raw(config: SmtpConfig, sender: str, recipient: str, data: bytes) -> None:
    """Send a message built elsewhere (CRLF line ends) on its own connection; raises on refusal."""

    async def send() -> None:
        async with _connected(config) as client:
            await client.sendmail(sender, [recipient], data)

    asyncio.run(send())
