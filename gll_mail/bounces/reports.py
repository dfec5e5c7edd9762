"""Campaign reports: what a campaign achieved, with human clicks separated from scanners and bots.

A click counts as a bot when the member web marked it (``Event.is_bot``), when it was a HEAD
request or came from a known scanner agent, or by timing: a recipient whose clicks hit two or more
different links within ``BURST_SECONDS`` of each other and within ``EARLY_SECONDS`` of delivery
(link scanners in mail gateways open every link at once, seconds after the message arrives).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from gll_mail.errors import GllMailError
from gll_mail.events import SCANNER_AGENTS
from gll_mail.models import Campaign, Delivery, Event, EventType, Resource, Subscriber

EARLY_SECONDS = 120
BURST_SECONDS = 5
COMPLAINT_TARGET = 0.001  # providers: keep spam complaints under 0.1 %
COMPLAINT_LIMIT = 0.003  # never reach 0.3 %
BOUNCE_TARGET = 0.02  # hard bounces: keep under 2 %
BOUNCE_LIMIT = 0.05


class ReportError(GllMailError):
    pass


OUTSIDE_CATALOG = "links outside the catalog (web pages, pods, manage, archive)"


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def bot_reason(event: Event, sent_at: datetime | None, burst_ids: set[int]) -> str | None:
    data = event.data or {}
    if event.is_bot:
        return "flagged"
    if str(data.get("method", "GET")).upper() == "HEAD":
        return "head-request"
    if SCANNER_AGENTS.search(str(data.get("user_agent", ""))):
        return "scanner-agent"
    if event.id in burst_ids:
        return "timing"
    return None


def _burst_ids(clicks: list[Event], sent_at: dict[int, datetime | None]) -> set[int]:
    """Clicks of one recipient on ≥2 links within seconds of each other, right after delivery."""
    by_sub: dict[int, list[Event]] = defaultdict(list)
    for e in clicks:
        if e.subscriber_id is not None:
            by_sub[e.subscriber_id].append(e)
    out: set[int] = set()
    for sub_id, events in by_sub.items():
        sent = sent_at.get(sub_id)
        if sent is None:
            continue
        early = [e for e in events if 0 <= (_aware(e.created_at) - sent).total_seconds() <= EARLY_SECONDS]
        early.sort(key=lambda e: e.created_at)
        if len({e.resource_id for e in early}) < 2:
            continue
        first = _aware(early[0].created_at)
        burst = [e for e in early if (_aware(e.created_at) - first).total_seconds() <= BURST_SECONDS]
        if len({e.resource_id for e in burst}) >= 2:
            out.update(e.id for e in burst)
    return out


def _rate_check(name: str, rate: float, target: float, limit: float) -> dict[str, Any]:
    if rate >= limit:
        level = "over-limit"
    elif rate >= target:
        level = "over-target"
    elif rate >= 0.8 * target:
        level = "near-target"
    else:
        level = "ok"
    return {"name": name, "rate": rate, "target": target, "limit": limit, "level": level}


def campaign_report(session: Session, slug: str) -> dict[str, Any]:
    campaign = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        raise ReportError(f"no campaign {slug!r}")
    deliveries = list(session.exec(select(Delivery).where(Delivery.campaign_id == campaign.id)))
    status = Counter(d.status for d in deliveries)
    sent_at = {d.subscriber_id: _aware(d.sent_at) for d in deliveries if d.subscriber_id is not None}
    events = list(session.exec(select(Event).where(Event.campaign_id == campaign.id).order_by(Event.created_at)))
    by_type: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_type[e.type].append(e)
    subs = {
        s.id: s
        for s in session.exec(
            select(Subscriber).where(
                Subscriber.id.in_(set(sent_at) | {e.subscriber_id for e in events if e.subscriber_id})
            )
        )
    }
    resources = {r.id: r for r in session.exec(select(Resource))}

    clicks = by_type.get(EventType.CLICK, [])
    bursts = _burst_ids(clicks, sent_at)
    human, bots, bot_reasons = [], [], Counter()
    for e in clicks:
        reason = bot_reason(e, sent_at.get(e.subscriber_id), bursts)
        if reason:
            bots.append(e)
            bot_reasons[reason] += 1
        else:
            human.append(e)
    per_resource: dict[str, dict[str, int]] = {}
    for rid in sorted({e.resource_id for e in clicks}, key=lambda r: (r is None, r)):
        slug_r = (
            resources[rid].slug if rid in resources else OUTSIDE_CATALOG if rid is None else f"(deleted resource {rid})"
        )
        h = [e for e in human if e.resource_id == rid]
        per_resource[slug_r] = {
            "unique": len({e.subscriber_id for e in h}),
            "total": len(h),
            "bot_total": sum(1 for e in bots if e.resource_id == rid),
        }
    first_click: dict[int, datetime] = {}
    for e in human:
        if e.subscriber_id is not None and e.subscriber_id not in first_click:
            first_click[e.subscriber_id] = _aware(e.created_at)
    # conversions: a registration confirmed, or a pod joined, through this campaign's own gated
    # links (the signed link carries the campaign through registration and its confirmation)
    registered = {e.subscriber_id for e in by_type.get(EventType.CONFIRMED, []) if e.subscriber_id is not None}
    joined = {e.subscriber_id for e in by_type.get(EventType.POD_JOINED, []) if e.subscriber_id is not None}
    clickers = _breakdown(subs, first_click)
    converted = _breakdown(subs, registered | joined)

    def uniq(kind: str) -> int:
        """Members with an event of ``kind``; each event of a deleted account counts as its own."""
        found = by_type.get(kind, [])
        return len({e.subscriber_id for e in found if e.subscriber_id is not None}) + sum(
            1 for e in found if e.subscriber_id is None
        )

    sent = status.get("sent", 0)
    hard, soft, complaints = uniq(EventType.BOUNCE_HARD), uniq(EventType.BOUNCE_SOFT), uniq(EventType.COMPLAINT)
    delivered = max(sent - hard, 0)
    rates = [
        _rate_check("complaint rate", complaints / sent if sent else 0.0, COMPLAINT_TARGET, COMPLAINT_LIMIT),
        _rate_check("hard bounce rate", hard / sent if sent else 0.0, BOUNCE_TARGET, BOUNCE_LIMIT),
    ]
    warnings = [
        f"{r['name']} {r['rate']:.2%} is {r['level']} (target < {r['target']:.1%}, never {r['limit']:.1%})"
        for r in rates
        if r["level"] != "ok"
    ]

    def hourly(times: list[datetime | None]) -> list[list[Any]]:
        c = Counter(t.strftime("%Y-%m-%dT%H:00Z") for t in (_aware(x) for x in times) if t is not None)
        return [[k, c[k]] for k in sorted(c)]

    return {
        "campaign": {
            "slug": campaign.slug,
            "subject": campaign.subject,
            "status": campaign.status,
            "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        },
        "audience": len(deliveries),
        "sent": sent,
        "failed": status.get("failed", 0),
        "suppressed": status.get("suppressed", 0),
        "pending": sum(v for k, v in status.items() if k in ("queued", "sending")),
        "delivered": delivered,
        "bounced": {"hard": hard, "soft": soft},
        "complaints": complaints,
        "unsubscribes": uniq(EventType.UNSUBSCRIBED),
        "clicks": {
            "human_unique": len(first_click),
            "human_total": len(human),
            "bot_total": len(bots),
            "bot_reasons": dict(bot_reasons),
            "per_resource": per_resource,
            "by_language": clickers["language"],
            "by_country": clickers["country"],
        },
        "conversions": {
            "registered": len(registered),
            "joined_pod": len(joined),
            "by_language": converted["language"],
            "by_country": converted["country"],
        },
        "funnel": [
            ["delivered", delivered],
            ["clicked", len(first_click)],
            ["registered or joined", len(registered | joined)],
        ],
        "opens": _opens(by_type.get(EventType.OPEN, [])),
        "rates": rates,
        "warnings": warnings,
        "series": {"sends": hourly([d.sent_at for d in deliveries]), "clicks": hourly([e.created_at for e in human])},
    }


def _breakdown(subs: dict[int, Subscriber], ids) -> dict[str, dict[str, int]]:
    """How many of the members ``ids`` per language and per country (most first; "?" when unknown)."""
    language: Counter = Counter()
    country: Counter = Counter()
    for sid in ids:
        sub = subs.get(sid)
        language[(sub.language if sub else "") or "?"] += 1
        country[(sub.country if sub else "") or "?"] += 1
    return {"language": dict(language.most_common()), "country": dict(country.most_common())}


OPENS_UNRELIABLE = (
    "opens are unreliable: image proxies (Apple Mail Privacy Protection, Gmail) load the "
    "pixel for every message, and image blocking hides real readers; judge by clicks"
)


def _opens(events: list[Event]) -> dict[str, Any]:
    """Pixel loads, only present when GLL_MAIL_OPEN_TRACKING was on; always labelled unreliable."""
    if not events:
        return {"tracked": False, "note": "no open-tracking pixel (privacy first); opens are not measured"}
    human = [e for e in events if bot_reason(e, None, set()) is None]
    return {
        "tracked": True,
        "reliable": False,
        "unique": len({e.subscriber_id for e in human}),
        "total": len(human),
        "bot_total": len(events) - len(human),
        "note": OPENS_UNRELIABLE,
    }


def render_text(report: dict[str, Any]) -> str:
    c = report["clicks"]
    lines = [
        f"Campaign {report['campaign']['slug']}: {report['campaign']['subject']} ({report['campaign']['status']})",
        f"  audience {report['audience']}  sent {report['sent']}  failed {report['failed']}  "
        f"suppressed {report['suppressed']}  pending {report['pending']}",
        f"  bounced hard {report['bounced']['hard']}  soft {report['bounced']['soft']}  "
        f"complaints {report['complaints']}  unsubscribes {report['unsubscribes']}",
        f"  clicks (human): {c['human_unique']} unique, {c['human_total']} total; "
        f"bot/scanner clicks {c['bot_total']} {c['bot_reasons'] or ''}".rstrip(),
    ]
    for slug, n in c["per_resource"].items():
        lines.append(f"    {slug}: {n['unique']} unique, {n['total']} total ({n['bot_total']} bot)")
    conversions = report["conversions"]
    lines.append(
        f"  registered through its links {conversions['registered']}, "
        f"joined a pod through its links {conversions['joined_pod']}"
    )
    for who, source in (("clickers", c), ("registered or joined", conversions)):
        for by in ("language", "country"):
            if source[f"by_{by}"]:
                lines.append(f"  {who} by {by}: " + ", ".join(f"{k} {v}" for k, v in source[f"by_{by}"].items()))
    for r in report["rates"]:
        lines.append(f"  {r['name']}: {r['rate']:.3%} ({r['level']})")
    opens = report["opens"]
    if opens["tracked"]:
        lines.append(
            f"  opens (UNRELIABLE): {opens['unique']} unique, {opens['total']} total, "
            f"{opens['bot_total']} by scanners/proxies; {opens['note']}"
        )
    else:
        lines.append("  opens: not tracked")
    for w in report["warnings"]:
        lines.append(f"  WARNING: {w}")
    return "\n".join(lines)
