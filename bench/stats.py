"""Percentiles, figures beside their floors, and the table and JSON the bench prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figure:
    """One measured figure; ``floor`` is what the hardware does at the same job in this run."""

    scenario: str
    name: str
    value: float | None
    unit: str
    floor_name: str | None = None
    floor: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """The figure as a fraction of its floor (for times: floor / figure)."""
        if self.value is None or self.floor is None or self.value == 0 or self.floor == 0:
            return None
        return self.value / self.floor if self.higher_is_better else self.floor / self.value

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"ratio": self.ratio}


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit in {"s", "ms"} or abs(value) < 100:
        text = f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table: figure, value, floor, ratio."""
    lines = [
        "| scenario | figure | Rapport | floor in the same run | ratio |",
        "|---|---|---|---|---|",
    ]
    for f in figures:
        floor = f"{f.floor_name}: {number(f.floor, f.unit)}" if f.floor_name else "—"
        ratio = "—" if f.ratio is None else f"{f.ratio:.1%}"
        value = number(f.value, f.unit) + (f" ({f.note})" if f.note else "")
        lines.append(f"| {f.scenario} | {f.name} | {value} | {floor} | {ratio} |")
    return "\n".join(lines)
