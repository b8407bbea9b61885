"""Inline SVG charts laid out in Python, so that templates only draw: a frame (the
viewBox and the plot inside it), where values and points fall in it, path data for
lines, and round tops for an axis. Pure functions of numbers, in SVG user units; no
chart library, no database."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

Xy = tuple[float, float]


@dataclass(frozen=True)
class Frame:
    """A viewBox of `width` × `height` with margins around the plot (for the axes'
    labels). y grows downwards, as in SVG: the baseline is the plot's bottom edge."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def baseline(self) -> int:
        """The y of zero."""
        return self.top + self.plot_height

    def y_of(self, share: float) -> float:
        """The y of `share` of the axis: 0 on the baseline, 1 at the top of the plot."""
        return self.top + self.plot_height * (1 - share)

    def x_of(self, index: int, count: int) -> float:
        """The x of the index-th of `count` points spread evenly from the plot's left
        edge to its right one (a single point in the middle)."""
        if count > 1:
            return self.left + self.plot_width * index / (count - 1)
        return self.left + self.plot_width / 2

    def band(
        self,
        index: int,
        count: int,
        *,
        fill: float = 0.72,
        widest: float = 48,
        narrowest: float = 2,
    ) -> tuple[float, float]:
        """(x, width) of the index-th of `count` bars: each has an equal slot of the plot
        and fills `fill` of it, centred, within [narrowest, widest]."""
        slot = self.plot_width / max(count, 1)
        width = max(min(slot * fill, widest), narrowest)
        return self.left + index * slot + (slot - width) / 2, width

    def stack(self, shares: Iterable[float]) -> list[tuple[float, float]]:
        """(y, height) of segments stacked up from the baseline, each `share` of the axis."""
        y = float(self.baseline)
        segments = []
        for share in shares:
            height = share * self.plot_height
            y -= height
            segments.append((y, height))
        return segments


def path_data(points: Iterable[Xy]) -> str:
    """'M x,y L x,y …': a line through the points, in order."""
    return " ".join(f"{'L' if i else 'M'}{x},{y}" for i, (x, y) in enumerate(points))


def line_paths(points: Iterable[Xy | None]) -> list[str]:
    """One path per run of points, broken where a point is missing (None): a gap in
    the data is a gap in the line."""
    runs: list[list[Xy]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [path_data(run) for run in runs if run]


def label_step(count: int, *, most: int = 8) -> int:
    """Label every n-th of `count` positions so that at most `most` labels show."""
    return max(1, math.ceil(count / most))


def labelled(count: int, *, most: int = 8) -> Sequence[int]:
    """The positions that get a label: the first, then every `label_step`."""
    return range(0, count, label_step(count, most=most))


def nice_ceiling(value: Decimal) -> Decimal:
    """A round top for an axis: 1, 2, 2.5 or 5 × a power of ten, at least `value`."""
    if value <= 0:
        return Decimal(1)
    step = Decimal(10) ** (value.adjusted())
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10
