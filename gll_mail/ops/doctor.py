"""`gll-mail doctor`: is this deployment ready to mail 100,000 members?

:func:`run` checks DNS (:mod:`gll_mail.ops.doctor_dns`), the SMTP relay and the bounce receiver, the
public web site, the settings, the database and the worker, and returns one
:class:`~gll_mail.ops.findings.Finding` per check: pass, warn or fail, each with what to do.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from gll_mail.db import current_revision, describe, explain, head_revisions, is_sqlite, sqlite_file
from gll_mail.models import Campaign, CampaignStatus, utcnow
from gll_mail.ops import heartbeat
from gll_mail.ops.doctor_dns import dns_findings
from gll_mail.ops.findings import Finding, failed, passed, warned
from gll_mail.settings import PLACEHOLDER_SECRET, Settings
from gll_mail.smtp.client import SmtpConfig

SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
)
OVERDUE = timedelta(minutes=5)  # a scheduled campaign this late means no scheduler is firing


@dataclass
class Options:
    nameserver: str | None = None  # HOST or HOST:PORT; default: the system's resolvers
    sending_ip: str | None = None  # the relay's public address, for SPF and reverse DNS
    bounce_receiver: str | None = None  # HOST:PORT; default: the bounce domain's MX, port 25
    here: set[str] = field(default_factory=set)  # this server's public addresses (default: its own)
    timeout: float = 10.0


def run(
    settings: Settings, engine: Engine, options: Options | None = None, now: datetime | None = None
) -> list[Finding]:
    options = options or Options()
    now = now or utcnow()
    findings, mx_host = dns_findings(
        settings,
        nameserver=options.nameserver,
        sending_ip=options.sending_ip,
        here=options.here,
        timeout=options.timeout,
    )
    findings.append(check_relay(settings, options.timeout))
    findings.append(
        check_bounce_receiver(options.bounce_receiver or (f"{mx_host}:25" if mx_host else None), options.timeout)
    )
    findings += check_web(settings, options.timeout)
    findings += check_settings(settings)
    database = check_database(engine)
    findings += database
    if all(f.status != "fail" for f in database):
        findings += check_process(engine, now)
    else:
        findings.append(failed("process", "worker", "not checked: the database is not ready", "fix the database first"))
    return findings


# --- transport ---


class _Refused(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


async def _probe_relay(config: SmtpConfig) -> tuple[bool, bool]:
    import aiosmtplib

    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.implicit_tls,
        start_tls=False,
        timeout=config.timeout,
        validate_certs=config.verify,
    )
    await client.connect()
    try:
        await client.ehlo()
        tls = config.implicit_tls
        if config.starttls:
            if not client.supports_extension("starttls"):
                raise _Refused(
                    "the relay does not offer STARTTLS, which GLL_MAIL_SMTP_URL asks for (?starttls=true)",
                    "enable STARTTLS on the relay, or use its implicit-TLS port with smtps://",
                )
            await client.starttls()
            tls = True
        if config.username:
            try:
                await client.login(config.username, config.password or "")
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise _Refused(
                    f"the relay refused the user {config.username!r}: {exc.code} {exc.message}",
                    "correct the user and password in GLL_MAIL_SMTP_URL",
                ) from None
            except aiosmtplib.SMTPException as exc:
                raise _Refused(
                    f"the relay does not take AUTH: {exc}",
                    "enable AUTH on the relay, or drop the user from GLL_MAIL_SMTP_URL",
                ) from None
        await client.quit()
        return tls, bool(config.username)
    finally:
        client.close()


def check_relay(settings: Settings, timeout: float) -> Finding:
    config = SmtpConfig.from_url(settings.smtp_url)
    config = SmtpConfig(**{**config.__dict__, "timeout": min(config.timeout, timeout)})
    check = f"SMTP relay {config.host}:{config.port}"
    try:
        tls, auth = asyncio.run(_probe_relay(config))
    except _Refused as exc:
        return failed("transport", check, exc.detail, exc.fix)
    except Exception as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return failed(
                "transport",
                check,
                f"the relay's TLS certificate is not trusted: {cause}",
                "give the relay a certificate from a trusted CA (or add its CA to the system's trust store)",
            )
        return failed(
            "transport", check, f"the relay does not answer: {exc}", "start the relay, or correct GLL_MAIL_SMTP_URL"
        )
    local = config.host in ("127.0.0.1", "localhost", "::1")
    how = ("implicit TLS" if config.implicit_tls else "STARTTLS" if tls else "no TLS") + (
        ", AUTH accepted" if auth else ""
    )
    if not tls and not local:
        return warned(
            "transport",
            check,
            f"answers, but with {how}: mail and passwords cross the network in clear",
            "use ?starttls=true or smtps:// in GLL_MAIL_SMTP_URL",
        )
    return passed("transport", check, f"answers ({how})")


def check_bounce_receiver(address: str | None, timeout: float) -> Finding:
    if not address:
        return warned(
            "transport", "bounce receiver", "not checked: no MX", "publish the MX, or give --bounce-receiver HOST:PORT"
        )
    host, _, port = address.rpartition(":")
    check = f"bounce receiver {address}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(512).decode("ascii", "replace").strip()
            sock.sendall(b"QUIT\r\n")
    except OSError as exc:
        return failed(
            "transport",
            check,
            f"nothing answers: {exc.strerror or exc}",
            "run `gll-mail bounces receive` there (deploy/gll-mail-bounces.service) and open the port",
        )
    if not banner.startswith("220"):
        return failed(
            "transport",
            check,
            f"answers {banner[:80]!r}, not an SMTP greeting",
            "point the port at `gll-mail bounces receive`",
        )
    return passed("transport", check, f"answers {banner[:60]!r}")


# --- web ---


def check_web(settings: Settings, timeout: float) -> list[Finding]:
    url = settings.url_for("/healthz")
    if not settings.base_url.startswith("https://"):
        return [
            failed(
                "web",
                "GLL_MAIL_BASE_URL",
                f"{settings.base_url} is not https: member links and sign-ins would cross the network in clear",
                "put nginx with TLS in front (deploy/nginx-gll-mail.conf) and set an https:// base URL",
            )
        ]
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ssl.create_default_context()) as response:
            body, headers, status = response.read(), response.headers, response.status
    except urllib.error.HTTPError as exc:
        return [failed("web", url, f"answers {exc.code}", "check nginx's proxy_pass and that `gll-mail serve` runs")]
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return [
                failed(
                    "web",
                    url,
                    f"the TLS certificate is not trusted: {reason.verify_message}",
                    "install a certificate from a trusted CA (e.g. Let's Encrypt)",
                )
            ]
        return [
            failed(
                "web", url, f"does not answer: {reason}", "start nginx and `gll-mail serve`, and check DNS for the host"
            )
        ]
    except (OSError, TimeoutError) as exc:
        return [failed("web", url, f"does not answer: {exc}", "start nginx and `gll-mail serve`")]
    findings = []
    try:
        ok = status == 200 and json.loads(body).get("ok") is True
    except ValueError:
        ok = False
    findings.append(
        passed("web", url, "answers through TLS")
        if ok
        else failed(
            "web", url, f"answers {status} but not gll-mail's health check", "point the proxy at `gll-mail serve`"
        )
    )
    missing = [name for name in SECURITY_HEADERS if name not in headers]
    findings.append(
        failed(
            "web",
            "security headers",
            f"missing: {', '.join(missing)}",
            "let the proxy pass gll-mail's headers (do not strip them)",
        )
        if missing
        else passed("web", "security headers", ", ".join(SECURITY_HEADERS))
    )
    return findings


# --- settings ---


def check_settings(settings: Settings) -> list[Finding]:
    area = "settings"
    found = [
        passed(area, "GLL_MAIL_ENV", "production")
        if settings.env == "production"
        else failed(
            area,
            "GLL_MAIL_ENV",
            f"{settings.env}: placeholder secrets and http are allowed",
            "set GLL_MAIL_ENV=production",
        ),
    ]
    weak = [k for k in settings.secret_keys if k == PLACEHOLDER_SECRET or len(k) < 32]
    found.append(
        failed(
            area,
            "GLL_MAIL_SECRET_KEYS",
            "holds the development placeholder"
            if PLACEHOLDER_SECRET in weak
            else "holds a key shorter than 32 characters",
            "set GLL_MAIL_SECRET_KEYS to `python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
        )
        if weak
        else passed(area, "GLL_MAIL_SECRET_KEYS", f"{len(settings.secret_keys)} real key(s)")
    )
    found.append(
        passed(area, "GLL_MAIL_APPROVALS_REQUIRED", f"{settings.required_approvals} approver(s) before a send")
        if settings.required_approvals >= 1
        else failed(
            area,
            "GLL_MAIL_APPROVALS_REQUIRED",
            "0: one person can send to every member",
            "set GLL_MAIL_APPROVALS_REQUIRED=1 (or more)",
        )
    )
    found.append(
        passed(area, "GLL_MAIL_POSTAL_ADDRESS", settings.postal_address[:60])
        if settings.postal_address.strip()
        else failed(
            area,
            "GLL_MAIL_POSTAL_ADDRESS",
            "empty: bulk mail must carry a postal address",
            "set GLL_MAIL_POSTAL_ADDRESS",
        )
    )
    return found


# --- database, process ---


def check_database(engine: Engine) -> list[Finding]:
    where = describe(engine.url)
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        return [failed("database", where, "the database file does not exist", "run `gll-mail init`")]
    try:
        with engine.connect() as connection:
            version = connection.execute(
                text("SELECT sqlite_version()" if is_sqlite(engine) else "SHOW server_version")
            ).scalar()
        current = current_revision(engine)
    except DBAPIError as exc:
        return [
            failed("database", where, explain(exc, engine.url), "start the database, or correct GLL_MAIL_DATABASE_URL")
        ]
    kind = "SQLite" if is_sqlite(engine) else "PostgreSQL"
    found = [passed("database", where, f"{kind} {version} answers")]
    heads = head_revisions()
    if current in heads:
        found.append(passed("database", "migrations", f"schema {current} is the newest"))
    else:
        found.append(
            failed(
                "database",
                "migrations",
                f"schema {current or 'empty'}, this gll-mail needs {', '.join(sorted(heads))}",
                "run `gll-mail init` (back up first: `gll-mail backup`)",
            )
        )
    return found


def check_process(engine: Engine, now: datetime) -> list[Finding]:
    workers = heartbeat.alive(engine, now)
    found = []
    if workers:
        ages = ", ".join(f"{w.owner} {int((now - heartbeat.aware(w.seen_at)).total_seconds())}s ago" for w in workers)
        found.append(passed("process", "worker", f"{len(workers)} seen: {ages}"))
    else:
        found.append(
            failed(
                "process",
                "worker",
                f"no worker seen in the last {int(heartbeat.STALE.total_seconds())}s: nothing sends",
                "start `gll-mail worker` (systemctl start gll-mail-worker)",
            )
        )
    with engine.connect() as connection:
        overdue = (
            connection.execute(
                select(Campaign.slug).where(
                    Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now - OVERDUE
                )
            )
            .scalars()
            .all()
        )
    if overdue:
        found.append(
            failed(
                "process",
                "scheduler",
                f"scheduled campaigns not launched on time: {', '.join(overdue)}",
                "start `gll-mail worker`: its scheduler launches them",
            )
        )
    elif workers:
        found.append(passed("process", "scheduler", "alive (it writes the heartbeat); no campaign overdue"))
    else:
        found.append(
            failed(
                "process",
                "scheduler",
                "no worker, so no scheduler: scheduled campaigns will not start",
                "start `gll-mail worker`",
            )
        )
    return found
