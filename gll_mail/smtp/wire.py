"""One SMTP mail transaction in two round trips, for servers that advertise PIPELINING (RFC 2920).

aiosmtplib waits for a reply after every command: MAIL, RCPT, DATA and the message are four round
trips, each a write, a wake-up and a read on both sides. Every server a campaign is sent through
(Postfix, Exim, Exchange, the big providers) advertises PIPELINING, so once aiosmtplib has done the
handshake (greeting, EHLO, STARTTLS, AUTH) a :class:`PipelinedWire` takes over the connection's
transport and sends ``MAIL FROM``, ``RCPT TO`` and ``DATA`` in one write, then the message.

The message itself is only written after the server answered ``354`` to ``DATA``, as RFC 2920
requires: a refused sender or recipient never gets content handed over.
"""

from __future__ import annotations

import asyncio
from collections import deque

import aiosmtplib

MAX_REPLY = 64 * 1024  # a server talking more than this without finishing a reply is not an SMTP server


class WireClosed(aiosmtplib.SMTPServerDisconnected):
    """The connection was lost (or closed by the server) while replies were awaited."""


class WireTimeout(aiosmtplib.SMTPTimeoutError):
    """The server did not answer within the timeout."""


class PipelinedWire(asyncio.Protocol):
    """Sends pipelined command groups over an established SMTP connection and collects the replies."""

    def __init__(self, transport: asyncio.Transport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._replies: deque[tuple[int, str]] = deque()
        self._waiter: asyncio.Future | None = None
        self._wanted = 0
        self._error: Exception | None = None
        self._loop = asyncio.get_running_loop()
        transport.set_protocol(self)

    # -- asyncio.Protocol --

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buffer[start:end]).rstrip(b"\r")
            start = end + 1
            self._lines.append(line)
            if line[3:4] == b"-":
                continue
            lines, self._lines = self._lines, []
            try:
                code = int(lines[-1][:3])
            except ValueError:
                self._fail(WireClosed(f"malformed SMTP reply: {lines[-1][:80]!r}"))
                return
            text = "\n".join(part[4:].decode("utf-8", "replace").strip() for part in lines)
            self._replies.append((code, text))
        del self._buffer[:start]
        if len(self._buffer) + sum(map(len, self._lines)) > MAX_REPLY:
            self._fail(WireClosed("SMTP reply too long"))
            return
        if self._waiter is not None and len(self._replies) >= self._wanted and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(WireClosed("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._error is None:
            self._error = WireClosed(f"connection lost: {exc}" if exc else "connection lost")
        self._wake()

    # -- sending and reading --

    @property
    def is_open(self) -> bool:
        return self._error is None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise self._error or WireClosed("connection closed")
        self.transport.write(data)

    async def replies(self, count: int) -> list[tuple[int, str]]:
        """The next ``count`` replies; raises :class:`WireClosed` or :class:`WireTimeout`."""
        if len(self._replies) < count:
            if self._error is not None:
                raise self._error
            self._wanted = count
            self._waiter = self._loop.create_future()
            timer = self._loop.call_later(self.timeout, self._on_timeout, self._waiter)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
            if len(self._replies) < count:
                raise self._error or WireClosed("connection lost")
        return [self._replies.popleft() for _ in range(count)]

    def _on_timeout(self, waiter: asyncio.Future) -> None:
        if not waiter.done():
            self._error = WireTimeout(f"no SMTP reply within {self.timeout:g} s")
            waiter.set_result(None)
            self.transport.abort()  # the conversation is out of step now: never reuse it

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def quit(self) -> None:
        """Say QUIT (briefly waiting for the goodbye) and close the transport."""
        try:
            if self.is_open:
                self.write(b"QUIT\r\n")
                self.timeout = min(self.timeout, 2.0)
                await self.replies(1)
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            self.transport.close()

    def abort(self) -> None:
        self.transport.abort()
