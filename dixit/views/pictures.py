"""Pictures of a challenge as PNG, drawn from plain numpy data: ``dixit show`` and the site.

Four pictures, each with labelled axes, ticks and a legend (``dixit.views.figures`` picks one
for a challenge's domain and output and computes what it shows):

- ``maps``: label maps of a 2-D grid domain, side by side: point (a, b) coloured by its label,
  a = ``x[:, 0]`` across and b = ``x[:, 1]`` up, a point that disagrees with the reference in
  red, a legend of the class colours under the panels;
- ``images``: a grid of sample inputs of an image dataset, each titled with the labels the
  truth, the model and every program give it, a label that disagrees in red and a red frame
  around an image that some label gets wrong;
- ``positions``: agreement per position of a token sequence (and mean KL per position for a
  distribution), one line per model or program;
- ``classes``: agreement per class of the reference, one bar per model or program (every
  other domain and output).

matplotlib (the ``plots`` extra) is imported only when drawing, on the Agg canvas, without
pyplot's global state. Team-written text (team names, error messages) is drawn with
``parse_math=False`` so a ``$`` is a dollar sign. The PNG is written atomically, mode 0644.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit.errors import MissingExtraError
from dixit.ledger.fsutil import atomic_write

if TYPE_CHECKING:
    import numpy as np

PANEL_WIDTH = 2.8   # inches per label map; a figure is exactly n panels wide (no tight bbox)
PANEL_HEIGHT = 3.4  # a map panel with its title, ticks and axis labels
LEGEND_HEIGHT = 0.34
BAR_HEIGHT = 0.5    # the colour bar of a map with more classes than the palette
NOTE_LINE = 0.17    # inches per line of the note under a picture
DPI = 90
WRONG = (0.86, 0.12, 0.12)  # red: disagrees with the reference, in every picture
BLANK = (0.92, 0.92, 0.92)
# Class colours of a map, red left out (red means "disagrees"): 0 and 1 are the binary pair.
PALETTE = ((0.96, 0.96, 0.94), (0.16, 0.33, 0.60), (0.95, 0.62, 0.15), (0.25, 0.62, 0.35),
           (0.55, 0.40, 0.75), (0.55, 0.36, 0.22), (0.40, 0.75, 0.85), (0.45, 0.45, 0.45),
           (0.75, 0.72, 0.25), (0.90, 0.55, 0.75), (0.10, 0.15, 0.25), (0.65, 0.85, 0.55))
# Lines and bars: the reference is never drawn against itself; the model is grey and dashed.
MODEL_STYLE = {"color": "#5b6570", "linestyle": "--", "marker": "s"}
SERIES_COLORS = ("#1f5fa8", "#e08a1e", "#2e8b4e", "#7b57b8", "#8c5a33", "#2aa7c2", "#b8a532",
                 "#d16aa4")
AXIS_A = "a  (x[:, 0])"
AXIS_B = "b  (x[:, 1])"


def can_draw() -> str | None:
    """None when pictures can be drawn here; else why not, naming the extra to install."""
    try:
        _matplotlib()
    except MissingExtraError as exc:
        return str(exc)
    return None


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("drawing pictures needs matplotlib, which is not installed; "
                                "install the plots extra: pip install 'dixit[plots]'") from None
    return Figure, FigureCanvasAgg


def colors(classes: int) -> np.ndarray:
    """RGB of class ids 0..classes-1 (red excluded), then red for "disagrees" at ``classes``."""
    import numpy as np

    if classes <= len(PALETTE):
        table = np.array(PALETTE[:classes])
    else:  # many classes: a red-free scale, read through the colour bar
        from matplotlib import colormaps

        table = colormaps["viridis"](np.linspace(0.0, 1.0, classes))[:, :3]
    return np.vstack([table, np.array([WRONG])])


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, max(30, width)) if text else []


def _figure(width: float, height: float) -> Any:
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(width, height), dpi=DPI)
    canvas_cls(fig)
    return fig


def _note(fig: Any, lines: list[str], height: float) -> None:
    if lines:
        fig.text(0.5, 0.04 / height, "\n".join(lines), ha="center", va="bottom", fontsize=8,
                 color="#5b6570", parse_math=False)


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write(path, buf.getvalue(), mode=0o644)  # 0644: site pictures are public


def _reason(why: str) -> str:
    return "\n".join(textwrap.wrap((why.splitlines() or ["no labels"])[0][:150], 26))


# -- label maps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One label map: ``labels`` are class ids over the grid (None: drawn blank with ``why``),
    ``wrong`` marks the points that disagree with the reference (None: nothing compared)."""

    title: str
    labels: np.ndarray | None
    why: str = ""
    wrong: np.ndarray | None = None
    subtitle: str = ""


def maps(panels: Sequence[Panel], dims: tuple[int, ...], classes: int, path: Path, *,
         note: str | None = None, reference: str = "the labeler") -> None:
    """Draw ``panels`` side by side over the ``dims`` = (P, Q) grid and write ``path``."""
    import numpy as np
    from matplotlib.patches import Patch

    p, q = dims
    n = len(panels)
    width = n * PANEL_WIDTH
    lines = _wrap(note or "", int(width * 17))
    note_h = NOTE_LINE * len(lines) + (0.08 if lines else 0.0)
    bar = classes > len(PALETTE)
    legend_h = LEGEND_HEIGHT + (BAR_HEIGHT if bar else 0.0)
    height = PANEL_HEIGHT + legend_h + note_h
    fig = _figure(width, height)
    bottom = legend_h + note_h + 0.5  # room for the ticks and the a label
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.12 / width, top=1 - 0.5 / height,
                        bottom=bottom / height, wspace=0.55 / PANEL_WIDTH * n / max(n - 1, 1)
                        if n > 1 else 0.2)
    table = colors(classes)
    extent = (-0.5, p - 0.5, -0.5, q - 0.5)  # a tick at k is the point with coordinate k
    image = None
    for ax, panel in zip(fig.subplots(1, n, squeeze=False)[0], panels, strict=True):
        ax.set_xlabel(AXIS_A, fontsize=8, labelpad=1)
        ax.set_ylabel(AXIS_B, fontsize=8, labelpad=1)
        ax.tick_params(labelsize=7, length=2, pad=1)
        if panel.labels is None:  # a blank map of the same shape, with the reason in it
            ax.imshow(np.full((q, p, 3), BLANK[0]), origin="lower", extent=extent)
            ax.text(0.5, 0.5, _reason(panel.why), ha="center", va="center", fontsize=7,
                    transform=ax.transAxes, parse_math=False)
            ax.set_title(f"{panel.title}\nno labels", fontsize=9, parse_math=False)
            continue
        index = np.clip(panel.labels.astype(np.int64), 0, classes - 1)
        if panel.wrong is not None:
            index = np.where(panel.wrong, classes, index)
        # Row-major grid order: point (a, b) is index a*q + b; show a across, b up.
        image = ax.imshow(table[index.reshape(p, q).T], origin="lower",
                          interpolation="nearest", extent=extent)
        ax.set_title(f"{panel.title}\n{panel.subtitle}", fontsize=9, parse_math=False)
    handles = [Patch(facecolor=table[c], edgecolor="#9aa3ad", label=f"label {c}")
               for c in range(classes)] if not bar else []
    handles.append(Patch(facecolor=WRONG, edgecolor="#9aa3ad",
                         label=f"disagrees with {reference}"))
    y = (note_h + 0.02) / height
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, y),
               ncol=min(len(handles), max(2, int(width / 1.25))), fontsize=7, frameon=False,
               handlelength=1.2, columnspacing=1.0, borderaxespad=0.1)
    if bar and image is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import ListedColormap, Normalize

        left = min(0.55 / width, 0.2)
        cax = fig.add_axes((left, y + (LEGEND_HEIGHT + 0.16) / height, 1 - 2 * left,
                            0.09 / height))
        mappable = ScalarMappable(Normalize(-0.5, classes - 0.5), ListedColormap(table[:-1]))
        cb = fig.colorbar(mappable, cax=cax, orientation="horizontal")
        cax.set_title("label (class id)", fontsize=7, pad=2)
        cb.ax.tick_params(labelsize=6, length=2, pad=1)
    _note(fig, lines, height)
    _save(fig, path)


# -- image grids --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One sample input: the image (H, W) or (H, W, 3), and its labels, each a line of text
    with whether it disagrees with the reference."""

    image: np.ndarray
    index: int
    lines: list[tuple[str, bool]] = field(default_factory=list)


CELL_WIDTH = 1.35   # inches per sample image
CELL_IMAGE = 1.0
TEXT_LINE = 0.13


def images(cells: Sequence[Cell], path: Path, *, title: str, note: str | None = None,
           columns: int = 6) -> None:
    """A grid of sample inputs, each titled with its labels; mistakes in red."""
    import numpy as np
    from matplotlib.lines import Line2D

    columns = max(1, min(columns, len(cells)))
    rows = max(1, -(-len(cells) // columns))
    text_lines = max((len(c.lines) for c in cells), default=1) + 1  # + the input's index
    cell_h = CELL_IMAGE + TEXT_LINE * text_lines + 0.12
    width = max(columns * CELL_WIDTH, 5.0)
    lines = _wrap(note or "", int(width * 17))
    note_h = NOTE_LINE * len(lines) + (0.08 if lines else 0.0)
    heading = _wrap(title, int(width * 14))
    head = 0.25 + 0.16 * len(heading)
    height = head + rows * cell_h + LEGEND_HEIGHT + note_h
    fig = _figure(width, height)
    fig.text(0.5, 1 - 0.08 / height, "\n".join(heading), ha="center", va="top", fontsize=9,
             parse_math=False)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        left = (width - columns * CELL_WIDTH) / 2 + c * CELL_WIDTH + (CELL_WIDTH - CELL_IMAGE) / 2
        top = height - head - r * cell_h - TEXT_LINE * text_lines
        ax = fig.add_axes((left / width, (top - CELL_IMAGE) / height, CELL_IMAGE / width,
                           CELL_IMAGE / height))
        img = np.asarray(cell.image, dtype=np.float64)
        lo, hi = float(img.min()), float(img.max())
        if img.ndim == 3:  # colour: scaled into [0, 1] as a whole
            ax.imshow((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img),
                      interpolation="nearest")
        else:
            ax.imshow(img, cmap="gray", vmin=min(lo, 0.0), vmax=hi if hi > 0 else 1.0,
                      interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        wrong = any(bad for _t, bad in cell.lines)
        for spine in ax.spines.values():
            spine.set_color(WRONG if wrong else "#9aa3ad")
            spine.set_linewidth(2.2 if wrong else 0.8)
        texts = [(f"#{cell.index}", False), *cell.lines]
        for k, (text, bad) in enumerate(texts):
            y = top + TEXT_LINE * (len(texts) - k) - TEXT_LINE * 0.15
            fig.text((left + CELL_IMAGE / 2) / width, y / height, text, ha="center",
                     va="top", fontsize=6.5, color=WRONG if bad else "#1d232a",
                     fontweight="bold" if bad else "normal", parse_math=False)
    handles = [Line2D([], [], color="#9aa3ad", linewidth=0.8, label="every label agrees"),
               Line2D([], [], color=WRONG, linewidth=2.2, label="a label disagrees "
                      "(red text: which)")]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, (note_h + 0.02)
                                                                    / height),
               ncol=2, fontsize=7, frameon=False, borderaxespad=0.1)
    _note(fig, lines, height)
    _save(fig, path)


# -- per position and per class -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One model or program: a value per position (or per class), and how it is drawn."""

    label: str
    values: np.ndarray
    model: bool = False  # the published model: grey and dashed


CHART_WIDTH = 6.4
CHART_HEIGHT = 3.3


def _plot(ax: Any, xs: np.ndarray, series: Sequence[Line]) -> None:
    k = 0
    for line in series:
        style = dict(MODEL_STYLE) if line.model else {
            "color": SERIES_COLORS[k % len(SERIES_COLORS)], "linestyle": "-", "marker": "o"}
        k += 0 if line.model else 1
        ax.plot(xs, line.values, label=line.label, linewidth=1.4, markersize=3.5, **style)


def positions(agreement: Sequence[Line], path: Path, *, title: str, reference: str,
              kl: Sequence[Line] | None = None, threshold: float | None = None,
              note: str | None = None) -> None:
    """Agreement with ``reference`` per position (and mean KL per position, if given)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    panels = 2 if kl else 1
    width = CHART_WIDTH * (1.6 if kl else 1.0)
    lines = _wrap(note or "", int(width * 17))
    note_h = NOTE_LINE * len(lines) + (0.08 if lines else 0.0)
    height = CHART_HEIGHT + note_h
    fig = _figure(width, height)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, top=1 - 0.55 / height,
                        bottom=(0.5 + note_h) / height, wspace=0.3)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    length = len(agreement[0].values) if agreement else 0
    xs = np.arange(length)
    ax = axes[0]
    _plot(ax, xs, agreement)
    if threshold is not None:
        ax.axhline(threshold, color=WRONG, linewidth=0.9, linestyle=":",
                   label=f"solved at {threshold:.2%} (over all positions)")
    low = min([float(np.min(s.values)) for s in agreement if len(s.values)] + [1.0])
    ax.set_ylim(max(0.0, low - 0.05 * max(1.0 - low, 0.02) - 0.01), 1.005)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(f"agreement with {reference}", fontsize=8)
    for a in axes:
        a.set_xlabel("position in the sequence", fontsize=8)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.tick_params(labelsize=7)
        a.grid(True, color="#e4e7eb", linewidth=0.6)
    ax.legend(fontsize=7, loc="best", frameon=True, framealpha=0.9)
    ax.set_title("agreement of the class ids, per position", fontsize=9)
    if kl:
        ax2 = axes[1]
        _plot(ax2, xs, kl)
        ax2.set_ylabel("mean KL (nats)", fontsize=8)
        top = max([float(np.max(s.values)) for s in kl if len(s.values)] + [1e-6])
        ax2.set_ylim(0.0, top * 1.25)
        ax2.set_title(f"mean KL({reference} || it), per position", fontsize=9,
                      parse_math=False)
        ax2.legend(fontsize=7, loc="best", frameon=True, framealpha=0.9)
    fig.suptitle(title, fontsize=9, y=1 - 0.06 / height, parse_math=False)
    _note(fig, lines, height)
    _save(fig, path)


def classes(bars: Sequence[Line], names: Sequence[str], path: Path, *, title: str,
            reference: str, note: str | None = None) -> None:
    """Agreement with ``reference`` per class of the reference: grouped bars."""
    import numpy as np
    from matplotlib.ticker import PercentFormatter

    width = max(CHART_WIDTH, 1.2 + 0.28 * len(names) * max(len(bars), 1))
    lines = _wrap(note or "", int(width * 17))
    note_h = NOTE_LINE * len(lines) + (0.08 if lines else 0.0)
    height = CHART_HEIGHT + 0.2 + note_h
    fig = _figure(width, height)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, top=1 - 0.55 / height,
                        bottom=(0.7 + note_h) / height)
    ax = fig.subplots()
    xs = np.arange(len(names))
    step = 0.8 / max(len(bars), 1)
    k = 0
    for i, bar in enumerate(bars):
        color = MODEL_STYLE["color"] if bar.model else SERIES_COLORS[k % len(SERIES_COLORS)]
        k += 0 if bar.model else 1
        ax.bar(xs - 0.4 + step * (i + 0.5), bar.values, width=step * 0.92, label=bar.label,
               color=color, hatch="//" if bar.model else None, edgecolor="white",
               linewidth=0.5)
    ax.set_xticks(xs, list(names), fontsize=7)
    ax.set_xlabel(f"class given by {reference} (inputs of that class)", fontsize=8)
    ax.set_ylabel(f"agreement with {reference}", fontsize=8)
    ax.set_ylim(0.0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="y", color="#e4e7eb", linewidth=0.6)
    ax.set_axisbelow(True)
    if bars:
        ax.legend(fontsize=7, loc="lower left", frameon=True, framealpha=0.9)
    ax.set_title(title, fontsize=9, parse_math=False)
    _note(fig, lines, height)
    _save(fig, path)
