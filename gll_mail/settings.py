"""The one settings object. Every value comes from an environment variable prefixed ``GLL_MAIL_``.

``Settings.from_env()`` reads them; ``SETTINGS_HELP`` documents them (``gll-mail settings`` prints
it; README's table is written by hand and a test checks that it names every one).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from gll_mail.errors import GllMailError

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me"
PREFIX = "GLL_MAIL_"


class SettingsError(GllMailError, ValueError):
    """A setting is missing, malformed or unsafe for the chosen mode."""


def _split_keys(raw: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def _parse(name: str, kind: str, raw: str):
    """Turn one GLL_MAIL_* string into the field's type, with an error that names the variable."""
    env_name = PREFIX + ENV_NAMES.get(name, name.upper())
    if name == "secret_keys":
        return _split_keys(raw)
    if kind == "Path":
        return Path(raw)
    if kind == "bool":
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{env_name} must be true or false, not {raw!r}")
    if kind in ("int", "float"):
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise SettingsError(f"{env_name} must be a number, not {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///subscribers.db"
    smtp_url: str = "smtp://127.0.0.1:25"
    base_url: str = "http://127.0.0.1:5000"
    secret_keys: tuple[str, ...] = (PLACEHOLDER_SECRET,)
    from_address: str = "WHO GLL for Quality UHC <gll4quhc@who.int>"
    list_id: str = "GLL announcements <announcements.gll.who.int>"
    env: str = "development"
    campaigns_dir: Path = Path("campaigns")
    templates_dir: Path = Path("templates/emails")
    resources_dir: Path = Path("resources")
    imports_dir: str = ""  # uploaded member lists; empty: imports/ beside the resources folder (import_folder)
    bounce_domain: str = "bounces.gll.who.int"
    postal_address: str = "World Health Organization, Avenue Appia 20, 1211 Geneva 27, Switzerland"
    open_tracking: bool = False
    # --- delivery engine ---
    smtp_connections: int = 8
    max_messages_per_connection: int = 1000
    rate_per_second: float = 0.0
    per_domain_rate: float = 0.0
    per_domain_connections: int = 0
    feedback_sender_id: str = "gll-mail"  # the last field of Feedback-ID: who sends, for Gmail's reports
    domain_limits: str = ""  # per-domain overrides: "gmail.com=20/s:10, yahoo.com=5/s" (see limits_for)
    max_attempts: int = 5
    retry_base_seconds: float = 60.0
    lease_seconds: int = 300
    failure_pause_threshold: float = 0.5
    failure_window: int = 50
    dkim_key_file: str = ""
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_ed25519_key_file: str = ""  # a second, Ed25519 key signing beside the first (RFC 8463)
    dkim_ed25519_selector: str = ""
    list_archive_url: str = ""  # the public archive of past campaigns, when there is one (List-Archive)
    render_processes: int = -1
    render_pool_min: int = 2000
    # --- member web ---
    web_rate_limit: int = 300
    register_rate_limit: int = 10
    admin_login_rate_limit: int = 10
    api_rate_limit: int = 600
    web_proxies: int = 0
    # --- team console ---
    approvals_required: int = -1  # -1: 1 when env is production, 0 otherwise (see required_approvals)
    # --- webhooks ---
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_give_up_hours: float = 72.0
    webhook_allow_private: bool = False  # production refuses private and loopback targets without it
    # --- operations ---
    metrics_token: str = ""  # bearer token of /metrics; empty: answered on this machine only
    worker_metrics_port: int = 0  # the worker serves /metrics on 127.0.0.1:PORT; 0: off
    log_format: str = "text"
    log_level: str = "info"
    debug: bool = False  # the CLI shows tracebacks instead of one-line errors (also `gll-mail --debug`)
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(PREFIX + ENV_NAMES.get(f.name, f.name.upper()))
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, str(f.type), raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes) -> Settings:
        new = replace(self, **changes)
        new.validate()
        return new

    @property
    def import_folder(self) -> Path:
        """Where member lists uploaded to the console are kept for their runs (and resumed from)."""
        return Path(self.imports_dir) if self.imports_dir else Path(self.resources_dir).resolve().parent / "imports"

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    def validate(self) -> None:
        if self.env not in ("development", "test", "production"):
            raise SettingsError(f"GLL_MAIL_ENV must be development, test or production, not {self.env!r}")
        if not self.secret_keys:
            raise SettingsError("GLL_MAIL_SECRET_KEYS is empty: give at least one secret key")
        if not self.is_development:
            weak = [k for k in self.secret_keys if k == PLACEHOLDER_SECRET or len(k) < 32]
            if weak:
                raise SettingsError(
                    "GLL_MAIL_SECRET_KEYS holds the development placeholder or a key shorter than "
                    "32 characters; set real random keys (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`) before running in production"
                )
        base = urlsplit(self.base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise SettingsError(f"GLL_MAIL_BASE_URL must be an absolute http(s) URL, not {self.base_url!r}")
        if PLACEHOLDER_SECRET in self.secret_keys and base.hostname not in ("127.0.0.1", "localhost", "::1"):
            # the placeholder is in this public code: links signed with it can be forged by anyone
            raise SettingsError(
                f"GLL_MAIL_SECRET_KEYS still holds the development placeholder, but GLL_MAIL_BASE_URL "
                f"({self.base_url}) is not on this machine: anyone could forge member links. Set real random "
                f"keys (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if not self.is_development and self.dkim_ed25519_key_file and not self.dkim_key_file:
            raise SettingsError(
                "production refuses to DKIM-sign with Ed25519 only (most receivers do not verify "
                "it yet): set an RSA-2048 key in GLL_MAIL_DKIM_KEY_FILE beside it"
            )
        if not self.is_development and base.scheme != "https":
            raise SettingsError("GLL_MAIL_BASE_URL must use https in production")
        if self.approvals_required < -1:
            raise SettingsError("GLL_MAIL_APPROVALS_REQUIRED must be 0 or more (or -1: 1 in production, 0 otherwise)")
        self.domain_limit_map()  # refuses a malformed GLL_MAIL_DOMAIN_LIMITS
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"GLL_MAIL_LOG_FORMAT must be text or json, not {self.log_format!r}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"GLL_MAIL_LOG_LEVEL must be debug, info, warning or error, not {self.log_level!r}")
        if not 0 <= self.worker_metrics_port <= 65535:
            raise SettingsError("GLL_MAIL_WORKER_METRICS_PORT must be a port number (0: off)")
        if self.webhook_timeout_seconds <= 0 or self.webhook_retry_base_seconds <= 0 or self.webhook_give_up_hours < 0:
            raise SettingsError(
                "GLL_MAIL_WEBHOOK_TIMEOUT_SECONDS and _RETRY_BASE_SECONDS must be more than 0, "
                "GLL_MAIL_WEBHOOK_GIVE_UP_HOURS 0 or more"
            )
        if urlsplit(self.smtp_url).scheme not in ("smtp", "smtps"):
            raise SettingsError(f"GLL_MAIL_SMTP_URL must start with smtp:// or smtps://, not {self.smtp_url!r}")

    def domain_limit_map(self) -> dict[str, tuple[float | None, int | None]]:
        """``GLL_MAIL_DOMAIN_LIMITS`` as {domain: (messages per second, messages in flight)}; None
        where an entry leaves the default of GLL_MAIL_PER_DOMAIN_RATE / _CONNECTIONS."""
        found: dict[str, tuple[float | None, int | None]] = {}
        for entry in filter(None, (e.strip() for e in self.domain_limits.split(","))):
            match = _DOMAIN_LIMIT.fullmatch(entry)
            if match is None:
                raise SettingsError(
                    f"GLL_MAIL_DOMAIN_LIMITS: {entry!r} is not DOMAIN=RATE/s:CONNECTIONS "
                    f"(e.g. gmail.com=20/s:10, yahoo.com=5/s, example.org=:2)"
                )
            domain, rate, connections = match.group(1).lower(), match.group(2), match.group(3)
            found[domain] = (float(rate) if rate else None, int(connections) if connections else None)
        return found

    @property
    def webhook_private_allowed(self) -> bool:
        return self.webhook_allow_private or self.is_development

    @property
    def required_approvals(self) -> int:
        """How many approvers must sign off a campaign's content before it is scheduled or sent."""
        if self.approvals_required >= 0:
            return self.approvals_required
        return 1 if self.env == "production" else 0

    def url_for(self, path: str) -> str:
        """An absolute URL on the member web site."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


ENV_NAMES = {"from_address": "FROM"}
SECRET_SETTINGS = {"secret_keys", "metrics_token"}


def env_name(field_name: str) -> str:
    return PREFIX + ENV_NAMES.get(field_name, field_name.upper())


def mask_url(url: str) -> str:
    """``url`` with the password between ``user:`` and ``@`` replaced by ***, even when malformed."""
    return re.sub(r"^([^:/@]*://[^:/@]*:)[^@]*@", r"\1***@", url)


def shown_values(settings: Settings, environ: dict[str, str] | None = None) -> list[tuple[str, str, bool]]:
    """(variable, value as it may be shown, set in the environment?) for every setting; secret keys
    and passwords inside URLs are masked."""
    env = os.environ if environ is None else environ
    rows = []
    for f in fields(settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        if f.name in SECRET_SETTINGS and isinstance(value, str):
            shown = "***" if value else ""
        elif f.name in SECRET_SETTINGS:
            shown = f"*** ({len(value)} key{'s' if len(value) != 1 else ''}" + (
                ", the development placeholder)" if PLACEHOLDER_SECRET in value else ")"
            )
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, str) and "://" in value:
            shown = mask_url(value)
        else:
            shown = str(value)
        rows.append((env_name(f.name), shown, bool(env.get(env_name(f.name)))))
    return rows


_DOMAIN_LIMIT = re.compile(r"([A-Za-z0-9.-]+\.[A-Za-z]{2,})=(\d+(?:\.\d+)?)?(?:/s)?(?::(\d+))?")

SETTINGS_HELP: dict[str, str] = {
    "GLL_MAIL_DATABASE_URL": "SQLAlchemy URL of the database (default sqlite:///subscribers.db; "
    "postgresql://user@host/db for PostgreSQL).",
    "GLL_MAIL_SMTP_URL": "Outgoing SMTP server, e.g. smtp://user:pass@host:587?starttls=true or "
    "smtps://user:pass@host:465.",
    "GLL_MAIL_BASE_URL": "Public URL of the member web site; gated, manage and unsubscribe links start with it.",
    "GLL_MAIL_SECRET_KEYS": "Comma-separated signing keys, newest first. The newest signs, all verify. "
    "The development placeholder is refused unless GLL_MAIL_BASE_URL is on this machine.",
    "GLL_MAIL_FROM": "Default From address of campaigns.",
    "GLL_MAIL_LIST_ID": "List-Id header value, e.g. 'GLL announcements <announcements.gll.who.int>'.",
    "GLL_MAIL_ENV": "development (default), test or production. Production refuses placeholder secrets.",
    "GLL_MAIL_CAMPAIGNS_DIR": "Folder of campaign sources (default campaigns/).",
    "GLL_MAIL_TEMPLATES_DIR": "Folder of MJML email layouts (default templates/emails/).",
    "GLL_MAIL_RESOURCES_DIR": "Folder of files served by gated resources (default resources/).",
    "GLL_MAIL_IMPORTS_DIR": "Folder where member lists uploaded to the console are kept, so an interrupted "
    "import can be resumed (default: imports/ beside the resources folder).",
    "GLL_MAIL_BOUNCE_DOMAIN": "Domain of the VERP envelope sender bounces+TOKEN@domain.",
    "GLL_MAIL_POSTAL_ADDRESS": "Postal/contact line shown in every email and member page footer.",
    "GLL_MAIL_OPEN_TRACKING": "true to add an open-tracking pixel (default false: privacy first). Reports "
    "label opens as unreliable.",
    "GLL_MAIL_SMTP_CONNECTIONS": "SMTP connections each delivery worker keeps open (default 8).",
    "GLL_MAIL_MAX_MESSAGES_PER_CONNECTION": "Messages sent on one SMTP connection before it is reopened "
    "(default 1000).",
    "GLL_MAIL_RATE_PER_SECOND": "Campaign messages per second, all workers together (default 0: no limit).",
    "GLL_MAIL_PER_DOMAIN_RATE": "Messages per second to one recipient domain, all workers together "
    "(default 0: no limit).",
    "GLL_MAIL_PER_DOMAIN_CONNECTIONS": "Messages in flight at once to one recipient domain, all workers together "
    "(default 0: no limit).",
    "GLL_MAIL_DOMAIN_LIMITS": "Per-domain exceptions to GLL_MAIL_PER_DOMAIN_RATE and _CONNECTIONS, e.g. "
    "'gmail.com=20/s:10, yahoo.com=5/s, example.org=:2' (rate per second, then messages in flight; 0: no limit).",
    "GLL_MAIL_FEEDBACK_SENDER_ID": "The sender field of the Feedback-ID header (campaign:kind:list:SENDER), "
    "as registered with Gmail's feedback loop (default gll-mail).",
    "GLL_MAIL_MAX_ATTEMPTS": "Tries of one message (4xx, timeout, dropped connection) before it fails for good "
    "(default 5).",
    "GLL_MAIL_RETRY_BASE_SECONDS": "First retry delay; doubled at each try, with jitter (default 60).",
    "GLL_MAIL_LEASE_SECONDS": "How long a worker owns the messages it claimed; a dead worker's are taken over "
    "after this (default 300).",
    "GLL_MAIL_FAILURE_PAUSE_THRESHOLD": "Share of failed recent sends (0-1) that pauses a campaign (default 0.5).",
    "GLL_MAIL_FAILURE_WINDOW": "How many recent sends that share is measured over (default 50).",
    "GLL_MAIL_DKIM_KEY_FILE": "PEM private key (RSA-2048 or Ed25519) to DKIM-sign campaign mail; empty: no DKIM.",
    "GLL_MAIL_DKIM_SELECTOR": "DKIM selector (the s= tag; DNS name SELECTOR._domainkey.DOMAIN).",
    "GLL_MAIL_DKIM_DOMAIN": "DKIM signing domain (the d= tag), normally the From domain.",
    "GLL_MAIL_DKIM_ED25519_KEY_FILE": "PEM Ed25519 private key that signs beside GLL_MAIL_DKIM_KEY_FILE (RFC 8463 "
    "dual signing; production refuses Ed25519 alone); empty: one signature.",
    "GLL_MAIL_DKIM_ED25519_SELECTOR": "Selector of the Ed25519 key (its own DNS record, same domain).",
    "GLL_MAIL_LIST_ARCHIVE_URL": "URL of the public archive of past campaigns, sent as List-Archive; empty "
    "(default): no List-Archive header.",
    "GLL_MAIL_WEB_RATE_LIMIT": "Requests per minute one client address may make to member links (/r/, /p/, /m/, "
    "/u/, /confirm/) per web worker before getting 429 (default 300; 0: no limit).",
    "GLL_MAIL_REGISTER_RATE_LIMIT": "Registration forms one client address may send per hour, counted in the "
    "database for all web processes together (default 10; 0: no limit).",
    "GLL_MAIL_RENDER_PROCESSES": "Helper processes that render, build and DKIM-sign the messages of a large "
    "campaign (see GLL_MAIL_RENDER_POOL_MIN) beside the sending process (default -1: one fewer than the CPU cores, all of "
    "them when DKIM is on; 0: everything in the sending process).",
    "GLL_MAIL_RENDER_POOL_MIN": "Queued messages from which a campaign is rendered in the helper processes "
    "(default 2000; smaller campaigns render in the sending process, with no start-up cost).",
    "GLL_MAIL_ADMIN_LOGIN_RATE_LIMIT": "Failed /admin sign-ins one client address may make per 15 minutes, "
    "counted in the database for all web processes together, before it must wait (default 10; 0: no limit).",
    "GLL_MAIL_API_RATE_LIMIT": "Requests per minute one API token may make per web worker before a 429 "
    "problem with Retry-After (default 600; 0: no limit).",
    "GLL_MAIL_APPROVALS_REQUIRED": "How many approvers (not authors of the content) must approve a campaign's "
    "current content before it is scheduled or sent (default -1: 1 when GLL_MAIL_ENV=production, 0 otherwise).",
    "GLL_MAIL_DEBUG": "true to show the full traceback of database, SMTP and other errors instead of one line "
    "(same as `gll-mail --debug`; default false).",
    "GLL_MAIL_METRICS_TOKEN": "Bearer token that opens /metrics (Authorization: Bearer TOKEN); empty (default): "
    "/metrics answers only requests made on this machine, not through a proxy.",
    "GLL_MAIL_WORKER_METRICS_PORT": "`gll-mail worker` serves the same Prometheus metrics on 127.0.0.1:PORT "
    "(default 0: off; the deploy/ units use 9110).",
    "GLL_MAIL_LOG_FORMAT": "text (default) or json: one JSON object per line with the campaign, delivery and "
    "request ids. Member addresses in log lines are replaced by a keyed hash either way.",
    "GLL_MAIL_LOG_LEVEL": "debug, info (default), warning or error.",
    "GLL_MAIL_WEBHOOK_TIMEOUT_SECONDS": "How long one webhook POST may take, connecting and answering (default 10); "
    "a worker owns a claimed webhook for three times this.",
    "GLL_MAIL_WEBHOOK_RETRY_BASE_SECONDS": "First webhook retry delay; doubled at each try up to a day, with jitter "
    "(default 5).",
    "GLL_MAIL_WEBHOOK_GIVE_UP_HOURS": "A webhook not accepted this many hours after its event is given up (marked "
    "failed; default 72).",
    "GLL_MAIL_WEBHOOK_ALLOW_PRIVATE": "true to let webhooks go to private, loopback and link-local addresses when "
    "GLL_MAIL_ENV=production (default false; development and test allow them).",
    "GLL_MAIL_WEB_PROXIES": "How many reverse proxies stand in front of `gll-mail serve`; their X-Forwarded-For "
    "header is trusted that many hops to find the client address (default 0).",
}
