"""A stacked bar chart as inline SVG, drawn on the server: no JavaScript, no CDN.

Every bar segment carries a ``<title>`` (its hour and count), so hovering reads the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from regstack_django.audit.dashboard import KINDS, Hour

COLORS = {KINDS[0]: "#417690", KINDS[1]: "#ba2121", KINDS[2]: "#e69f00"}
WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28


def _ticks(peak: int) -> list[int]:
    """Return up to 5 round y-axis values (steps 1, 2, 5, 10, 20...) from 0 to at least ``peak``."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if -(-peak // step) <= 4:
                return list(range(0, -(-peak // step) * step + 1, step))
        magnitude *= 10


def bar_chart(hours: Sequence[Hour], *, label: str, label_every: int, fmt: str) -> SafeString:
    """Return ``hours`` as a stacked bar chart (``label`` names it for screen readers)."""
    peak = max((h.total for h in hours), default=0)
    ticks = _ticks(max(peak, 1))
    scale = (HEIGHT - TOP - BOTTOM) / ticks[-1]
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(hours), 1)
    gap = 1 if slot >= 4 else 0
    base = HEIGHT - BOTTOM
    parts: list[SafeString] = []
    for value in ticks:
        y = base - value * scale
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#666">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 6,
                f"{y + 4:.1f}",
                value,
            )
        )
    for i, hour in enumerate(hours):
        x = LEFT + i * slot
        top = float(base)
        when = hour.start.strftime("%Y-%m-%d %H:00 UTC")
        for kind in KINDS:
            n = hour.counts[kind]
            if not n:
                continue
            h = n * scale
            top -= h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>",
                    f"{x + gap / 2:.1f}",
                    f"{top:.1f}",
                    f"{max(slot - gap, 0.5):.1f}",
                    f"{h:.1f}",
                    COLORS[kind],
                    when,
                    n,
                    kind,
                )
            )
        if i % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="11" fill="#666">{}</text>',
                    f"{x:.1f}",
                    HEIGHT - 10,
                    hour.start.strftime(fmt),
                )
            )
    parts.append(
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#999"/>', LEFT, WIDTH - RIGHT, base, base
        )
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}" class="regstack-audit-chart"><title>{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        label,
        mark_safe("".join(parts)),
    )


def legend() -> SafeString:
    """Return the series' colours and names, as HTML."""
    return format_html_join(
        " ",
        '<span class="regstack-audit-key"><svg width="12" height="12"><rect width="12" '
        'height="12" fill="{}"/></svg> {}</span>',
        ((COLORS[kind], kind) for kind in KINDS),
    )
