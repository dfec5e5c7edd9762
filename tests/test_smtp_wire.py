"""PIPELINING: MAIL, RCPT and DATA in one write, the message after 354; every failure classified right.

Two kinds of server: the real local SMTP server (aiosmtpd, with and without PIPELINING advertised),
and a scripted server that answers nothing until it has read the whole pipelined group, so a client
that waited for each reply would time out instead of passing.
"""

from __future__ import annotations

import asyncio

import pytest

from gll_mail.smtp.client import SmtpConfig
from gll_mail.smtp.pool import OK, PERMANENT, TEMPORARY, PooledConnection
from gll_mail.smtp.sink import LocalSMTPServer

MESSAGE = (
    b"From: gll@who.int\r\nTo: a@example.org\r\nSubject: pipelined\r\n\r\n"
    b"first line\r\n.a line that starts with a dot\r\n..and two\r\nlast\r\n"
)


def _send_all(url: str, messages: list[tuple[str, str]], *, max_messages: int = 1000):
    async def run():
        connection = PooledConnection(SmtpConfig.from_url(url), max_messages)
        try:
            results = [await connection.send(sender, recipient, MESSAGE) for sender, recipient in messages]
            return results, connection.pipelining, connection.connects
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_messages_arrive_intact_over_one_connection(pipelining):
    with LocalSMTPServer(pipelining=pipelining) as server:
        results, pipelined, connects = _send_all(
            server.url, [("bounces+x@gll.example.org", f"m{i}@example.org") for i in range(5)]
        )
        received = server.received
    assert [r.outcome for r in results] == [OK] * 5
    assert pipelined is pipelining
    assert connects == 1
    assert [r.rcpt_tos for r in received] == [(f"m{i}@example.org",) for i in range(5)]
    assert {r.mail_from for r in received} == {"bounces+x@gll.example.org"}
    assert all(r.data == MESSAGE for r in received)  # dot-stuffing undone by the server: byte for byte


def test_pipelining_can_be_turned_off_in_the_smtp_url():
    with LocalSMTPServer() as server:
        results, pipelined, _ = _send_all(server.url + "?pipelining=false", [("s@gll.example.org", "a@example.org")])
        assert len(server.received) == 1
    assert results[0].outcome == OK and pipelined is False


def test_refused_recipient_is_final_and_the_connection_goes_on():
    with LocalSMTPServer() as server:
        server.reject("gone@example.org", 550, "5.1.1 No such user")
        server.reject("busy@example.org", 451, "4.2.0 Try later")
        results, pipelined, connects = _send_all(
            server.url,
            [
                ("s@gll.example.org", "gone@example.org"),
                ("s@gll.example.org", "busy@example.org"),
                ("s@gll.example.org", "fine@example.org"),
            ],
        )
        received = server.received
    assert pipelined and connects == 1
    gone, busy, fine = results
    assert (gone.outcome, gone.code, gone.stage, gone.hard_bounce) == (PERMANENT, 550, "rcpt", True)
    assert "No such user" in gone.message
    assert (busy.outcome, busy.code, busy.stage, busy.hard_bounce) == (TEMPORARY, 451, "rcpt", False)
    assert fine.outcome == OK
    assert [r.rcpt_tos for r in received] == [("fine@example.org",)]


def test_an_address_with_a_line_break_is_refused_before_anything_is_written():
    with LocalSMTPServer() as server:
        results, _, _ = _send_all(server.url, [("s@gll.example.org", "a@example.org>\r\nRCPT TO:<b@example.org")])
        assert server.received == []
    assert results[0].outcome == PERMANENT and "control character" in results[0].message


def test_connections_are_renewed_after_max_messages():
    with LocalSMTPServer() as server:
        results, _, connects = _send_all(
            server.url, [("s@gll.example.org", f"m{i}@example.org") for i in range(5)], max_messages=2
        )
        assert len(server.received) == 5
    assert [r.outcome for r in results] == [OK] * 5
    assert connects == 3


# --- a scripted server ---------------------------------------------------------------------------


class Scripted:
    """An SMTP server that reads a whole pipelined group before it answers any of it.

    ``answers`` maps a command verb to the reply (``DATA`` to the reply to the DATA command,
    ``.`` to the reply after the message). ``after`` names a point to drop the connection
    (``group``: after reading MAIL/RCPT/DATA, ``message``: after reading the message) or to go
    silent (``silent-message``).
    """

    def __init__(self, answers: dict[str, str] | None = None, after: str = "") -> None:
        self.answers = {
            "MAIL": "250 2.1.0 Ok",
            "RCPT": "250 2.1.5 Ok",
            "DATA": "354 End data with <CR><LF>.<CR><LF>",
            ".": "250 2.0.0 Ok: queued",
            "RSET": "250 2.0.0 Ok",
            "QUIT": "221 2.0.0 Bye",
            **(answers or {}),
        }
        self.after = after
        self.commands: list[str] = []
        self.messages: list[bytes] = []
        self.sessions: set[asyncio.Task] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions.add(asyncio.current_task())
        try:
            await self._converse(reader, writer)
        finally:
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        try:
            while True:
                line = (await reader.readline()).decode().strip()
                if not line:
                    return
                verb = line.split(":")[0].split(" ")[0].upper()
                self.commands.append(verb)
                if verb == "EHLO":
                    writer.write(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    rcpt = (await reader.readline()).decode().strip()
                    data = (await reader.readline()).decode().strip()
                    assert rcpt.startswith("RCPT TO:") and data == "DATA", (rcpt, data)
                    self.commands += ["RCPT", "DATA"]
                    if self.after == "group":
                        writer.close()
                        return
                    replies = [self.answers["MAIL"], self.answers["RCPT"], self.answers["DATA"]]
                    writer.write("".join(r + "\r\n" for r in replies).encode())
                    if replies[2].startswith("354"):
                        message = (
                            await reader.readuntil(b"\r\n.\r\n")
                            if self.answers["RCPT"].startswith("2")
                            else await reader.readuntil(b".\r\n")
                        )
                        self.messages.append(message)
                        if self.after == "message":
                            writer.close()
                            return
                        if self.after == "silent-message":
                            await asyncio.sleep(30)
                        writer.write(self.answers["."].encode() + b"\r\n")
                else:
                    writer.write(self.answers.get(verb, "502 5.5.2 Unknown").encode() + b"\r\n")
                    if verb == "QUIT":
                        writer.close()
                        return
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return


def _against(script: Scripted, count: int = 1, timeout: float = 5.0):
    async def run():
        server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connection = PooledConnection(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}?timeout={timeout}"))
        try:
            results = [await connection.send("s@gll.example.org", f"m{i}@example.org", MESSAGE) for i in range(count)]
            return results, connection.connects
        finally:
            await connection.close()
            server.close()
            for session in script.sessions:
                session.cancel()
            await asyncio.gather(*script.sessions, return_exceptions=True)
            await server.wait_closed()

    return asyncio.run(run())


def test_the_group_is_written_at_once():
    script = Scripted()
    results, connects = _against(script, count=3)
    assert [r.outcome for r in results] == [OK] * 3 and connects == 1
    assert script.commands == ["EHLO"] + ["MAIL", "RCPT", "DATA"] * 3 + ["QUIT"]
    assert script.messages == [MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n"] * 3


def test_a_server_that_opens_data_without_a_recipient_gets_an_empty_message_and_a_reset():
    script = Scripted({"RCPT": "550 5.1.1 Unknown user"})
    (result,), _ = _against(script)
    assert (result.outcome, result.code, result.stage) == (PERMANENT, 550, "rcpt")
    assert script.messages == [b".\r\n"]  # nothing of the message was handed over
    assert script.commands[-2:] == ["RSET", "QUIT"]


def test_a_refused_sender_is_reported_as_such():
    script = Scripted({"MAIL": "451 4.3.0 Sender rate exceeded", "RCPT": "503 5.5.1 Need MAIL", "DATA": "503 5.5.1 No"})
    (result,), _ = _against(script)
    assert (result.outcome, result.code, result.stage) == (TEMPORARY, 451, "mail")
    assert script.messages == []


def test_a_refused_message_is_final_after_data():
    script = Scripted({".": "554 5.7.1 Message content rejected"})
    (result,), _ = _against(script)
    assert (result.outcome, result.code, result.stage, result.hard_bounce) == (PERMANENT, 554, "data", False)


def test_a_drop_before_the_message_is_retryable_and_not_a_possible_duplicate():
    (result,), _ = _against(Scripted(after="group"))
    assert (result.outcome, result.ambiguous) == (TEMPORARY, False)


def test_a_drop_after_the_message_is_a_possible_duplicate():
    (result,), _ = _against(Scripted(after="message"))
    assert (result.outcome, result.stage, result.ambiguous) == (TEMPORARY, "data", True)


def test_a_silent_server_times_out_and_the_next_send_reconnects():
    script = Scripted(after="silent-message")
    results, connects = _against(script, count=2, timeout=0.5)
    assert [(r.outcome, r.ambiguous) for r in results] == [(TEMPORARY, True)] * 2
    assert "no SMTP reply within 0.5 s" in results[0].message
    assert connects == 2


@pytest.mark.parametrize(
    "code, message, hard",
    [
        (550, "5.1.1 <x@example.org>: Recipient address rejected: User unknown", True),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", True),
        (550, "5.2.1 The email account that you tried to reach is disabled", True),
        (550, "No such user here", True),  # no enhanced code: the text decides
        (554, "5.7.1 <x@example.org>: Relay access denied", False),  # our relay's policy, not the address
        (550, "5.7.1 Service unavailable; client host blocked using Spamhaus", False),
        (553, "5.1.8 Sender address rejected: domain not found", False),  # the sender's address
        (552, "5.3.4 Message size exceeds fixed limit", False),
        (550, "Rejected for policy reasons", False),
    ],
)
def test_only_a_bad_recipient_address_is_a_hard_bounce(code, message, hard):
    from gll_mail.smtp.pool import _classify

    assert _classify(code, message, "rcpt").hard_bounce is hard
    assert _classify(code, message, "data").hard_bounce is False  # refused content, not the address
