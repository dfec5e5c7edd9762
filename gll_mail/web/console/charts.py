"""Bar charts for the console's report: inline SVG with a title, labelled axes and a text table
alternative (screen readers read the table; the chart has role="img" and an aria-label)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape


def _ticks(top: int) -> list[int]:
    if top <= 4:
        return list(range(0, max(top, 1) + 1))
    step = max(1, round(top / 4))
    return list(range(0, top + step, step))


def bar_chart(title: str, points: list[list[Any]], *, x_label: str, y_label: str, width: int = 640) -> Markup:
    if not points:
        return Markup(
            '<figure class="chart"><figcaption>{}</figcaption><p class="hint">No data yet.</p></figure>'
        ).format(title)
    height, left, bottom, top_pad = 220, 56, 48, 12
    ticks = _ticks(max(int(v) for _, v in points))
    top = ticks[-1] or 1
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    band = plot_w / len(points)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for t in ticks:
        y = top_pad + plot_h - plot_h * t / top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#d5dde4"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#333">{t}</text>')
    for i, (label, value) in enumerate(points):
        h = plot_h * float(value) / top
        x = left + i * band + band * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{band * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#00629b"><title>{escape(str(label))}: {value}</title></rect>'
        )
        if len(points) <= 12:
            text = escape(str(label)[-16:])
            parts.append(
                f'<text x="{x + band * 0.35:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" '
                f'font-size="11" fill="#333">{text}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 10}" y2="{top_pad + plot_h}" stroke="#333"/>'
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#333"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="12" '
        f'fill="#333">{escape(x_label)}</text>'
        f'<text x="14" y="{top_pad + plot_h / 2:.1f}" text-anchor="middle" font-size="12" fill="#333" '
        f'transform="rotate(-90 14 {top_pad + plot_h / 2:.1f})">{escape(y_label)}</text></svg>'
    )
    rows = "".join(f"<tr><td>{escape(str(label))}</td><td>{value}</td></tr>" for label, value in points)
    table = (
        f'<table class="visually-hidden"><caption>Figures of “{escape(title)}”</caption><thead><tr>'
        f'<th scope="col">{escape(x_label)}</th><th scope="col">{escape(y_label)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    return Markup(f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{"".join(parts)}{table}</figure>')
