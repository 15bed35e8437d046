"""The report's timeline as a self-contained SVG: one panel per campaign, real users' friction beside them.

Each panel stacks, per time bin, the attempts shield stopped, those that failed at the app and
those that logged in; a dashed line counts challenges. No plotting dependency: plain SVG text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from shield.sim.report import CampaignRow, Report, SegmentRow, Series
from shield.sim.table import pct

WIDTH = 1200
PANEL_H = 170
TOP = 70
LEFT = 70
RIGHT = 250
ATTACK_COLORS = {"stopped by shield": "#2b83ba", "failed at the app": "#bdbdbd", "account taken over": "#d7191c"}
USER_COLORS = {"blocked by shield": "#d7191c", "failed (typo, ...)": "#bdbdbd", "logged in": "#1a9641"}
CHALLENGE_COLOR = "#f28e2b"


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}">{escape(s)}</text>'
    )


def _nice_max(v: int) -> int:
    if v <= 5:
        return 5
    step = 10 ** (len(str(v)) - 1)
    return int(((v + step - 1) // step) * step)


def _panel(series: Series, y0: float, *, legit: bool, summary: Sequence[str]) -> list[str]:
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = PANEL_H - 60
    base = y0 + plot_h + 20
    top = _nice_max(max(series.attempts, default=0))
    n = len(series.attempts)
    bw = plot_w / max(n, 1)
    colors = USER_COLORS if legit else ATTACK_COLORS
    out = [_text(LEFT, y0 + 12, series.name, size=14, weight="bold")]
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#444"/>')
    out.append(_text(LEFT - 6, base, "0", size=10, anchor="end"))
    out.append(_text(LEFT - 6, base - plot_h + 4, str(top), size=10, anchor="end"))
    out.append(f'<line x1="{LEFT}" y1="{base - plot_h}" x2="{LEFT}" y2="{base}" stroke="#444"/>')
    for i in range(n):
        stopped, ok = series.stopped[i], series.successes[i]
        failed = series.attempts[i] - stopped - ok
        y = base
        for count, color in zip((stopped, failed, ok), colors.values(), strict=True):
            if count <= 0:
                continue
            h = count / top * plot_h
            y -= h
            out.append(
                f'<rect x="{LEFT + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 0.5, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{color}"/>'
            )
    points = " ".join(
        f"{LEFT + (i + 0.5) * bw:.1f},{base - c / top * plot_h:.1f}" for i, c in enumerate(series.challenged)
    )
    if any(series.challenged):
        out.append(f'<polyline points="{points}" fill="none" stroke="{CHALLENGE_COLOR}" stroke-dasharray="4 2"/>')
    if not legit:
        for i, ok in enumerate(series.baseline_successes):
            if ok:  # what the same traffic took without shield: hollow markers one row up
                r = 2 + ok**0.5
                out.append(
                    f'<circle cx="{LEFT + (i + 0.5) * bw:.1f}" cy="{base - 16:.1f}" r="{r:.1f}" fill="none" '
                    f'stroke="{ATTACK_COLORS["account taken over"]}" stroke-width="1.2"/>'
                )
        for i, ok in enumerate(series.successes):
            if ok:  # takeovers are the point of the chart: a marker under the axis even when the bar is a sliver
                r = 2 + ok**0.5
                out.append(
                    f'<circle cx="{LEFT + (i + 0.5) * bw:.1f}" cy="{base - r - 1:.1f}" r="{r:.1f}" '
                    f'fill="{ATTACK_COLORS["account taken over"]}" fill-opacity="0.8"/>'
                )
    out += _axis(base, series, plot_w)
    for k, line in enumerate(summary):
        out.append(_text(WIDTH - RIGHT + 16, y0 + 34 + 16 * k, line, size=12))
    return out


def _clock(t: float) -> str:
    """Simulated time as day and hour: d1 02:00 (the run starts at d0 00:00)."""
    day, rest = divmod(int(t), 86400)
    return f"d{day} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _axis(y: float, series: Series, plot_w: float) -> list[str]:
    return time_axis(y, t0=series.t0, bin_s=series.bin_s, bins=len(series.attempts), plot_w=plot_w)


def time_axis(y: float, *, t0: float, bin_s: float, bins: int, plot_w: float) -> list[str]:
    """Ticks and `d0 HH:MM` labels under a plot of `bins` bins from t0 (seconds from day 0's midnight)."""
    span = bin_s * max(bins, 1)
    steps = [60, 300, 600, 1800, 3600, 7200, 4 * 3600, 6 * 3600, 12 * 3600, 86400]
    step = next((s for s in steps if span / s <= 8), 86400)
    out = []
    t = (t0 // step + 1) * step if t0 % step else t0
    while t <= t0 + span + 1e-6:
        x = LEFT + (t - t0) / span * plot_w
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#444"/>')
        out.append(_text(x, y + 16, _clock(t), size=10, anchor="middle"))
        t += step
    return out


def text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start", weight: str = "normal") -> str:
    """An escaped SVG text element (the chart's own font and sizes)."""
    return _text(x, y, s, size=size, anchor=anchor, weight=weight)


def stacked_bars(
    layers: Sequence[tuple[str, Sequence[int]]], y0: float, *, title: str, height: int = PANEL_H
) -> list[str]:
    """A titled panel of stacked bars per time bin: `layers` are (colour, counts per bin), bottom first."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - 60
    base = y0 + plot_h + 20
    bins = max((len(counts) for _, counts in layers), default=0)
    totals = [sum(counts[i] for _, counts in layers if i < len(counts)) for i in range(bins)]
    top = _nice_max(max(totals, default=0))
    bw = plot_w / max(bins, 1)
    out = [_text(LEFT, y0 + 12, title, size=14, weight="bold")]
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#444"/>')
    out.append(f'<line x1="{LEFT}" y1="{base - plot_h}" x2="{LEFT}" y2="{base}" stroke="#444"/>')
    out.append(_text(LEFT - 6, base, "0", size=10, anchor="end"))
    out.append(_text(LEFT - 6, base - plot_h + 4, str(top), size=10, anchor="end"))
    for i in range(bins):
        y = base
        for color, counts in layers:
            count = counts[i] if i < len(counts) else 0
            if count <= 0:
                continue
            h = count / top * plot_h
            y -= h
            out.append(
                f'<rect x="{LEFT + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 0.5, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{color}"/>'
            )
    return out


def bar_list(items: Sequence[tuple[str, int]], y0: float, *, title: str, color: str) -> list[str]:
    """A titled list of horizontal bars, one row per (label, count), longest first as given."""
    out = [_text(LEFT, y0 + 12, title, size=14, weight="bold")]
    most = max((n for _, n in items), default=0) or 1
    bar_w = WIDTH - LEFT - RIGHT - 220
    for k, (label, n) in enumerate(items):
        y = y0 + 30 + 20 * k
        out.append(_text(LEFT + 210, y + 11, label, size=12, anchor="end"))
        w = max(n / most * bar_w, 1)
        out.append(f'<rect x="{LEFT + 220}" y="{y}" width="{w:.1f}" height="14" fill="{color}"/>')
        out.append(_text(LEFT + 226 + w, y + 11, str(n), size=11))
    return out


def _legend(y: float) -> list[str]:
    out, x = [], LEFT
    items = [*ATTACK_COLORS.items(), ("real user logged in", USER_COLORS["logged in"])]
    for label, color in items:
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{color}"/>')
        out.append(_text(x + 16, y, label, size=12))
        x += 24 + 7 * len(label)
    out.append(
        f'<line x1="{x}" y1="{y - 4}" x2="{x + 20}" y2="{y - 4}" stroke="{CHALLENGE_COLOR}" stroke-dasharray="4 2"/>'
    )
    out.append(_text(x + 26, y, "challenged", size=12))
    x += 120
    out.append(f'<circle cx="{x + 6}" cy="{y - 4}" r="5" fill="none" stroke="{ATTACK_COLORS["account taken over"]}"/>')
    out.append(_text(x + 16, y, "taken over without shield", size=12))
    return out


def _attack_summary(c: CampaignRow) -> list[str]:
    base = "-" if c.compromised_baseline is None else str(c.compromised_baseline)
    first = (
        "-" if c.first_mitigation_s is None else f"{c.first_mitigation_s:.0f}s, attempt #{c.first_mitigation_attempts}"
    )
    return [
        f"{c.attempts} attempts",
        f"stopped {pct(c.stopped_share)}",
        f"taken over: {c.compromised} (without shield {base})",
        f"first mitigation: {first}",
    ]


def _user_summary(rows: Sequence[SegmentRow]) -> list[str]:
    by = {r.segment: r for r in rows}
    a = by["all"]
    lines = [
        f"{a.logins} logins",
        f"challenged {pct(a.challenged_share)}",
        f"blocked {pct(a.blocked_share)} ({a.blocked})",
    ]
    for seg in ("carrier-nat", "traveller"):
        if seg in by and by[seg].logins:
            lines.append(f"{seg}: challenged {pct(by[seg].challenged_share)}, blocked {by[seg].blocked}")
    return lines


def render_svg(report: Report, *, title: str = "shield simulate") -> str:
    panels = list(report.series)
    height = TOP + PANEL_H * len(panels) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        _text(LEFT, 28, title, size=18, weight="bold"),
        *_legend(52),
    ]
    campaigns = {c.name: c for c in report.campaigns}
    for k, s in enumerate(panels):
        legit = s.name not in campaigns
        summary = _user_summary(report.users) if legit else _attack_summary(campaigns[s.name])
        out += _panel(s, TOP + k * PANEL_H, legit=legit, summary=summary)
    out.append("</svg>")
    return "\n".join(out)


def write_svg(report: Report, path: Path, *, title: str = "shield simulate") -> None:
    path.write_text(render_svg(report, title=title), encoding="utf-8")
