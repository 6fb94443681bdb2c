"""A client's check-in scores as a server-rendered SVG chart (sessions marked), readable without
JavaScript; the page around it gives screen readers the same data as a table."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 16, 16, 32


@dataclass(frozen=True)
class Point:
    at: datetime
    score: int
    urgent: bool = False


def _x(at: datetime, start: datetime, span: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * ((at - start).total_seconds() / span)


def _y(score: int) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - score / 10)


def svg(points: Sequence[Point], sessions: Sequence[datetime], time_zone: str) -> str:
    zone = ZoneInfo(time_zone)
    instants = [p.at for p in points] + list(sessions)
    start = min(instants, default=datetime(2000, 1, 1, tzinfo=zone)) - timedelta(hours=12)
    end = max(instants, default=start) + timedelta(hours=12)
    span = max((end - start).total_seconds(), 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="chart-title chart-desc" '
        'class="check-in-chart">',
        '<title id="chart-title">Check-in scores over time</title>',
        f'<desc id="chart-desc">{len(points)} scores from 0 (worst) to 10 (best); '
        f"{len(sessions)} sessions marked with dashed lines. The table below has the same "
        "data.</desc>",
    ]
    for score in (0, 5, 10):
        y = _y(score)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ccc" stroke-width="1"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{score}</text>'
        )
    for at in sessions:
        x = _x(at, start, span)
        label = escape(at.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
        parts.append(
            f'<line class="session" data-at="{at.isoformat()}" x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#6a5acd" stroke-dasharray="4 3">'
            f"<title>Session {label}</title></line>"
        )
    ordered = sorted(points, key=lambda p: p.at)
    if len(ordered) > 1:
        path = " ".join(f"{_x(p.at, start, span):.1f},{_y(p.score):.1f}" for p in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for p in ordered:
        label = escape(p.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
        parts.append(
            f'<circle class="score" data-score="{p.score}" data-at="{p.at.isoformat()}" '
            f'cx="{_x(p.at, start, span):.1f}" cy="{_y(p.score):.1f}" r="4" '
            f'fill="{"#b42318" if p.urgent else "#1f6feb"}"><title>{label}: {p.score}</title>'
            "</circle>"
        )
    if ordered or sessions:
        for at, anchor in (
            (start + timedelta(hours=12), "start"),
            (end - timedelta(hours=12), "end"),
        ):
            parts.append(
                f'<text x="{_x(at, start, span):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" '
                f'font-size="11">{escape(at.astimezone(zone).strftime("%b %d"))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def csv_text(points: Sequence[Point], time_zone: str) -> str:
    zone = ZoneInfo(time_zone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["received_at", "local_time", "score", "urgent"])
    for p in sorted(points, key=lambda p: p.at):
        local = p.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        writer.writerow([p.at.isoformat(), local, p.score, "yes" if p.urgent else "no"])
    return out.getvalue()
