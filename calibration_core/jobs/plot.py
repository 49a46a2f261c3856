"""The reliability diagram of the review report, drawn with matplotlib when it is installed."""

# Shell module. matplotlib is an optional extra (pip install 'calibration_core[plot]'):
# it is imported inside the function, never at module import, so that
# `import calibration_core` and the runtime loader never pay for it or need it.

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from calibration_core.core.metrics import ReliabilityTable

__all__ = ["FEW_TRADES_PER_BIN", "MATPLOTLIB_MISSING_NOTE", "render_reliability_png"]

MATPLOTLIB_MISSING_NOTE = (
    "matplotlib is not installed, so the reliability diagram was not drawn "
    "(pip install 'calibration_core[plot]')."
)
"""What the report says instead of the picture."""


FEW_TRADES_PER_BIN = 30
"""Bins with fewer trades than this are drawn faded: their win rate is mostly noise."""


def _draw_curve(
    axes: Axes, table: ReliabilityTable, *, colour: str, marker: str, label: str
) -> None:
    # The line joins every bin; each point carries its Wilson 95 % interval, the
    # same one the report's table prints. Thin bins are faded and hollow.
    xs = [float(b.mean_predicted) for b in table.bins]
    ys = [float(b.observed_rate) for b in table.bins]
    axes.plot(xs, ys, color=colour, linewidth=1.2, alpha=0.6, label=label)
    for b in table.bins:
        few = b.count < FEW_TRADES_PER_BIN
        y = float(b.observed_rate)
        axes.errorbar(
            [float(b.mean_predicted)],
            [y],
            yerr=[[max(0.0, y - float(b.ci_low))], [max(0.0, float(b.ci_high) - y)]],
            fmt=marker,
            color=colour,
            markerfacecolor="white" if few else colour,
            alpha=0.35 if few else 1.0,
            capsize=3,
            linewidth=1.0,
        )


def render_reliability_png(
    raw: ReliabilityTable,
    calibrated: ReliabilityTable,
    *,
    raw_label: str = "raw",
    calibrated_label: str = "calibrated",
    title: str = "Reliability diagram",
) -> bytes | None:
    """Draw raw and calibrated reliability curves with their Wilson intervals and bin counts.

    Bins with fewer than ``FEW_TRADES_PER_BIN`` trades are drawn faded and hollow.

    Parameters
    ----------
    raw, calibrated : ReliabilityTable
        Tables over the same trades (mean predicted, observed win rate and its
        Wilson 95 % interval per bin).
    raw_label, calibrated_label : str, optional
        Legend entries.
    title : str, optional
        Figure title.

    Returns
    -------
    bytes or None
        A PNG image, or None when matplotlib cannot be imported (the caller
        then says so in the report and keeps the table).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        return None

    # A Figure with its own Agg canvas: no pyplot global state, no display needed.
    figure = Figure(figsize=(7.0, 7.5), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    curve = figure.add_subplot(grid[0])
    bars = figure.add_subplot(grid[1], sharex=curve)

    curve.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", label="perfectly honest")
    _draw_curve(curve, raw, colour="tab:red", marker="o", label=raw_label)
    _draw_curve(curve, calibrated, colour="tab:blue", marker="s", label=calibrated_label)
    curve.plot(
        [], [], " ", label=f"faded, hollow: fewer than {FEW_TRADES_PER_BIN} trades in the bin"
    )
    curve.set_xlim(0.0, 1.0)
    curve.set_ylim(0.0, 1.0)
    curve.set_ylabel("observed win rate")
    curve.set_title(title)
    curve.legend(loc="upper left")
    curve.grid(visible=True, alpha=0.3)
    curve.tick_params(labelbottom=False)

    # Side by side within each bin: raw on the left half, calibrated on the right.
    for table, colour, side in ((raw, "tab:red", -1.0), (calibrated, "tab:blue", 1.0)):
        widths = [float(b.upper) - float(b.lower) for b in table.bins]
        counts = [int(b.count) for b in table.bins]
        lefts = [
            0.5 * (float(b.lower) + float(b.upper)) + side * 0.2 * w
            for b, w in zip(table.bins, widths, strict=True)
        ]
        bars.bar(lefts, counts, width=[0.4 * w for w in widths], color=colour)
        for x, count in zip(lefts, counts, strict=True):
            bars.annotate(str(count), (x, count), ha="center", va="bottom", fontsize=7)
    bars.set_xlabel("confidence")
    bars.set_ylabel("trades per bin")
    bars.grid(visible=True, alpha=0.3)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
