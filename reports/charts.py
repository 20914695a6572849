"""Bar charts for the reports, drawn with ReportLab's graphics: a series of counts over
categories (time buckets, purposes, reasons...), in the reports' colours, with a title and,
for several series, a legend. Each is a Drawing `width` wide, a flowable in a story."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String

from reports.pdf import ACCENT, BAD, GOOD, MUTED

SERIES = [ACCENT, BAD, GOOD, MUTED]  # the colour of the first series, the second...
MOST_LABELS = 14  # a vertical chart's axis labels at most this many of its categories


def vertical_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Sequence[int]],
    names: Sequence[str],
    *,
    width: float,
) -> Drawing:
    """Columns for each category along the bottom (a time line, say), one per series; long
    axes are labelled at intervals, slanted."""
    drawing = Drawing(width, 190)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 40, width - 60, 120
    chart.data = [list(values) for values in series]
    chart.categoryAxis.categoryNames = thin_labels(labels, MOST_LABELS)
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(labels) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(labels) > 8 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.barSpacing = 0.5
    _colour(chart, len(series))
    drawing.add(chart)
    drawing.add(String(0, 176, title, fontName="Helvetica-Bold", fontSize=9))
    drawing.add(legend(names, width - 150, 182))
    return drawing


def horizontal_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Sequence[int]],
    names: Sequence[str],
    *,
    width: float,
) -> Drawing:
    """Bars for each category down the left, in the order given, one per series; as tall as
    its categories need. A single series has no legend."""
    height = 30 + 16 * len(labels) * max(1, len(series))
    drawing = Drawing(width, height + 30)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 150, 10, width - 170, height
    chart.data = [list(values) for values in series]
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.reverseDirection = 1
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    _colour(chart, len(series))
    drawing.add(chart)
    drawing.add(String(0, height + 16, title, fontName="Helvetica-Bold", fontSize=9))
    if len(names) > 1:
        drawing.add(legend(names, width - 150, height + 22))
    return drawing


def _colour(chart: VerticalBarChart | HorizontalBarChart, series: int) -> None:
    for n in range(series):
        chart.bars[n].fillColor = SERIES[n]
        chart.bars[n].strokeColor = None


def legend(names: Iterable[str], x: float, y: float) -> Legend:
    """The series' names beside their colours, side by side in one row from (x, y)."""
    drawn = Legend()
    drawn.x, drawn.y = x, y
    drawn.fontSize = 7
    drawn.alignment = "right"
    drawn.columnMaximum = 1
    drawn.deltax = 70
    drawn.colorNamePairs = list(zip(SERIES, names, strict=False))
    return drawn


def thin_labels(labels: Sequence[str], most: int) -> list[str]:
    """Label at most `most` buckets of a long axis, evenly."""
    every = max(1, -(-len(labels) // most))
    return [label if n % every == 0 else "" for n, label in enumerate(labels)]
