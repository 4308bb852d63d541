"""The monthly report's chart: posts and answered topics week by week, as a small PNG (640 x 300
px, a few tens of KB) drawn by matplotlib's Agg renderer, without pyplot (no global figure
state, so the worker's threads can each draw one).

The picture holds no words, only numbers: its legend and caption are in the report's own
language around it (matplotlib lays text out left to right without shaping, which would break
Arabic), and the x axis names each week by the day of the month it starts on."""
from __future__ import annotations

import io
from typing import Sequence

POSTS_COLOUR = "#1a5fb4"  # the report's blue (templates/report.html draws the legend in the same colours)
ANSWERED_COLOUR = "#e66100"
WIDTH, HEIGHT, DPI = 640, 300, 100


def weekly_chart(days: Sequence[int], posts: Sequence[int], answered: Sequence[int]) -> bytes:
    """A PNG of grouped bars: for each week (named by `days`, the day of the month it starts on)
    its posts and its answered topics."""
    # Imported here: matplotlib costs ~0.3 s to import, which only a report should pay.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.1, 0.12, 0.88, 0.82))  # room for 4-digit counts and the top label
    places = range(len(days))
    width = 0.38
    for shift, values, colour in ((-width / 2, posts, POSTS_COLOUR), (width / 2, answered, ANSWERED_COLOUR)):
        bars = axes.bar([x + shift for x in places], values, width, color=colour)
        axes.bar_label(bars, [str(v) if v else "" for v in values], padding=2, fontsize=12, color="#333333")
    axes.set_xticks(list(places), [str(d) for d in days])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes.set_ylim(0, max([*posts, *answered, 1]) * 1.15)  # room for the numbers over the bars
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.grid(axis="y", color="#d0d7de", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color("#555555")
    axes.tick_params(colors="#555555", labelsize=14, length=0)  # read at half size on a phone
    out = io.BytesIO()
    # No metadata: the same figures give the same bytes (matplotlib would stamp its version).
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})
    return out.getvalue()
