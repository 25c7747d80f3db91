"""CMS style (mplhep), a fixed layout, the experiment label, and atomic PNG (+ PDF on request) output."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on batch nodes
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402

from xaugcol.atomic import atomic_path  # noqa: E402


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
        MathTextParser._parse_cached = functools.lru_cache(4096)(cached.__wrapped__)


_remember_more_mathtext()

PNG_DPI = 80  # figures are large in inches (CMS style): 80 dpi keeps 11 pt tick labels readable
FORMATS = ("png",)  # the report's; PDFs (for papers) on request: ``output_formats(("png", "pdf"))``
_formats = contextvars.ContextVar("figure formats", default=FORMATS)
# one colour per tagger family; dashed = without XAUG, solid = with
COLOURS = {"cnn2d": "#3f90da", "cnn1d": "#ffa90e", "lstm": "#bd1f01", "dnn": "#832db6"}
CLASS_COLOURS = {1: "#3f90da", 0: "#bd1f01", -1: "#444444"}
CLASS_NAMES = {1: "signal", 0: "background", -1: "data"}  # -1: jets of datasets without truth (real data)
CLASS_ORDER = (1, 0, -1)


@dataclass(frozen=True)
class Margins:
    """Space in inches around the grid (left, right, bottom, top) and between its panels (wspace, hspace). The
    layout is fixed, not measured: fitting every tick label as ``tight_layout`` does took a third of a figure's
    drawing time. The defaults hold tick labels at 11 pt, axis labels up to mplhep's 26 pt and the experiment
    label above the top row."""

    left: float = 1.45
    right: float = 0.35
    bottom: float = 1.05
    top: float = 0.5
    wspace: float = 1.5
    hspace: float = 1.2


# panels with a colour bar at their right: room for its ticks and label before the next panel
WITH_COLOURBAR = Margins(left=1.1, right=1.35, bottom=0.9, wspace=2.3, hspace=1.0)


def figure(
    ncols: int = 1,
    nrows: int = 1,
    width: float = 10.0,
    height: float = 9.0,
    height_ratios=None,
    margins: Margins = Margins(),
):
    """A grid of panels, each ``width`` x ``height`` inches with its share of ``margins``; with
    ``height_ratios`` the rows share ``height``."""
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


def text_width(texts, fontsize: float) -> float:
    """The widest of ``texts`` in inches at ``fontsize`` (mathtext included), in the CMS style's font: to size a
    margin for labels of varying length (feature names) without laying out the whole figure."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.cbook import is_math_text
    from matplotlib.font_manager import FontProperties

    plt.style.use(hep.style.CMS)
    # at the PNG's resolution, which the margins are laid out for
    renderer, prop = RendererAgg(1, 1, PNG_DPI), FontProperties(size=fontsize)
    widths = [renderer.get_text_width_height_descent(t, prop, ismath=is_math_text(t))[0] for t in texts]
    return max(widths, default=0.0) / PNG_DPI


def colorbar(fig, mappable, ax, text: str):
    """A colour bar at the right of ``ax`` (taken from its width), ticks and label at the figure's text sizes."""
    bar = fig.colorbar(mappable, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label(text, fontsize=14)
    bar.ax.tick_params(labelsize=11)
    return bar


EXPERIMENT_LABEL = "Private work (CMS simulation)"


def label(ax, text: str, right=None) -> None:
    """The label of work outside the CMS collaboration, as CMS guidance asks for it: "Private work (CMS
    simulation)", no bold "CMS" (mplhep's label without an experiment name), above ``ax``; the sample above
    ``right`` (the top-right panel of a grid; default ``ax``), right-aligned, so the two never overlap."""
    # placed as mplhep's exp_label(exp="", llabel=...) places it, without the full draw it makes to measure text
    # (a third of a figure's drawing time)
    ax.text(
        0.0, 1.01, EXPERIMENT_LABEL, transform=ax.transAxes, ha="left", va="bottom", fontsize=16, fontweight="normal"
    )
    (right if right is not None else ax).set_title(text, loc="right", fontsize=14)


@contextlib.contextmanager
def output_formats(formats):
    """Figures saved inside this block are written in ``formats`` (``png``, ``pdf``, ...)."""
    token = _formats.set(tuple(formats))
    try:
        yield
    finally:
        _formats.reset(token)


def save(fig, stem: str | Path, minor_ticks: bool = False) -> list[Path]:
    """``stem``.png (and the other ``output_formats``), each written atomically; closes the figure. Minor ticks
    only where a figure asks for them (a log axis): elsewhere clutter, and laying them out is most of a figure's
    drawing time."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    if not minor_ticks:
        for ax in fig.axes:
            ax.minorticks_off()
    for fmt in _formats.get():
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def hbars(ax, y, widths, height: float, color, label: str | None = None, xerr=None):
    """Horizontal bars from 0 to ``widths`` centred on ``y`` (``color``: one or one per bar), with optional error
    bars, as one collection: ``barh`` adds a patch per bar, and matplotlib's per-patch bookkeeping was a third of
    a bar chart's drawing time."""
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
    bars = ax.add_collection(PolyCollection(boxes, facecolors=color, edgecolors="none", label=label), autolim=True)
    if xerr is not None:
        ax.errorbar(
            widths, y, xerr=np.asarray(xerr, dtype=float), fmt="none", ecolor="black", elinewidth=1.2, capsize=3
        )
    ax.autoscale_view()
    return bars


def tagger_style(name: str) -> dict:
    family = name.split("_")[0]
    dashed = not name.endswith("_xaug") and family != "dnn"
    return {"color": COLOURS.get(family, "black"), "linestyle": "--" if dashed else "-"}


def panel_title(ax, text: str) -> None:
    """A title inside the panel (the space above the axes holds the experiment label)."""
    ax.text(
        0.03,
        0.97,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=13,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
