"""/metrics (Prometheus format, behind a token or on this machine only), /readyz, /healthz, the
worker's own metrics port, and the JSON logs: ids on every line, no member's address."""

from __future__ import annotations

import io
import json
import logging
import urllib.request

from delivery_support import add_subscribers, write_campaign
from prometheus_client.parser import text_string_to_metric_families

from gll_mail.campaigns.sources import load_source
from gll_mail.delivery.control import send_now
from gll_mail.models import Event, EventType
from gll_mail.ops import heartbeat, logs
from gll_mail.ops.metrics import serve_worker_metrics
from gll_mail.web import create_app


def _samples(body: bytes) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _send(engine, settings, smtp_server, tmp_path, count=6):
    fast = settings.replace(smtp_url=smtp_server.url, campaigns_dir=tmp_path / "campaigns")
    add_subscribers(engine, count, domains=("example.org", "who.int"))
    return send_now(engine, fast, load_source(write_campaign(fast.campaigns_dir, "news")))


def test_metrics_count_messages_per_campaign_and_domain(client, engine, web_settings, smtp_server, tmp_path, session):
    _send(engine, web_settings, smtp_server, tmp_path)
    session.add(Event(type=EventType.BOUNCE_HARD, source="bounce"))
    session.add(Event(type=EventType.COMPLAINT, source="bounce"))
    session.commit()
    heartbeat.beat(engine, "worker-a")
    client.get("/healthz")
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    got = _samples(response.data)
    sent = "gll_mail_messages_total"
    assert got[(sent, (("campaign", "news"), ("domain", "example.org"), ("outcome", "sent")))] == 3
    assert got[(sent, (("campaign", "news"), ("domain", "who.int"), ("outcome", "sent")))] == 3
    assert got[("gll_mail_queue_oldest_age_seconds", ())] == 0
    assert got[("gll_mail_bounces_total", (("kind", "hard"),))] == 1
    assert got[("gll_mail_complaints_total", ())] == 1
    assert ("gll_mail_worker_heartbeat_timestamp_seconds", (("worker", "worker-a"),)) in got
    healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert got[("gll_mail_http_requests_total", healthz)] >= 1
    assert got[("gll_mail_http_request_duration_seconds_count", (("route", "/healthz"),))] >= 1


def test_metrics_are_closed_to_the_outside(client, web_settings, engine):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 403
    proxied = client.get(
        "/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"X-Forwarded-For": "203.0.113.5"}
    )
    assert proxied.status_code == 403  # nginx on this machine passing on a request from outside
    with_token = create_app(web_settings.replace(metrics_token="t0ken-for-prometheus"), engine).test_client()
    outside = {"REMOTE_ADDR": "203.0.113.5"}
    assert with_token.get("/metrics", environ_base=outside).status_code == 403
    assert (
        with_token.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer wrong"}).status_code == 403
    )
    opened = with_token.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer t0ken-for-prometheus"})
    assert opened.status_code == 200


def test_readyz_asks_the_database_and_healthz_does_not(client, web_settings, engine, tmp_path):
    assert client.get("/readyz").get_json() == {"ok": True, "database": "ok"}
    from gll_mail.db import make_engine

    broken = make_engine("postgresql://postgres@127.0.0.1:1/gll")
    app = create_app(web_settings, broken).test_client()
    assert app.get("/readyz").status_code == 503
    assert app.get("/healthz").status_code == 200
    broken.dispose()


def test_the_worker_serves_metrics_on_a_local_port(engine):
    from doctor_support import free_port

    port = free_port()
    server, thread = serve_worker_metrics(engine, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read()
    finally:
        server.shutdown()
        server.server_close()
    assert b"# TYPE gll_mail_queue_depth gauge" in body and b"gll_mail_queue_oldest_age_seconds 0.0" in body


def test_json_logs_carry_ids_and_no_member_address(client, engine, web_settings, smtp_server, tmp_path):
    stream = io.StringIO()
    handler = logs.configure(web_settings.replace(log_format="json"), stream)
    try:
        _send(engine, web_settings, smtp_server, tmp_path, count=4)
        logging.getLogger("gll_mail.test").info("member %s asked", "m00001@example.org")
        response = client.get("/healthz", headers={"X-Request-ID": "req-42"})
        assert response.headers["X-Request-ID"] == "req-42"
        with client.application.test_request_context("/"):
            client.application.preprocess_request()
            logging.getLogger("gll_mail.web").info("inside a request")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    sends = [line for line in lines if line["message"].startswith("delivery ")]
    assert len(sends) == 4 and all(isinstance(line["campaign_id"], int) and line["delivery_id"] for line in sends)
    assert any(line.get("request_id") for line in lines if line["message"] == "inside a request")
    text = stream.getvalue()
    assert "@example.org" not in text and "@who.int" not in text
    asked = next(line for line in lines if line["message"].startswith("member "))
    assert asked["message"] == f"member {logs.address_hash('m00001@example.org', web_settings.secret_keys[0])} asked"
