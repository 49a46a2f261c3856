"""The reliability diagram of the review report, drawn with matplotlib when it is installed."""

# Shell module. matplotlib is an optional extra (pip install 'calibration_core[plot]'):
# it is imported inside the function, never at module import, so that
# `import calibration_core` and the runtime loader never pay for it or need it.

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calibration_core.metrics import ReliabilityTable

__all__ = ["MATPLOTLIB_MISSING_NOTE", "render_reliability_png"]

MATPLOTLIB_MISSING_NOTE = (
    "matplotlib is not installed, so the reliability diagram was not drawn "
    "(pip install 'calibration_core[plot]')."
)
"""What the report says instead of the picture."""


def _points(
    table: ReliabilityTable,
) -> tuple[list[float], list[float], list[float], list[float], list[int]]:
    predicted, observed, centres, widths, counts = [], [], [], [], []
    for b in table.bins:
        predicted.append(float(b.mean_predicted))
        observed.append(float(b.observed_rate))
        centres.append(0.5 * (float(b.lower) + float(b.upper)))
        widths.append(float(b.upper) - float(b.lower))
        counts.append(int(b.count))
    return predicted, observed, centres, widths, counts


def render_reliability_png(
    raw: ReliabilityTable,
    calibrated: ReliabilityTable,
    *,
    raw_label: str = "raw",
    calibrated_label: str = "calibrated",
    title: str = "Reliability diagram",
) -> bytes | None:
    """Draw raw and calibrated reliability curves, the diagonal and the bin counts.

    Parameters
    ----------
    raw, calibrated : ReliabilityTable
        Tables with the same bins (mean predicted and observed win rate per bin).
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
    raw_x, raw_y, raw_centres, raw_widths, raw_counts = _points(raw)
    cal_x, cal_y, cal_centres, cal_widths, cal_counts = _points(calibrated)
    curve.plot(raw_x, raw_y, marker="o", color="tab:red", label=raw_label)
    curve.plot(cal_x, cal_y, marker="s", color="tab:blue", label=calibrated_label)
    curve.set_xlim(0.0, 1.0)
    curve.set_ylim(0.0, 1.0)
    curve.set_ylabel("observed win rate")
    curve.set_title(title)
    curve.legend(loc="upper left")
    curve.grid(visible=True, alpha=0.3)
    curve.tick_params(labelbottom=False)

    # Side by side within each bin: raw on the left half, calibrated on the right.
    for centres, widths, counts, colour, side in (
        (raw_centres, raw_widths, raw_counts, "tab:red", -1.0),
        (cal_centres, cal_widths, cal_counts, "tab:blue", 1.0),
    ):
        lefts = [c + side * 0.2 * w for c, w in zip(centres, widths, strict=True)]
        bars.bar(lefts, counts, width=[0.4 * w for w in widths], color=colour)
        for x, count in zip(lefts, counts, strict=True):
            bars.annotate(str(count), (x, count), ha="center", va="bottom", fontsize=7)
    bars.set_xlabel("confidence")
    bars.set_ylabel("trades per bin")
    bars.grid(visible=True, alpha=0.3)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
