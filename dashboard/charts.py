"""Server-rendered SVG sparklines: points computed here, drawn by the template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Chart", "chart"]

#: The drawing area of every chart, in SVG user units.
WIDTH, HEIGHT = 300.0, 60.0


@dataclass(frozen=True)
class Chart:
    """One line chart: the polyline's points, its largest value and a text summary.

    .. versionadded:: 0.1
    """

    points: str
    peak: float
    last: float | None
    empty: bool

    @property
    def width(self) -> float:
        """The width of the drawing area."""
        return WIDTH

    @property
    def height(self) -> float:
        """The height of the drawing area."""
        return HEIGHT


def chart(values: Sequence[float | None]) -> Chart:
    """A chart of ``values`` (``None`` counts as 0), scaled to the drawing area.

    .. versionadded:: 0.1
    """
    numbers = [v or 0.0 for v in values]
    if not numbers:
        return Chart("", 0.0, None, True)
    peak = max(numbers)
    scale = (HEIGHT - 4) / peak if peak > 0 else 0.0
    step = WIDTH / max(len(numbers) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{HEIGHT - 2 - value * scale:.1f}"
        for index, value in enumerate(numbers)
    )
    if len(numbers) == 1:
        points += f" {WIDTH:.1f},{HEIGHT - 2 - numbers[0] * scale:.1f}"
    return Chart(points, peak, values[-1], False)
