"""A pool of SMTP connections for campaigns: N connections reused across messages.

Each :class:`PooledConnection` connects on first use with aiosmtplib (STARTTLS, implicit TLS and AUTH
come from ``GLL_MAIL_SMTP_URL``), is reopened after ``max_messages`` messages, and after any dropped
connection or timeout is closed and reopened on the next send. When the server advertises
PIPELINING, a :class:`~gll_mail.smtp.wire.PipelinedWire` takes over the connection after the
handshake and each message costs two round trips instead of four. :meth:`PooledConnection.send`
never raises for SMTP trouble: it returns a :class:`SendResult` that says whether the outcome is
final, retryable, or whether the server could not even be reached.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import aiosmtplib
import aiosmtplib.email
import aiosmtplib.protocol
import aiosmtplib.smtp

from gll_mail.smtp.client import SmtpConfig
from gll_mail.smtp.replies import bad_address
from gll_mail.smtp.wire import PipelinedWire

OK, TEMPORARY, PERMANENT, UNREACHABLE = "ok", "temporary", "permanent", "unreachable"


# --- faster DATA preparation -------------------------------------------------------------------
# aiosmtplib prepares every DATA payload with two regular expressions (line ends to CRLF, then
# dot-stuffing); on a 24 KB campaign message they cost ~600 µs, more than everything else we do per
# message. These replacements give byte-for-byte the same result with ``bytes.count``/``replace``.

_original_normalize = aiosmtplib.protocol.normalize_message_line_endings


class Prepared(bytes):
    """A DATA payload made ready elsewhere (a render helper): CRLF line ends, dot-stuffed, final CRLF."""


def prepare_data(message: bytes) -> bytes:
    """What aiosmtplib would send for ``message``; wrap it in :class:`Prepared` to skip the work."""
    return _DotStuffing().sub(b"..", _normalize_line_endings(message))


def _normalize_line_endings(message: bytes) -> bytes:
    if type(message) is Prepared:
        return message
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:
        return _original_normalize(message)  # a bare CR or LF somewhere: the library's own way
    return message if message.endswith(b"\r\n") else message + b"\r\n"


class _DotStuffing:
    """``re.compile(rb"(?m)^\\.").sub(b"..", message)`` without the regex engine."""

    pattern = aiosmtplib.protocol.PERIOD_REGEX.pattern

    def sub(self, replacement: bytes, message: bytes) -> bytes:
        assert replacement == b".."
        if type(message) is Prepared:
            return message
        stuffed = message.replace(b"\n.", b"\n..")
        return b"." + stuffed if stuffed.startswith(b".") else stuffed


# aiosmtplib parses each address with email.utils.parseaddr, four times a message (~250 µs). A plain
# dot-atom address (all we send: VERP senders and normalized recipients) parses to itself.
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_original_parse = aiosmtplib.email.parse_address


def _parse_address(address: str) -> str:
    return address if _SIMPLE_ADDRESS.fullmatch(address) else _original_parse(address)


def _quote_address(address: str) -> str:
    return f"<{_parse_address(address)}>"


aiosmtplib.protocol.normalize_message_line_endings = _normalize_line_endings
aiosmtplib.protocol.PERIOD_REGEX = _DotStuffing()
aiosmtplib.smtp.parse_address = _parse_address
aiosmtplib.smtp.quote_address = _quote_address


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: str  # ok, temporary (retry), permanent (final), unreachable (could not connect)
    code: int | None
    message: str
    stage: str = ""  # connect, mail, rcpt, data
    ambiguous: bool = False  # the server may have accepted the message (dropped after DATA)

    @property
    def hard_bounce(self) -> bool:
        """A permanent refusal of the recipient address itself (:func:`gll_mail.smtp.replies.bad_address`,
        the same rule as for bounces that come back later): that address is suppressed."""
        return self.outcome == PERMANENT and self.stage == "rcpt" and bad_address(self.message)


def _classify(code: int | None, message: str, stage: str) -> SendResult:
    if code is not None and 500 <= code < 600:
        return SendResult(PERMANENT, code, message, stage)
    return SendResult(TEMPORARY, code, message, stage)


def _command_address(address: str) -> bytes:
    """``<address>`` for MAIL FROM / RCPT TO; never a line break or other control character."""
    if any(ord(c) < 0x20 or c == "\x7f" for c in address):
        raise ValueError(f"address {address!r} contains a control character")
    return _quote_address(address).encode("ascii")  # campaign addresses are ASCII (message.check_address)


class PooledConnection:
    def __init__(self, config: SmtpConfig, max_messages: int = 1000) -> None:
        self.config = config
        self.max_messages = max(1, max_messages)
        self.client: aiosmtplib.SMTP | None = None  # before the handshake, or a server without PIPELINING
        self.wire: PipelinedWire | None = None  # after the handshake with a server that pipelines
        self.sent_on_connection = 0
        self.connects = 0

    @property
    def is_open(self) -> bool:
        if self.wire is not None:
            return self.wire.is_open
        return self.client is not None and self.client.is_connected

    @property
    def pipelining(self) -> bool:
        return self.wire is not None

    async def _ensure(self) -> None:
        opened = self.client is not None or self.wire is not None
        if opened and (not self.is_open or self.sent_on_connection >= self.max_messages):
            await self.close()
        if self.client is None and self.wire is None:
            client = self.config.client()
            try:
                await client.connect()
                if self.config.pipelining and client.is_ehlo_or_helo_needed:  # aiosmtplib says EHLO lazily
                    try:
                        await client.ehlo()
                    except aiosmtplib.SMTPHeloError:
                        if not client.is_connected:
                            raise
                        await client.helo()
            except BaseException:
                client.close()
                raise
            if self.config.pipelining and client.supports_extension("pipelining") and client.protocol is not None:
                self.wire = PipelinedWire(client.protocol.transport, self.config.timeout)
            else:
                self.client = client
            self.sent_on_connection = 0
            self.connects += 1

    async def send(self, sender: str, recipient: str, data: bytes) -> SendResult:
        try:
            await self._ensure()
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPConnectTimeoutError,
            OSError,
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
        ) as exc:
            await self.close()
            return SendResult(
                UNREACHABLE, None, f"cannot connect to {self.config.host}:{self.config.port}: {exc}", "connect"
            )
        except aiosmtplib.SMTPResponseException as exc:
            await self.close()
            if 500 <= exc.code < 600 and exc.code not in (554,):
                return SendResult(UNREACHABLE, exc.code, f"SMTP login refused: {exc.code} {exc.message}", "connect")
            return SendResult(
                UNREACHABLE, exc.code, f"SMTP server refused the connection: {exc.code} {exc.message}", "connect"
            )
        except aiosmtplib.SMTPException as exc:
            await self.close()
            return SendResult(UNREACHABLE, None, f"SMTP connection failed: {exc}", "connect")
        if self.wire is not None:
            return await self._send_pipelined(self.wire, sender, recipient, data)
        assert self.client is not None
        try:
            await self.client.sendmail(sender, [recipient], data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else None
            return _classify(code, refused.message if refused is not None else str(exc), "rcpt")
        except aiosmtplib.SMTPSenderRefused as exc:
            return _classify(exc.code, exc.message, "mail")
        except aiosmtplib.SMTPDataError as exc:
            return _classify(exc.code, exc.message, "data")
        except (TimeoutError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            await self.close()
            return SendResult(
                TEMPORARY, None, f"connection lost: {exc.__class__.__name__}: {exc}", "data", ambiguous=True
            )
        except aiosmtplib.SMTPResponseException as exc:
            return _classify(exc.code, exc.message, "data")
        except aiosmtplib.SMTPException as exc:
            await self.close()
            return SendResult(TEMPORARY, None, f"SMTP error: {exc}", "data", ambiguous=True)
        self.sent_on_connection += 1
        return SendResult(OK, 250, "accepted")

    async def _send_pipelined(self, wire: PipelinedWire, sender: str, recipient: str, data: bytes) -> SendResult:
        try:
            envelope = b"MAIL FROM:" + _command_address(sender) + b"\r\nRCPT TO:" + _command_address(recipient)
        except (ValueError, UnicodeEncodeError) as exc:
            return SendResult(PERMANENT, None, str(exc), "rcpt")
        handed = False
        try:
            wire.write(envelope + b"\r\nDATA\r\n")
            (mail, mail_text), (rcpt, rcpt_text), (start, start_text) = await wire.replies(3)
            if start != 354 or mail != 250 or rcpt not in (250, 251):
                if start == 354:  # DATA opened although MAIL or RCPT failed: end the empty message at once
                    wire.write(b".\r\n")
                    await wire.replies(1)
                wire.write(b"RSET\r\n")  # the transaction is over: forget the sender
                await wire.replies(1)
                if mail != 250:
                    return _classify(mail, mail_text, "mail")
                if rcpt not in (250, 251):
                    return _classify(rcpt, rcpt_text, "rcpt")
                return _classify(start, start_text, "data")
            handed = True
            wire.write(prepare_data(data) + b".\r\n")
            ((code, text),) = await wire.replies(1)
        except (aiosmtplib.SMTPException, OSError, RuntimeError) as exc:
            await self.close()
            return SendResult(
                TEMPORARY,
                None,
                f"connection lost: {exc.__class__.__name__}: {exc}",
                "data" if handed else "mail",
                ambiguous=handed,
            )
        if code != 250:
            return _classify(code, text, "data")
        self.sent_on_connection += 1
        return SendResult(OK, 250, "accepted")

    async def close(self) -> None:
        wire, self.wire = self.wire, None
        if wire is not None:
            await wire.quit()
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), timeout=2)
        except Exception:
            pass
        finally:
            client.close()  # the transport, whatever state it is in


class SmtpPool:
    """``size`` connections to the server of ``config``."""

    def __init__(self, config: SmtpConfig, size: int, max_messages: int = 1000) -> None:
        self.connections = [PooledConnection(config, max_messages) for _ in range(max(1, size))]

    @property
    def open_connections(self) -> int:
        return sum(c.is_open for c in self.connections)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)
