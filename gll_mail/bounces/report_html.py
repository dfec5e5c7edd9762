"""The HTML campaign report: one self-contained page, charts as inline SVG (no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any


def bar_chart(title: str, points: list[list[Any]], *, width: int = 640, height: int = 180) -> str:
    if not points:
        return f"<figure><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>"
    top = max(v for _, v in points) or 1
    bw = max((width - 40) / len(points), 2)
    bars = []
    for i, (label, value) in enumerate(points):
        h = (height - 30) * value / top
        x = 30 + i * bw
        bars.append(
            f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{bw * 0.8:.1f}" height="{h:.1f}" '
            f'fill="#0093d5"><title>{escape(str(label))}: {value}</title></rect>'
        )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="28" y1="{height - 20}" x2="{width}" y2="{height - 20}" stroke="#555"/>'
        f'<text x="0" y="12" font-size="10">{top}</text>{"".join(bars)}</svg></figure>'
    )


def _breakdown_table(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return ""
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in counts.items())
    return f"<table><caption>{escape(title)}</caption>{rows}</table>"


def render_html(report: dict[str, Any]) -> str:
    c = report["clicks"]
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{v['unique']}</td><td>{v['total']}</td><td>{v['bot_total']}</td></tr>"
        for k, v in c["per_resource"].items()
    )
    warnings = "".join(f'<p class="warn">⚠ {escape(w)}</p>' for w in report["warnings"])
    numbers = [
        ("Audience", report["audience"]),
        ("Sent", report["sent"]),
        ("Failed", report["failed"]),
        ("Hard bounces", report["bounced"]["hard"]),
        ("Soft bounces", report["bounced"]["soft"]),
        ("Complaints", report["complaints"]),
        ("Unsubscribes", report["unsubscribes"]),
        ("Human clicks (unique)", c["human_unique"]),
        ("Human clicks (total)", c["human_total"]),
        ("Bot/scanner clicks", c["bot_total"]),
        ("Registered through its links", report["conversions"]["registered"]),
        ("Joined a pod through its links", report["conversions"]["joined_pod"]),
    ]
    stats = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in numbers)
    rates = "".join(
        f"<tr><th>{escape(r['name'])}</th><td>{r['rate']:.3%}</td><td>{r['level']}</td></tr>" for r in report["rates"]
    )
    breakdowns = "".join(
        _breakdown_table(f"{who} by {by}", source[f"by_{by}"])
        for who, source in (("Human clickers", c), ("Registered or joined", report["conversions"]))
        for by in ("language", "country")
    )
    camp = report["campaign"]
    o = report["opens"]
    opens = (
        f'<p class="warn">Opens (unreliable): {o["unique"]} unique, {o["total"]} total, {o["bot_total"]} by '
        f"scanners or image proxies. {escape(o['note'])}.</p>"
        if o["tracked"]
        else "<p>Opens: not tracked (no tracking pixel, privacy first).</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Report: {escape(camp["slug"])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #ddd}}
.warn{{background:#fff3cd;padding:.5rem}}figure{{margin:1rem 0}}
.cols{{display:flex;flex-wrap:wrap;gap:1rem 2rem;align-items:flex-start}}caption{{text-align:left;font-weight:600}}</style></head>
<body><h1>{escape(camp["subject"])}</h1><p>Campaign <code>{escape(camp["slug"])}</code> · {escape(camp["status"])}</p>
{warnings}<table>{stats}</table>
<h2>Rates against mailbox-provider thresholds</h2><table>{rates}</table>
<h2>Clicks per resource (human)</h2><table><tr><th>Resource</th><th>Unique</th><th>Total</th><th>Bot</th></tr>{rows}</table>
<h2>By language and country</h2><div class="cols">{breakdowns or "<p>No clicks yet.</p>"}</div>
{bar_chart("Sends over time (per hour)", report["series"]["sends"])}
{bar_chart("Human clicks over time (per hour)", report["series"]["clicks"])}
{bar_chart("Funnel: delivered → clicked → registered/joined", report["funnel"])}
{opens}
</body></html>"""
