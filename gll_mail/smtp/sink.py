"""A local SMTP server that keeps every message it receives: for the demo and for tests.

It is a real SMTP server (aiosmtpd) on loopback. Each message is written to ``<folder>/NNNNNN.eml``
with the envelope in ``X-Envelope-*`` headers, and kept in memory in ``received``.

Like every production mail server it advertises PIPELINING (RFC 2920) unless made with
``pipelining=False``: aiosmtpd reads commands from a buffered stream one at a time, so a pipelined
group of commands is answered in order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    path: Path | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


class _Handler:
    def __init__(self, folder: Path | None, pipelining: bool = True) -> None:
        self.folder = folder
        self.pipelining = pipelining
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.reject_rcpt: dict[str, tuple[int, str]] = {}

    async def handle_EHLO(self, server: SMTP, session, envelope: Envelope, hostname: str, responses: list[str]):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: SMTP, session, envelope: Envelope, address: str, rcpt_options):
        rule = self.reject_rcpt.get(address.lower())
        if rule:
            return f"{rule[0]} {rule[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        with self.lock:
            number = len(self.received) + 1
            path = None
            if self.folder is not None:
                path = self.folder / f"{number:06d}.eml"
                head = (
                    f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
                ).encode()
                path.write_bytes(head + data)
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), data, path))
        return "250 Message accepted for delivery"


class LocalSMTPServer:
    """``with LocalSMTPServer(folder) as server: ... server.port ... server.received``."""

    def __init__(
        self, folder: Path | None = None, host: str = "127.0.0.1", port: int = 0, *, pipelining: bool = True
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.handler = _Handler(self.folder, pipelining)
        self.controller = Controller(self.handler, hostname=host, port=port, ready_timeout=10)
        self.host = host

    @property
    def port(self) -> int:
        return self.controller.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def reject(self, address: str, code: int = 550, text: str = "5.1.1 No such user") -> None:
        """Make the server refuse this recipient (to test bounces and retries)."""
        self.handler.reject_rcpt[address.lower()] = (code, text)

    def start(self) -> LocalSMTPServer:
        if self.controller.port == 0:
            # aiosmtpd needs a concrete port to test readiness; bind one now.
            import socket

            with socket.socket() as s:
                s.bind((self.host, 0))
                self.controller.port = s.getsockname()[1]
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> LocalSMTPServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
