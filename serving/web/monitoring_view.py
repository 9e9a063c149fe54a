"""The monitoring page's trend over the weeks: a status strip and small line charts (inline SVG, drawn on the
server, colours as SVG attributes because the pages' Content-Security-Policy allows no inline style), and
the rows of the table beside them. Built from :func:`serving.routes.monitoring.trend`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from data.calendar import SchoolCalendar, iso_week_number
from monitoring.status import STATUS_NL, STATUSES
from serving.routes.monitoring import TrendOut

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 560, 48, 12, 14, 30
STATUS_FILL = {"ok": "#2e7d32", "watch": "#b86e00", "retrain": "#b3261e"}
UNKNOWN_FILL = "#9e9e9e"
Value = float | None


@dataclass(frozen=True)
class Series:
    """One line: its legend text, colour, dash pattern (empty: solid) and a value per week."""

    label: str
    colour: str
    values: Sequence[Value]
    dash: str = ""


def axis_week(calendar: SchoolCalendar, week: int) -> str:
    """A week on an axis: the calendar week ("wk 47"); "sw 130" outside the configured school years."""
    if 0 <= week <= calendar.last_week:
        return f"wk {iso_week_number(calendar, week)}"
    return f"sw {week}"


def percent_nl(value: Value, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%".replace(".", ",")


def decimal_nl(value: Value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}".replace(".", ",")


def _head(title: str, desc: str, height: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
    )


def _x_positions(count: int) -> list[float]:
    """Evenly spaced: one report a column (the stored weeks need not be consecutive)."""
    if count == 1:
        return [(LEFT + WIDTH - RIGHT) / 2]
    span = WIDTH - LEFT - RIGHT - 20
    return [LEFT + 10 + i * span / (count - 1) for i in range(count)]


def _x_labels(xs: list[float], labels: Sequence[str], y: float) -> list[str]:
    step = max(1, round(len(labels) / 7))  # at most about seven labels
    return [
        f'<text class="axis" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(label)}</text>'
        for i, (x, label) in enumerate(zip(xs, labels, strict=True))
        if i % step == 0 or i == len(labels) - 1
    ]


def status_strip(statuses: Sequence[str], labels: Sequence[str], full: Sequence[str]) -> Markup:
    """One coloured block per weekly report (green: in orde, orange: in de gaten houden, red: hertrainen
    aanbevolen), the week below it, and a legend in words."""
    height = 92
    desc = "; ".join(f"{w}: {STATUS_NL.get(s, s)}" for w, s in zip(full, statuses, strict=True))
    parts = [_head("Status per week", desc or "geen rapporten", height)]
    xs = _x_positions(len(statuses))
    width = min(40.0, (WIDTH - LEFT - RIGHT) / max(len(statuses), 1) - 2)
    for x, status, week in zip(xs, statuses, full, strict=True):
        parts.append(
            f'<rect x="{x - width / 2:.1f}" y="{TOP}" width="{width:.1f}" height="26" rx="3" '
            f'fill="{STATUS_FILL.get(status, UNKNOWN_FILL)}"><title>{escape(week)}: '
            f"{escape(STATUS_NL.get(status, status))}</title></rect>"
        )
    parts += _x_labels(xs, labels, TOP + 42)
    legend_x = LEFT
    for status in STATUSES:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 20}" width="12" height="12" rx="2" '
            f'fill="{STATUS_FILL[status]}"/>'
            f'<text class="axis" x="{legend_x + 16}" y="{height - 10}">{escape(STATUS_NL[status])}</text>'
        )
        legend_x += 24 + 7 * len(STATUS_NL[status])
    parts.append("</svg>")
    return Markup("".join(parts))


def trend_chart(
    labels: Sequence[str],
    full: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_max: float,
    fmt: Callable[[float], str],
    intervals: Sequence[tuple[Value, Value]] = (),
    height: int = 190,
) -> Markup:
    """Lines over the weekly reports (a gap where a value is None), with an optional vertical interval
    per week drawn around the first series, the y axis from 0 to ``y_max`` and a legend in words."""
    legend_h = 18
    inner = height - TOP - BOTTOM - legend_h
    y_max = y_max or 1.0

    def y(value: float) -> float:
        return TOP + (1 - min(max(value, 0.0), y_max) / y_max) * inner

    desc = "; ".join(
        f"{s.label}: "
        + ", ".join(f"{w} {fmt(v)}" for w, v in zip(full, s.values, strict=True) if v is not None)
        for s in series
    )
    parts = [_head(title, desc, height)]
    for tick in (0.0, y_max / 2, y_max):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    xs = _x_positions(len(labels))
    colour = series[0].colour if series else "#000"
    for x, (low, high) in zip(xs, intervals, strict=False):
        if low is not None and high is not None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(low):.1f}" y2="{y(high):.1f}" stroke="{colour}" '
                'stroke-width="6" stroke-opacity="0.3" stroke-linecap="round"/>'
            )
    for line in series:
        segments: list[list[tuple[float, float]]] = [[]]
        for x, value in zip(xs, line.values, strict=True):
            if value is None:
                segments.append([])
            else:
                segments[-1].append((x, y(value)))
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        for segment in segments:
            if len(segment) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py in segment)
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{line.colour}" stroke-width="2"{dash}/>'
                )
        for x, value, week in zip(xs, line.values, full, strict=True):
            if value is not None:
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y(value):.1f}" r="3.2" fill="{line.colour}">'
                    f"<title>{escape(week)}: {escape(line.label)} {escape(fmt(value))}</title></circle>"
                )
    parts += _x_labels(xs, labels, height - legend_h - 10)
    legend_x = LEFT
    for line in series:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="{height - 8}" y2="{height - 8}" '
            f'stroke="{line.colour}" stroke-width="2.5"{dash}/>'
            f'<text class="axis" x="{legend_x + 22}" y="{height - 4}">{escape(line.label)}</text>'
        )
        legend_x += 34 + 6 * len(line.label)
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class TrendRow:
    """One row of the trend table, as text."""

    week: int
    status: str
    status_nl: str
    alerts: str
    roc_auc: str
    precision: str
    observed: str
    predicted: str
    drifted: str
    response: str


def top_share_label(points: Sequence[TrendOut]) -> str:
    """ "precisie top 5%" when the reports say the capacity share, else "precisie in de top"."""
    shares = {p.capacity_share for p in points if p.capacity_share is not None}
    if len(shares) == 1:
        return f"precisie top {percent_nl(shares.pop(), 0)}"
    return "precisie in de top"


def trend_rows(points: Sequence[TrendOut]) -> list[TrendRow]:
    """The table beside the charts, newest week first."""
    rows = []
    for p in reversed(points):
        interval = (
            f" ({percent_nl(p.observed_low)}-{percent_nl(p.observed_high)})"
            if p.observed_low is not None and p.observed_high is not None
            else ""
        )
        drifted = "-" if p.drifted is None else str(p.drifted)
        if p.drifted is not None and p.compared is not None:
            drifted = f"{p.drifted} van {p.compared}"
        response = percent_nl(p.response_rate, 0)
        if p.reference_response_rate is not None:
            response += f" (training {percent_nl(p.reference_response_rate, 0)})"
        rows.append(
            TrendRow(
                week=p.week,
                status=p.status,
                status_nl=p.status_nl,
                alerts=", ".join(p.alerts) or "-",
                roc_auc=decimal_nl(p.roc_auc) if p.judged else "nog niet te beoordelen",
                precision=decimal_nl(p.precision_at_k) if p.judged else "-",
                observed=percent_nl(p.observed_rate) + interval if p.judged else "-",
                predicted=percent_nl(p.mean_probability) if p.judged else "-",
                drifted=drifted,
                response=response,
            )
        )
    return rows


def trend_charts(
    points: Sequence[TrendOut], calendar: SchoolCalendar, full: Sequence[str]
) -> list[tuple[str, Markup]]:
    """The status strip and the charts of the key figures (caption, chart), oldest week left."""
    labels = [axis_week(calendar, p.week) for p in points]
    top = top_share_label(points)
    calibration_max = max(
        [v for p in points for v in (p.observed_high, p.observed_rate, p.mean_probability) if v is not None]
        + [0.01]
    )
    drifted_max = max([p.drifted or 0 for p in points] + [4])
    drifted = [None if p.drifted is None else float(p.drifted) for p in points]
    return [
        ("Status per week", status_strip([p.status for p in points], labels, full)),
        (
            f"Prestaties op uitgekomen labels: ROC-AUC en {top} (hoger is beter)",
            trend_chart(
                labels,
                full,
                [
                    Series("ROC-AUC", "#0b4f8a", [p.roc_auc for p in points]),
                    Series(top, "#6a1b9a", [p.precision_at_k for p in points], "5 3"),
                ],
                title="Prestaties op uitgekomen labels per week (hoger is beter)",
                y_max=1.0,
                fmt=lambda v: decimal_nl(v, 1),
            ),
        ),
        (
            "Kalibratie: werkelijk vsv-aandeel met interval en de voorspelde kans (voorspeld binnen het "
            "interval is goed)",
            trend_chart(
                labels,
                full,
                [
                    Series("werkelijk vsv (met interval)", "#b86e00", [p.observed_rate for p in points]),
                    Series("voorspeld", "#0b4f8a", [p.mean_probability for p in points], "5 3"),
                ],
                title="Kalibratie per week: voorspeld binnen het interval van werkelijk is goed",
                y_max=calibration_max * 1.15,
                fmt=percent_nl,
                intervals=[(p.observed_low, p.observed_high) for p in points],
            ),
        ),
        (
            "Aantal verschoven gegevens, van alle soorten (lager is beter)",
            trend_chart(
                labels,
                full,
                [Series("verschoven gegevens", "#b3261e", drifted)],
                title="Aantal verschoven gegevens per week (lager is beter)",
                y_max=float(drifted_max),
                fmt=lambda v: f"{v:.0f}",
            ),
        ),
        (
            "Vragenlijstrespons, laatste 8 weken (hoger is beter)",
            trend_chart(
                labels,
                full,
                [
                    Series("respons", "#2e7d32", [p.response_rate for p in points]),
                    Series("bij training", "#555555", [p.reference_response_rate for p in points], "5 3"),
                ],
                title="Vragenlijstrespons per week (hoger is beter)",
                y_max=1.0,
                fmt=lambda v: percent_nl(v, 0),
            ),
        ),
    ]
