"""Log lines for operators: text or one JSON object per line (``GLL_MAIL_LOG_FORMAT=json``).

Every line carries the ids in force — ``campaign_id``, ``delivery_id`` (given with ``extra=``) and
``request_id`` (bound by the web for each request, :func:`bind`) — and no member's address: any
address in a line becomes ``member:`` + a keyed hash (:func:`address_hash`), so an operator who knows
an address can find its lines (`gll-mail log-hash ADDRESS`) but a leaked log names nobody.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import re
import sys

from gll_mail.settings import Settings

IDS = ("campaign_id", "delivery_id", "request_id")
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_bound: contextvars.ContextVar[dict] = contextvars.ContextVar("gll_mail_log_ids", default={})  # noqa: B039
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"gll-mail log address\x00" + secret.encode()).digest()


def address_hash(address: str, secret: str) -> str:
    """The keyed hash that stands for ``address`` in log lines (the same for any letter case)."""
    return "member:" + hmac.new(_key(secret), address.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def redact(text: str, secret: str) -> str:
    return ADDRESS.sub(lambda m: address_hash(m.group(0), secret), text)


def bind(**ids) -> contextvars.Token:
    """Add ids to every line logged in this context (a request, a task) until :func:`unbind`."""
    return _bound.set({**_bound.get(), **{k: v for k, v in ids.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    _bound.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record and replaces member addresses by their keyed hash."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _bound.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = redact(message, self.secret), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and "@" in record.exc_text:
            record.exc_text = redact(record.exc_text, self.secret)
        return True


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings, stream=None) -> logging.Handler:
    """Send the root logger's lines to ``stream`` (stderr) in ``GLL_MAIL_LOG_FORMAT``; returns the
    handler (replacing the one a previous call installed)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "gll_mail", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.gll_mail = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(ContextFilter(settings.secret_keys[0]))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler
