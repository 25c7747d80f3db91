"""CMS style (mplhep), a fixed layout, the experiment label, and atomic PNG (+ PDF on request) output."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on batch nodes
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402

from xaugcol.atomic import atomic_path  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.axis import XAxis, YAxis
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PolyCollection
    from matplotlib.colorbar import Colorbar
    from matplotlib.figure import Figure
    from matplotlib.text import Annotation, Text


def _remember_more_mathtext() -> None:
    """matplotlib keeps its last 50 mathtext layouts; a report draws a few hundred distinct labels ($\\tau_{21}$,
    $p_T$, ...) again and again, and parsing them was two thirds of a bar chart's drawing time. A larger cache
    of the same function changes no pixel; where matplotlib's internals differ, nothing is changed."""
    from matplotlib.mathtext import MathTextParser

    cached = getattr(MathTextParser, "_parse_cached", None)
    if (
        cached is not None
        and hasattr(cached, "__wrapped__")
        and hasattr(cached, "cache_info")
        and cached.cache_info().maxsize < 4096
    ):
        # a private attribute, which matplotlib's stubs leave out
        MathTextParser._parse_cached = functools.lru_cache(4096)(cached.__wrapped__)  # type: ignore[attr-defined]


_remember_more_mathtext()

PNG_DPI = 80  # figures are large in inches (CMS style): 80 dpi keeps 11 pt tick labels readable
FORMATS = ("png",)  # the report's; PDFs (for papers) on request: ``output_formats(("png", "pdf"))``
_formats: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("figure formats", default=FORMATS)
# one colour per tagger family; dashed = without XAUG, solid = with
COLOURS = {"cnn2d": "#3f90da", "cnn1d": "#ffa90e", "lstm": "#bd1f01", "dnn": "#832db6"}
CLASS_COLOURS = {1: "#3f90da", 0: "#bd1f01", -1: "#444444"}
CLASS_NAMES = {1: "signal", 0: "background", -1: "data"}  # -1: jets of datasets without truth (real data)
CLASS_ORDER = (1, 0, -1)


@dataclass(frozen=True)
class Margins:
    """Space in inches around the grid (left, right, bottom, top) and between its panels (wspace, hspace).

    The layout is fixed, not measured: fitting every tick label as ``tight_layout`` does took a third of a figure's
    drawing time. The defaults hold tick labels at 11 pt, axis labels up to mplhep's 26 pt and the experiment
    label above the top row.

    Parameters
    ----------
    left : float, default 1.45
        Inches left of the grid (the y tick labels and axis label).
    right : float, default 0.35
        Inches right of the grid.
    bottom : float, default 1.05
        Inches below the grid (the x tick labels and axis label).
    top : float, default 0.5
        Inches above the grid (the experiment label).
    wspace : float, default 1.5
        Inches between two panels of a row.
    hspace : float, default 1.2
        Inches between two panels of a column.
    """

    left: float = 1.45
    right: float = 0.35
    bottom: float = 1.05
    top: float = 0.5
    wspace: float = 1.5
    hspace: float = 1.2


# panels with a colour bar at their right: room for its ticks and label before the next panel
WITH_COLOURBAR = Margins(left=1.1, right=1.35, bottom=0.9, wspace=2.3, hspace=1.0)


def figure_of(ax: Axes) -> Figure:
    """The figure ``ax`` is drawn in (``figure`` makes no subfigures).

    Parameters
    ----------
    ax : Axes
        A panel.

    Returns
    -------
    Figure
        Its figure.
    """
    return cast("Figure", ax.get_figure())


def renderer_of(fig: Figure) -> RendererAgg:
    """The renderer of ``fig``'s canvas (Agg: ``matplotlib.use("Agg")`` above), to measure drawn texts.

    Parameters
    ----------
    fig : Figure
        The figure.

    Returns
    -------
    RendererAgg
        Its canvas's renderer.
    """
    return cast("FigureCanvasAgg", fig.canvas).get_renderer()


def figure(
    ncols: int = 1,
    nrows: int = 1,
    width: float = 10.0,
    height: float = 9.0,
    height_ratios: Sequence[float] | None = None,
    margins: Margins = Margins(),
) -> tuple[Figure, np.ndarray]:
    """A grid of panels, each ``width`` x ``height`` inches with its share of ``margins``.

    Parameters
    ----------
    ncols, nrows : int
        Columns and rows of panels.
    width, height : float
        One panel's size in inches (with ``height_ratios``: ``height`` is the rows' together).
    height_ratios : sequence of float, optional
        The rows' shares of ``height``.
    margins : Margins
        Space around the grid and between its panels.

    Returns
    -------
    (Figure, np.ndarray)
        The figure and its axes, always a (nrows, ncols) array.
    """
    plt.style.use(hep.style.CMS)
    size = (width * ncols, height if height_ratios else height * nrows)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=size,
        squeeze=False,
        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None,
    )
    w, h = size
    axes_w = (w - margins.left - margins.right - (ncols - 1) * margins.wspace) / ncols
    axes_h = (h - margins.bottom - margins.top - (nrows - 1) * margins.hspace) / nrows
    if axes_w <= 0 or axes_h <= 0:
        raise ValueError(f"margins {margins} leave no room for {ncols} x {nrows} panels in {w} x {h} inches")
    fig.subplots_adjust(
        left=margins.left / w,
        right=1 - margins.right / w,
        bottom=margins.bottom / h,
        top=1 - margins.top / h,
        wspace=margins.wspace / axes_w,
        hspace=margins.hspace / axes_h,
    )
    return fig, axes


def text_width(texts: Iterable[str], fontsize: float) -> float:
    """The widest of ``texts`` in inches at ``fontsize`` (mathtext included), in the CMS style's font.

    To size a margin for labels of varying length (feature names) without laying out the whole figure; measured
    at the PNG's resolution (``PNG_DPI``).

    Parameters
    ----------
    texts : iterable of str
        The texts (``$...$`` mathtext allowed).
    fontsize : float
        Their size in points.

    Returns
    -------
    float
        The widest text's width in inches; 0 for no texts.
    """
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.cbook import is_math_text
    from matplotlib.font_manager import FontProperties

    plt.style.use(hep.style.CMS)
    # at the PNG's resolution, which the margins are laid out for
    renderer, prop = RendererAgg(1, 1, PNG_DPI), FontProperties(size=fontsize)
    widths = [renderer.get_text_width_height_descent(t, prop, ismath=is_math_text(t))[0] for t in texts]
    return max(widths, default=0.0) / PNG_DPI


def _pieces(text: str, separators: Sequence[str] | None) -> list[str]:
    """``text`` cut after each of ``separators`` (None: after every space), never inside mathtext (``$...$``);
    each piece keeps its separator's punctuation, without the space."""
    pieces: list[str] = []
    start, math, i = 0, False, 0
    while i < len(text):
        if text[i] == "$" and (i == 0 or text[i - 1] != "\\"):
            math = not math
        elif not math:
            hit = next((s for s in separators or (" ",) if text.startswith(s, i)), None)
            if hit is not None:
                cut = i + len(hit.rstrip())  # after "," or ";", before the space
                if hit.startswith(" "):  # " vs ": the break before the word
                    cut = i
                pieces.append(text[start:cut].strip())
                start = cut
                i = cut + 1
                continue
        i += 1
    return [p for p in [*pieces, text[start:].strip()] if p]


def wrapped(text: str, width: float, fontsize: float) -> str:
    """Break ``text`` into lines no wider than ``width`` inches at ``fontsize`` where it can be.

    Broken at "; " first, then also at ", " and before " vs ", then at any space (never inside mathtext); a word
    wider than ``width`` stands on a line of its own.

    Parameters
    ----------
    text : str
        The text.
    width : float
        The widest a line may be, in inches.
    fontsize : float
        The text's size in points.

    Returns
    -------
    str
        The text, its lines joined by newlines.
    """
    lines: list[str] = []
    for separators in (("; ",), ("; ", ", ", " vs "), None):
        lines = []
        for piece in _pieces(text, separators):
            joined = f"{lines[-1]} {piece}" if lines else piece
            if lines and text_width([joined], fontsize) <= width:
                lines[-1] = joined
            else:
                lines.append(piece)
        if text_width(lines, fontsize) <= width:
            break
    return "\n".join(lines)


def fitted(text: str, width: float, fontsize: float, minimum: float = 12.0) -> tuple[str, float]:
    """Fit ``text`` into ``width`` inches: smaller, down to ``minimum``, or else broken into lines.

    Parameters
    ----------
    text : str
        The text.
    width : float
        The room for it, in inches.
    fontsize : float
        Its size in points where it fits.
    minimum : float, default 12.0
        The smallest size it may be set at, in points.

    Returns
    -------
    text : str
        ``text``, in lines (``wrapped``) where even ``minimum`` is too large.
    size : float
        ``fontsize`` where it fits, else the largest size (in steps of 0.5 pt) that fits down to ``minimum``,
        else ``minimum``.
    """
    natural = text_width([text], fontsize)
    if natural <= width:
        return text, fontsize
    size = float(np.floor(2 * fontsize * width / natural) / 2)  # text width grows with the font size (about)
    while size > minimum and text_width([text], size) > width:
        size -= 0.5
    if size >= minimum:
        return text, size
    return wrapped(text, width, minimum), minimum


def axis_label(ax: Axes, which: str, text: str, fontsize: float | None = None, minimum: float = 12.0) -> float:
    """Set the x or y (``which``) label of ``ax``, smaller or in lines where it would be longer than its axis.

    The CMS style puts it at the axis's end: longer, it runs past the axis into the other label or the next
    panel.

    Parameters
    ----------
    ax : Axes
        The panel.
    which : str
        ``"x"`` or ``"y"`` (any other value: the y axis).
    text : str
        The label.
    fontsize : float, optional
        Its size in points; None: the style's ``axes.labelsize``.
    minimum : float, default 12.0
        The smallest size it may be set at, in points (``fitted``).

    Returns
    -------
    float
        The size the label took, in points.
    """
    from matplotlib.font_manager import FontProperties

    fig = figure_of(ax)
    box = ax.get_position()
    length = box.width * fig.get_size_inches()[0] if which == "x" else box.height * fig.get_size_inches()[1]
    size = fontsize or FontProperties(size=plt.rcParams["axes.labelsize"]).get_size_in_points()
    lines, size = fitted(text, length, size, minimum)
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(lines, fontsize=size)
    return size


def grow_top(fig: Figure, inches: float) -> None:
    """Add ``inches`` at the top of ``fig``, every axes (colour bars included) keeping its size and place.

    Each keeps its place from the bottom: the room is above the panels, for a label of several lines.

    Parameters
    ----------
    fig : Figure
        The figure.
    inches : float
        The height added.
    """
    w, h = fig.get_size_inches()
    boxes = [(ax, ax.get_position(original=True)) for ax in fig.axes]
    fig.set_size_inches(w, h + inches)
    scale = h / (h + inches)
    for ax, box in boxes:
        ax.set_position((box.x0, box.y0 * scale, box.width, box.height * scale), which="both")


def clear_bands(
    axes: Sequence[Axes] | np.ndarray,
    lo: float,
    hi: float,
    top: Iterable[Artist] = (),
    bottom: Iterable[Artist] = (),
    gap: float = 0.015,
) -> None:
    """Set the y limits of every panel of ``axes`` so that the data leave bands free for texts and legends.

    On the axis's scale (log, symlog): the bands are in the panel's height.

    Parameters
    ----------
    axes : sequence or array of Axes
        Panels of one height sharing their rows.
    lo, hi : float
        The data range to show.
    top, bottom : iterable of Artist
        Texts and legends placed in axes coordinates (their height in the panel does not follow the limits) at the
        top and at the bottom of the panels: the bands are as high as the highest of them.
    gap : float
        Space between a band and the data, a fraction of the panel.
    """
    fig = figure_of(axes[0])
    renderer = renderer_of(fig)

    def extent(artist: Any) -> Any:
        if hasattr(artist, "get_bbox_patch") and artist.get_bbox_patch() is not None:
            artist.update_bbox_position_size(renderer)
            return artist.get_bbox_patch().get_window_extent(renderer)
        return artist.get_window_extent(renderer)

    def share(artist: Any, side: str) -> float:
        frame, box = artist.axes.get_window_extent(renderer), extent(artist)
        return ((frame.y1 - box.y0) if side == "top" else (box.y1 - frame.y0)) / frame.height + gap

    f_top = max((share(a, "top") for a in top), default=0.0)
    f_bottom = max((share(a, "bottom") for a in bottom), default=0.0)
    for ax in axes:
        scale = ax.yaxis.get_transform()
        t_lo, t_hi = scale.transform([lo, hi])
        span = (t_hi - t_lo) / max(1.0 - f_top - f_bottom, 0.2)
        new_lo, new_hi = scale.inverted().transform([t_lo - f_bottom * span, t_hi + f_top * span])
        ax.set_ylim(new_lo, new_hi)


def place_labels(
    ax: Axes,
    xy: Any,
    texts: Iterable[str],
    fontsize: float,
    avoid: Iterable[Any] = (),
    distance: float = 8.0,
) -> list[Annotation]:
    """Annotate each point of ``xy`` with its text beside it, where it hides no other label, point or box.

    Each label takes the first free place of offsets around its point at growing distances, inside the panel,
    joined to its point by a thin line when it had to move away. The panel's limits must be final (they place
    the points).

    Parameters
    ----------
    ax : Axes
        The panel.
    xy : array_like
        (points, 2): the points in data coordinates.
    texts : iterable of str
        One label per point.
    fontsize : float
        The labels' size in points.
    avoid : iterable of array_like
        Boxes (x0, y0, x1, y1) in display pixels that no label may cover: marks and texts of the panel.
    distance : float
        The nearest offset from a point, in points.

    Returns
    -------
    list of Annotation
        The labels, in the order of ``xy``.
    """
    fig = figure_of(ax)
    renderer = renderer_of(fig)
    points = ax.transData.transform(np.asarray(xy, dtype=float).reshape(-1, 2))
    px = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    marks = [np.array([x - 8 * px, y - 8 * px, x + 8 * px, y + 8 * px]) for x, y in points]  # the circled points
    taken = [np.asarray(b, dtype=float) for b in avoid] + marks
    placed: list[Annotation] = []
    chosen: tuple[np.ndarray, int] | None
    for (x, y), point, text in zip(points, np.asarray(xy, dtype=float).reshape(-1, 2), texts):
        probe = ax.annotate(text, (0, 0), xycoords="figure pixels", fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        probe.remove()
        w, h = box.width, box.height
        chosen = None
        for step in range(12):
            d = (distance + 6 * step) * px
            for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)):
                x0 = x + dx * d - (w if dx < 0 else (w / 2 if dx == 0 else 0))
                y0 = y + dy * d - (h if dy < 0 else (h / 2 if dy == 0 else 0))
                cand = np.array([x0, y0, x0 + w, y0 + h])
                inside = frame.x0 <= cand[0] and cand[2] <= frame.x1 and frame.y0 <= cand[1] and cand[3] <= frame.y1
                if inside and not any(_boxes_overlap(cand, b) for b in taken):
                    chosen = (cand, step)
                    break
            if chosen is not None:
                break
        if chosen is None:  # nowhere free: the nearest place, up and to the right
            chosen = (np.array([x + distance * px, y + distance * px, x + distance * px + w, y + distance * px + h]), 0)
        cand, step = chosen
        taken.append(cand)
        placed.append(
            ax.annotate(
                text,
                tuple(point),  # in data coordinates: a figure saved at another dpi keeps its place
                xytext=((cand[0] - x) / px, (cand[1] - y) / px),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=fontsize,
                arrowprops={"arrowstyle": "-", "color": "0.4", "linewidth": 0.8, "shrinkA": 0, "shrinkB": 8}
                if step
                else None,
            )
        )
    return placed


def _boxes_overlap(a: np.ndarray, b: np.ndarray, tolerance: float = 0.5) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance


def colorbar(fig: Figure, mappable: ScalarMappable, ax: Axes, text: str) -> Colorbar:
    """A colour bar at the right of ``ax`` (taken from its width), ticks and label at the figure's text sizes.

    Parameters
    ----------
    fig : Figure
        The figure of ``ax``.
    mappable : ScalarMappable
        What the bar shows the colour scale of (an image, a mesh).
    ax : Axes
        The panel whose width the bar takes.
    text : str
        The bar's label (14 pt; ticks at 11 pt).

    Returns
    -------
    Colorbar
        The colour bar.
    """
    bar = fig.colorbar(mappable, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label(text, fontsize=14)
    bar.ax.tick_params(labelsize=11)
    return bar


EXPERIMENT_LABEL = "Private work (CMS simulation)"


def label(ax: Axes, text: str, right: Axes | None = None) -> None:
    """Write the experiment label above ``ax`` and the sample, right-aligned, above ``right``.

    The label of work outside the CMS collaboration, as CMS guidance asks for it: "Private work (CMS
    simulation)", no bold "CMS" (mplhep's label without an experiment name), above ``ax``; the sample above
    ``right`` (the top-right panel of a grid; default ``ax``), right-aligned, so the two never overlap. A sample
    wider than the room above its panel (beside the experiment label, or the panel's own width: beyond it stand
    the neighbour's colour bar and its label) is set smaller (down to 12 pt) or in lines, the figure growing at
    the top for them.

    Parameters
    ----------
    ax : Axes
        The panel the experiment label stands above (the top-left one of a grid).
    text : str
        The sample (e.g. ``toy jets``).
    right : Axes, optional
        The panel the sample stands above; None: ``ax``.
    """
    # placed as mplhep's exp_label(exp="", llabel=...) places it, without the full draw it makes to measure text
    # (a third of a figure's drawing time)
    ax.text(
        0.0, 1.01, EXPERIMENT_LABEL, transform=ax.transAxes, ha="left", va="bottom", fontsize=16, fontweight="normal"
    )
    right = right if right is not None else ax
    fig = figure_of(ax)
    w, h = fig.get_size_inches()
    right.apply_aspect()  # an image's axes shrink to its aspect: the label fits above what is drawn
    box = right.get_position()
    room = box.width * w
    if right is ax:  # beside the experiment label
        room -= text_width([EXPERIMENT_LABEL], 16) + 0.3
    lines, size = fitted(text, room, 14, minimum=12)
    right.set_title(lines, loc="right", fontsize=size)
    # a label of several lines grows upwards: the figure grows at the top where the margin cannot hold it
    needed = (1.2 * size * (lines.count("\n") + 1) + 6 + 2) / 72  # its lines, its pad
    above = (1 - right.get_position(original=True).y1) * h
    if needed > above:
        grow_top(fig, needed - above)


@contextlib.contextmanager
def output_formats(formats: Iterable[str]) -> Iterator[None]:
    """Figures saved inside this block are written in ``formats`` (``png``, ``pdf``, ...).

    The setting is a context variable: it holds in this thread or task only, and the earlier one is back after
    the block.

    Parameters
    ----------
    formats : iterable of str
        File formats matplotlib writes, by their suffix.

    Yields
    ------
    None
        Nothing: the block runs with the formats set.
    """
    token = _formats.set(tuple(formats))
    try:
        yield
    finally:
        _formats.reset(token)


def save(fig: Figure, stem: str | Path, minor_ticks: bool = False) -> list[Path]:
    """Write ``stem``.png (and the other ``output_formats``), each atomically, and close the figure.

    Minor ticks only where a figure asks for them (a log axis): elsewhere clutter, and laying them out is most of
    a figure's drawing time. Before writing, the x tick labels step down past the lowest y tick label
    (``_clear_corner``) and a common factor of the tick labels moves into the axis label
    (``_multiplier_in_label``).

    Parameters
    ----------
    fig : Figure
        The figure; closed once written.
    stem : str or Path
        The files' path without suffix; its folder is created if missing.
    minor_ticks : bool, default False
        Whether to keep the minor ticks.

    Returns
    -------
    list of Path
        The files written, one per format (PNG at ``PNG_DPI``).
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ax in fig.axes:
        if not minor_ticks:
            ax.minorticks_off()
        _clear_corner(ax)
        for axis in (ax.xaxis, ax.yaxis):
            _multiplier_in_label(axis)
    for fmt in _formats.get():
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def _tick_label_size(axis: XAxis | YAxis) -> float:
    from matplotlib.font_manager import FontProperties

    size = axis.get_tick_params(which="major").get("labelsize")
    if size is None:
        # the stubs list rcParams' keys as literals: a key built from the axis's name is refused
        size = plt.rcParams[f"{axis.axis_name}tick.labelsize"]  # type: ignore[index]
    return FontProperties(size=size).get_size_in_points()


# how far a y tick label reaches below its tick (its vertical centre on the tick): 0.61 of the font size, 0.68 for a
# power of ten in mathtext (log axes)
_BELOW_TICK = 0.7


def _clear_corner(ax: Axes) -> None:
    """The x tick labels far enough below the axis to pass under the lowest y tick label: where the lowest ticks
    of both axes sit at the corner (limits on round numbers), their labels overlapped."""
    if not ax.axison or not ax.yaxis.get_visible():
        return
    pad = _BELOW_TICK * _tick_label_size(ax.yaxis) + 1.0
    current = ax.xaxis.get_tick_params(which="major").get("pad", plt.rcParams["xtick.major.pad"])
    if pad > current:
        ax.tick_params(axis="x", which="both", pad=pad)


def _multiplier_in_label(axis: XAxis | YAxis) -> None:
    """A linear axis whose tick labels carry a common factor or offset (``1e-5``) shows it in its label, as
    "[x 10^-5]": matplotlib writes it at the end of the axis, where the CMS style puts the label (x) or the
    experiment label sits (y)."""
    from matplotlib.ticker import ScalarFormatter

    formatter = axis.get_major_formatter()
    if not isinstance(formatter, ScalarFormatter) or not axis.label.get_text() or not axis.get_visible():
        return
    locs = axis.get_majorticklocs()
    # the stubs want a list; matplotlib itself passes the tick locations as this array (Formatter.format_ticks)
    formatter.set_locs(locs)  # type: ignore[arg-type]
    if not formatter.get_offset():
        return
    formatter.set_useMathText(True)  # "x 10^-5", not "1e-5"
    formatter.set_locs(locs)  # type: ignore[arg-type]
    axis.label.set_text(f"{axis.label.get_text()} [{formatter.get_offset().strip()}]")
    axis.get_offset_text().set_visible(False)


def hbars(
    ax: Axes,
    y: Any,
    widths: Any,
    height: float,
    color: Any,
    label: str | None = None,
    xerr: Any = None,
) -> PolyCollection:
    """Horizontal bars from 0 to ``widths`` centred on ``y``, with optional error bars, as one collection.

    ``barh`` adds a patch per bar, and matplotlib's per-patch bookkeeping was a third of a bar chart's drawing time.

    Parameters
    ----------
    ax : Axes
        The panel.
    y, widths : array_like
        The bars' centres and lengths.
    height : float
        The bars' thickness in data units.
    color : colour or sequence of colours
        One for every bar, or one per bar.
    label : str, optional
        The legend entry.
    xerr : array_like, optional
        Error bars on ``widths``.

    Returns
    -------
    PolyCollection
        The bars.
    """
    from matplotlib.collections import PolyCollection

    y, widths = np.asarray(y, dtype=float), np.asarray(widths, dtype=float)
    lo, hi = y - height / 2, y + height / 2
    boxes = np.stack(
        [
            np.stack([np.zeros_like(y), lo], -1),
            np.stack([widths, lo], -1),
            np.stack([widths, hi], -1),
            np.stack([np.zeros_like(y), hi], -1),
        ],
        axis=1,
    )
    # the stubs want a sequence of polygons; matplotlib documents an (N, 4, 2) array too, and takes its fast path
    bars = PolyCollection(boxes, facecolors=color, edgecolors="none", label=label)  # type: ignore[arg-type]
    ax.add_collection(bars, autolim=True)
    if xerr is not None:
        ax.errorbar(
            widths, y, xerr=np.asarray(xerr, dtype=float), fmt="none", ecolor="black", elinewidth=1.2, capsize=3
        )
    ax.autoscale_view()
    return bars


def tagger_style(name: str) -> dict[str, str]:
    """The line colour (the tagger's family) and style (dashed without XAUG) of tagger ``name``'s curves.

    Parameters
    ----------
    name : str
        The tagger's name (``<model>`` or ``<model>_xaug``); the family is the part before the first ``_``.

    Returns
    -------
    dict of str to str
        Keyword arguments of a plot: ``color`` (the family's in ``COLOURS``, black for another) and
        ``linestyle`` (``--`` without XAUG, ``-`` with it and for the XAUG DNN).
    """
    family = name.split("_")[0]
    dashed = not name.endswith("_xaug") and family != "dnn"
    return {"color": COLOURS.get(family, "black"), "linestyle": "--" if dashed else "-"}


def panel_title(ax: Axes, text: str) -> Text:
    """A title inside the panel, at its top left: the space above the axes holds the experiment label.

    Parameters
    ----------
    ax : Axes
        The panel.
    text : str
        The title (13 pt, on a white box).

    Returns
    -------
    Text
        The title, for ``clear_bands`` to keep the data out of its band.
    """
    return ax.text(
        0.03,
        0.97,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=13,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
