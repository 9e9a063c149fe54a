"""Small inline SVG charts drawn on the server (no JavaScript, no files from elsewhere).

Every chart carries a ``<title>`` and ``<desc>`` for screen readers; the pages put the numbers in a table
beside it as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _fmt_default(v: float) -> str:
    return f"{v:g}"


def line_chart(
    points: Sequence[tuple[int, float | None]],
    *,
    title: str,
    y_min: float,
    y_max: float,
    fmt: Callable[[float], str] = _fmt_default,
    lines: Sequence[tuple[float, str]] = (),
    height: int = HEIGHT,
    now: int | None = None,
    x_fmt: Callable[[int], str] = str,
) -> Markup:
    """A line over the weeks (gaps where a value is None), with optional dashed reference lines and a
    "nu" marker at week ``now``; ``x_fmt`` writes a week on the axis (e.g. the calendar week)."""
    known = [(w, v) for w, v in points if v is not None]
    desc = ", ".join(f"{x_fmt(w)}: {fmt(v)}" for w, v in known) or "geen gegevens"
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
    )
    if not known:
        return Markup(head + f'<text x="{LEFT}" y="{height / 2}" class="muted">geen gegevens</text></svg>')
    weeks = [w for w, _ in points]
    w_lo, w_hi = min(weeks), max(weeks)
    span = max(w_hi - w_lo, 1)
    y_span = (y_max - y_min) or 1.0
    inner_h = height - TOP - BOTTOM

    def x(week: int) -> float:
        return LEFT + (week - w_lo) / span * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (1 - (min(max(value, y_min), y_max) - y_min) / y_span) * inner_h

    parts = [head]
    for tick in (y_min, (y_min + y_max) / 2, y_max):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    for value, label in lines:
        parts.append(
            f'<line class="ref" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{WIDTH - RIGHT}" y="{y(value) - 3:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    step = max(1, span // 6)
    for week in range(w_lo, w_hi + 1, step):
        anchor = "end" if x(week) > WIDTH - RIGHT - 30 else "start" if x(week) < LEFT + 30 else "middle"
        parts.append(
            f'<text class="axis" x="{x(week):.1f}" y="{height - 8}" text-anchor="{anchor}">'
            f"{escape(x_fmt(week))}</text>"
        )
    if now is not None and w_lo <= now <= w_hi:
        parts.append(
            f'<line class="now" x1="{x(now):.1f}" x2="{x(now):.1f}" y1="{TOP}" y2="{height - BOTTOM}"/>'
            f'<text class="axis now-label" x="{x(now) - 4:.1f}" y="{TOP + 10}" text-anchor="end">nu</text>'
        )
    segments: list[list[tuple[int, float]]] = [[]]
    for week, maybe in points:
        if maybe is None:
            segments.append([])
        else:
            segments[-1].append((week, maybe))
    for seg in segments:
        if len(seg) > 1:
            path = " ".join(f"{x(w):.1f},{y(v):.1f}" for w, v in seg)
            parts.append(f'<polyline class="line" points="{path}"/>')
    for week, value in known:
        parts.append(
            f'<circle class="dot" cx="{x(week):.1f}" cy="{y(value):.1f}" r="3">'
            f"<title>{escape(x_fmt(week))}: {escape(fmt(value))}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(items: Sequence[tuple[str, float]], *, title: str) -> Markup:
    """Horizontal bars around zero: positive (raises the risk) and negative (lowers it)."""
    row_h, label_w, width = 24, 260, 640
    height = row_h * len(items) + 24
    desc = "; ".join(f"{label}: {value:+.3f}" for label, value in items) or "geen gegevens"
    largest = max((abs(v) for _, v in items), default=1.0) or 1.0
    half = (width - label_w - 70) / 2
    zero = label_w + half
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title><desc>{escape(desc)}</desc>',
        f'<line class="grid" x1="{zero}" x2="{zero}" y1="0" y2="{height - 20}"/>',
    ]
    for i, (label, value) in enumerate(items):
        top = i * row_h + 4
        length = abs(value) / largest * half
        x0 = zero if value >= 0 else zero - length
        cls = "bar-up" if value >= 0 else "bar-down"
        parts.append(
            f'<text class="axis" x="{label_w - 8}" y="{top + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="{cls}" x="{x0:.1f}" y="{top}" width="{max(length, 1):.1f}" height="{row_h - 8}"/>'
            f'<text class="axis" x="{zero + half + 6}" y="{top + 15}">{value:+.3f}</text>'
        )
    parts.append(
        f'<text class="axis" x="{zero}" y="{height - 6}" text-anchor="middle">'
        "← verlaagt het risico · verhoogt het risico →</text></svg>"
    )
    return Markup("".join(parts))


def sparkline(
    points: Sequence[tuple[int, float | None]],
    *,
    title: str,
    y_min: float,
    y_max: float,
    fmt: Callable[[float], str] = _fmt_default,
    width: int = 96,
    height: int = 24,
) -> Markup:
    """A word-sized line over the last weeks (the newest week at the right, marked with a dot)."""
    known = [(w, v) for w, v in points if v is not None]
    desc = ", ".join(f"{fmt(v)}" for _, v in known) or "geen gegevens"
    head = (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
        f"<title>{escape(title)}: {escape(desc)}</title>"
    )
    if len(known) < 2:
        return Markup(head + "</svg>")
    weeks = [w for w, _ in points]
    lo, span = min(weeks), max(max(weeks) - min(weeks), 1)
    y_span = (y_max - y_min) or 1.0

    def x(week: int) -> float:
        return 2 + (week - lo) / span * (width - 4)

    def y(value: float) -> float:
        return 2 + (1 - (min(max(value, y_min), y_max) - y_min) / y_span) * (height - 4)

    path = " ".join(f"{x(w):.1f},{y(v):.1f}" for w, v in known)
    last_w, last_v = known[-1]
    return Markup(
        head + f'<polyline class="line" points="{path}"/>'
        f'<circle class="dot" cx="{x(last_w):.1f}" cy="{y(last_v):.1f}" r="2.2"/></svg>'
    )


def balance_bar(up: float, down: float, scale: float, *, width: int = 200, height: int = 14) -> Markup:
    """Two bars from a middle line: right (red) what pushes the risk up, left (green) what pushes it down,
    on a common ``scale`` so that domains can be compared."""
    scale = scale or 1.0
    half = width / 2
    right = min(up / scale, 1.0) * (half - 2)
    left = min(-down / scale, 1.0) * (half - 2)
    return Markup(
        f'<svg class="balance" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
        f"<title>verhoogt {up:.2f}, verlaagt {-down:.2f} (log-odds)</title>"
        f'<rect class="bar-down" x="{half - left:.1f}" y="2" width="{left:.1f}" height="{height - 4}"/>'
        f'<rect class="bar-up" x="{half:.1f}" y="2" width="{right:.1f}" height="{height - 4}"/>'
        f'<line class="grid" x1="{half}" x2="{half}" y1="0" y2="{height}"/></svg>'
    )


def grouped_bars(
    years: Sequence[str],
    series: dict[str, list[tuple[int, float | None]]],
    *,
    targets: dict[str, float] | None = None,
    title: str = "Jaarlijks vsv-percentage per niveau en schooljaar",
) -> Markup:
    """Vertical bars: one group per label (a level), one bar per school year, a dashed line for a target.
    Shades run from light (the oldest year) to dark (the latest)."""
    groups = list(series)
    width, height, bottom, top, left = 640, 220, 44, 14, 44
    plot_h = height - bottom - top
    largest = max(
        [v for pts in series.values() for _, v in pts if v is not None]
        + list((targets or {}).values())
        + [0.01]
    )
    ceiling = largest * 1.15
    group_w = (width - left - 10) / max(len(groups), 1)
    bar_w = min(28.0, (group_w - 16) / max(len(years), 1))
    shades = ["#9fa8da", "#5c6bc0", "#283593", "#1a237e", "#0d1450"]
    desc = "; ".join(
        f"{g}: " + ", ".join(f"{years[i]} {v * 100:.1f}%" for i, v in pts if v is not None)
        for g, pts in series.items()
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
    ]
    for tick in (0.0, ceiling / 2, ceiling):
        y = top + plot_h - tick / ceiling * plot_h
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * 100:.0f}%</text>'
        )
    for g_i, group in enumerate(groups):
        x0 = left + g_i * group_w + 8
        for i, value in series[group]:
            if value is None:
                continue
            h = value / ceiling * plot_h
            x = x0 + i * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{max(h, 1):.1f}" '
                f'fill="{shades[min(i, len(shades) - 1)]}"><title>{escape(group)}, {escape(years[i])}: '
                f"{value * 100:.1f}%</title></rect>"
            )
        if targets and group in targets:
            y = top + plot_h - targets[group] / ceiling * plot_h
            parts.append(
                f'<line x1="{x0 - 3:.1f}" x2="{x0 + len(years) * bar_w + 1:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3"/>'
            )
        parts.append(
            f'<text class="axis" x="{x0 + len(years) * bar_w / 2:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
    legend_x = left
    for i, year in enumerate(years):
        parts.append(
            f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" '
            f'fill="{shades[min(i, len(shades) - 1)]}"/>'
            f'<text class="axis" x="{legend_x + 14}" y="{height - 5}">{escape(year)}</text>'
        )
        legend_x += 90
    if targets:
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="{height - 9}" y2="{height - 9}" '
            'stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text class="axis" x="{legend_x + 22}" y="{height - 5}">'
            "streefcijfer regio</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def effect_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None, float | None, float | None]],
    *,
    title: str = "Geschat effect op vsv binnen de horizon, in procentpunten",
) -> Markup:
    """One line per measure: the estimate with its 95% interval (a bar with a dot), the naive difference
    (an open diamond) and, in synthetic data, the true effect (a cross); a vertical line at zero.
    ``rows`` as (label, estimate, ci_low, ci_high, naive, true), differences in probability."""
    row_h, label_w, width = 34, 330, 760
    height = row_h * len(rows) + 64
    values = [v for r in rows for v in r[1:] if v is not None] + [0.01, -0.01]
    span = max(abs(v) for v in values) * 1.15
    plot_w = width - label_w - 20

    def x(v: float) -> float:
        return label_w + (v + span) / (2 * span) * plot_w

    desc = "; ".join(
        f"{r[0]}: effect {'-' if r[1] is None else f'{r[1] * 100:+.1f}'} pp"
        + ("" if r[2] is None or r[3] is None else f" ({r[2] * 100:+.1f} tot {r[3] * 100:+.1f})")
        for r in rows
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title><desc>{escape(desc)}</desc>',
        f'<line class="grid" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="0" y2="{height - 58}"/>',
        f'<text class="axis" x="{x(0):.1f}" y="{height - 28}" text-anchor="middle">'
        "← minder vertrek · procentpunt · meer vertrek →</text>",
    ]
    for tick in (-span, -span / 2, 0.0, span / 2, span):
        parts.append(
            f'<text class="axis" x="{x(tick):.1f}" y="{height - 44}" text-anchor="middle">'
            f"{'0' if tick == 0 else f'{tick * 100:+.0f}'}</text>"
        )
    for i, (label, est, lo, hi, naive, true) in enumerate(rows):
        y = i * row_h + 18
        parts.append(
            f'<text class="axis" x="{label_w - 10}" y="{y + 4}" text-anchor="end">{escape(label)}</text>'
        )
        if lo is not None and hi is not None:
            parts.append(
                f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y}" y2="{y}" stroke="#283593" '
                'stroke-width="6" stroke-linecap="round" opacity="0.45"/>'
            )
        if est is not None:
            parts.append(f'<circle cx="{x(est):.1f}" cy="{y}" r="6" fill="#1a237e"/>')
        if naive is not None:
            cx = x(naive)
            parts.append(
                f'<polygon points="{cx:.1f},{y - 7} {cx + 7:.1f},{y} {cx:.1f},{y + 7} {cx - 7:.1f},{y}" '
                'fill="none" stroke="#b86e00" stroke-width="2"/>'
            )
        if true is not None:
            cx = x(true)
            parts.append(
                f'<path d="M{cx - 6:.1f},{y - 6} L{cx + 6:.1f},{y + 6} '
                f'M{cx - 6:.1f},{y + 6} L{cx + 6:.1f},{y - 6}" '
                'stroke="#1b4d23" stroke-width="2.5"/>'
            )
    legend_y, lx = height - 6, 20
    parts.append(
        f'<circle cx="{lx}" cy="{legend_y - 4}" r="5" fill="#1a237e"/>'
        f'<text class="axis" x="{lx + 10}" y="{legend_y}">geschat effect met 95%-interval</text>'
        f'<polygon points="{lx + 215},{legend_y - 10} {lx + 221},{legend_y - 4} {lx + 215},'
        f'{legend_y + 2} {lx + 209},{legend_y - 4}" fill="none" stroke="#b86e00" stroke-width="2"/>'
        f'<text class="axis" x="{lx + 226}" y="{legend_y}">naïef verschil</text>'
        f'<path d="M{lx + 320},{legend_y - 9} L{lx + 330},{legend_y + 1} M{lx + 320},'
        f'{legend_y + 1} L{lx + 330},{legend_y - 9}" stroke="#1b4d23" stroke-width="2.5"/>'
        f'<text class="axis" x="{lx + 336}" y="{legend_y}">echt effect (alleen synthetisch)</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
