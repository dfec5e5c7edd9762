"""`gll-mail doctor` against a fully configured deployment built here (real DNS server, SMTP relay with
STARTTLS and AUTH, bounce receiver, the app behind a real HTTPS server): green, and every
misconfiguration turns its own line red."""

from __future__ import annotations

from datetime import timedelta

import pytest
from doctor_support import SENDING_IP, HttpsServer, build, free_port, relay, tear_down
from tls_support import self_signed

from gll_mail.cli import main
from gll_mail.db import head_revisions, make_engine, migrate
from gll_mail.models import Campaign, CampaignStatus, utcnow
from gll_mail.ops import heartbeat
from gll_mail.ops.doctor import run
from gll_mail.settings import PLACEHOLDER_SECRET

pytestmark = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),  # refused TLS handshakes
]


@pytest.fixture
def deployment(engine, settings, tmp_path, monkeypatch):
    built = build(tmp_path, engine, settings.database_url, monkeypatch)
    yield built
    tear_down(built)


def _by_check(findings) -> dict[str, str]:
    return {f"{f.area}:{f.check}": f.status for f in findings}


def test_a_fully_configured_deployment_is_green(deployment):
    findings = run(deployment.settings, deployment.engine, deployment.options(), now=utcnow())
    assert [f for f in findings if f.status != "pass"] == []
    checks = _by_check(findings)
    for expected in (
        "dns:SPF bounces.example.org",
        "dns:DKIM gll2026._domainkey.example.org",
        "dns:DMARC example.org",
        "dns:MX bounces.example.org",
        f"dns:reverse DNS {SENDING_IP}",
        f"transport:bounce receiver 127.0.0.1:{deployment.bounce_port}",
        f"web:{deployment.settings.base_url}/healthz",
        "web:security headers",
        "settings:GLL_MAIL_ENV",
        "database:migrations",
        "process:worker",
        "process:scheduler",
    ):
        assert checks.get(expected) == "pass", expected


def test_the_command_prints_the_table_and_exits_0(deployment, runner, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for name, value in deployment.env().items():
        monkeypatch.setenv(name, value)
    options = deployment.options()
    result = runner.invoke(
        main,
        [
            "doctor",
            "--nameserver",
            options.nameserver,
            "--sending-ip",
            SENDING_IP,
            "--bounce-receiver",
            options.bounce_receiver,
            "--here",
            "127.0.0.1",
        ],
    )
    print(result.output)
    assert result.exit_code == 0, result.output
    assert "0 fail" in result.output and "FAIL" not in result.output


def _mutate_dns(name, rdtype=None, value=None):
    def change(d):
        if rdtype is None:
            d.dns.records[name] = value if value is not None else []
            if value is None:
                del d.dns.records[name]
        elif value is None:
            del d.dns.typed[(name, rdtype)]
        else:
            d.dns.typed[(name, rdtype)] = value
        return d.settings, d.options()

    return change


def _settings(**changes):
    return lambda d: (d.settings.replace(**changes), d.options())


def _relay_without_starttls(d):
    controller, port = relay(None, starttls=False)
    d.stops.append(controller.stop)
    return d.settings.replace(smtp_url=f"smtp://127.0.0.1:{port}?starttls=true"), d.options()


def _web_without_headers(d, tmp_path):
    def bare(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    port = free_port()
    server = HttpsServer(bare, d.cert, d.cert.with_suffix(".key"), port)
    d.stops.append(server.stop)
    return d.settings.replace(base_url=f"https://127.0.0.1:{port}"), d.options()


def _no_worker(d):
    heartbeat.gone(d.engine, "worker-1")
    return d.settings, d.options()


def _overdue_campaign(d):
    from sqlmodel import Session

    with Session(d.engine) as session:
        session.add(
            Campaign(
                slug="late", subject="Late", status=CampaignStatus.SCHEDULED, send_at=utcnow() - timedelta(hours=1)
            )
        )
        session.commit()
    return d.settings, d.options()


def _old_schema(d, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = make_engine(url)
    migrate(old, "0010")
    d.stops.append(old.dispose)
    d.engine = old
    return d.settings.replace(database_url=url), d.options()


def _postgres_down(d):
    down = make_engine("postgresql://postgres@127.0.0.1:1/gll")
    d.stops.append(down.dispose)
    d.engine = down
    return d.settings.replace(database_url="postgresql://postgres@127.0.0.1:1/gll"), d.options()


CASES = [
    (
        "spf does not cover the relay",
        _mutate_dns("bounces.example.org", value=[["v=spf1 ip4:198.51.100.1 -all"]]),
        "dns:SPF bounces.example.org",
    ),
    ("no spf", _mutate_dns("bounces.example.org"), "dns:SPF bounces.example.org"),
    (
        "dkim record of another key",
        _mutate_dns(
            "gll2026._domainkey.example.org",
            value=[["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"]],
        ),
        "dns:DKIM gll2026._domainkey.example.org",
    ),
    ("no dkim key", _settings(dkim_key_file="", dkim_selector="", dkim_domain=""), "dns:DKIM"),
    ("no dmarc", _mutate_dns("_dmarc.example.org"), "dns:DMARC example.org"),
    ("dmarc misaligned", _settings(from_address="GLL <news@other.example>"), "dns:DKIM alignment"),
    ("no mx", _mutate_dns("bounces.example.org", "MX"), "dns:MX bounces.example.org"),
    ("no ptr", _mutate_dns("10.2.0.192.in-addr.arpa", "PTR"), f"dns:reverse DNS {SENDING_IP}"),
    (
        "relay down",
        lambda d: (d.settings.replace(smtp_url=f"smtp://127.0.0.1:{free_port()}"), d.options()),
        "transport:SMTP relay",
    ),
    ("relay without starttls", _relay_without_starttls, "transport:SMTP relay"),
    (
        "wrong relay password",
        lambda d: (d.settings.replace(smtp_url=d.settings.smtp_url.replace("pa55", "wrong")), d.options()),
        "transport:SMTP relay",
    ),
    ("untrusted relay certificate", "untrusted", "transport:SMTP relay"),
    (
        "bounce receiver down",
        lambda d: (d.settings, d.options(bounce_receiver=f"127.0.0.1:{free_port()}")),
        "transport:bounce receiver",
    ),
    ("http base url", _settings(env="development", base_url="http://gll.example.org"), "web:GLL_MAIL_BASE_URL"),
    ("web down", lambda d: (d.settings.replace(base_url=f"https://127.0.0.1:{free_port()}"), d.options()), "web:https"),
    ("web without security headers", "bare", "web:security headers"),
    ("development mode", _settings(env="development"), "settings:GLL_MAIL_ENV"),
    (
        "placeholder secret",
        lambda d: (d.settings.replace(env="development", secret_keys=(PLACEHOLDER_SECRET,)), d.options()),
        "settings:GLL_MAIL_SECRET_KEYS",
    ),
    ("no approvals", _settings(approvals_required=0), "settings:GLL_MAIL_APPROVALS_REQUIRED"),
    ("no postal address", _settings(postal_address=""), "settings:GLL_MAIL_POSTAL_ADDRESS"),
    ("migrations behind", "old", "database:migrations"),
    ("postgresql unreachable", _postgres_down, "database:postgresql"),
    ("no worker", _no_worker, "process:worker"),
    ("scheduler not firing", _overdue_campaign, "process:scheduler"),
]


@pytest.mark.parametrize(("change", "line"), [pytest.param(c, line, id=name) for name, c, line in CASES])
def test_each_misconfiguration_turns_its_line_red(deployment, change, line, tmp_path, monkeypatch):
    if change == "untrusted":
        (tmp_path / "other").mkdir()
        other, _ = self_signed(tmp_path / "other")
        monkeypatch.setenv("SSL_CERT_FILE", str(other))
        settings, options = deployment.settings, deployment.options()
    elif change == "bare":
        settings, options = _web_without_headers(deployment, tmp_path)
    elif change == "old":
        settings, options = _old_schema(deployment, tmp_path)
    else:
        settings, options = change(deployment)
    findings = run(settings, deployment.engine, options, now=utcnow())
    red = [f"{f.area}:{f.check}" for f in findings if f.status == "fail"]
    assert any(name.startswith(line) for name in red), (line, findings)
    assert all(f.fix for f in findings if f.status == "fail")


def test_development_settings_fail_with_what_to_do(engine, runner, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_ENV", "development")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(main, ["doctor", "--timeout", "1", "--nameserver", "127.0.0.1:9"])
    print(result.output)
    assert result.exit_code == 1
    assert "FAIL  settings   GLL_MAIL_ENV" in result.output and "set GLL_MAIL_ENV=production" in result.output
    (newest,) = head_revisions()
    assert f"schema {newest} is the newest" in result.output
