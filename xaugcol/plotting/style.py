"""CMS style (mplhep), the experiment label, and atomic PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on batch nodes
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402

from xaugcol.atomic import atomic_path  # noqa: E402

FORMATS = ("png", "pdf")
# one colour per tagger family; dashed = without XAUG, solid = with
COLOURS = {"cnn2d": "#3f90da", "cnn1d": "#ffa90e", "lstm": "#bd1f01", "dnn": "#832db6"}
CLASS_COLOURS = {1: "#3f90da", 0: "#bd1f01", -1: "#444444"}
CLASS_NAMES = {1: "signal", 0: "background", -1: "data"}  # -1: jets of datasets without truth (real data)
CLASS_ORDER = (1, 0, -1)


def classes_with(entries) -> list[int]:
    """The classes, in drawing order, whose ``entries`` (label -> count or None) are not empty."""
    return [k for k in CLASS_ORDER if entries.get(k)]


def figure(ncols: int = 1, nrows: int = 1, width: float = 10.0, height: float = 9.0, height_ratios=None):
    """A grid of panels, each ``width`` x ``height`` inches; with ``height_ratios`` the rows share ``height``."""
    plt.style.use(hep.style.CMS)
    size = (width * ncols, height if height_ratios else height * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False,
                             gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, axes


EXPERIMENT_LABEL = "Private work (CMS simulation)"


def label(ax, text: str, right=None) -> None:
    """The label of work outside the CMS collaboration, as CMS guidance asks for it: "Private work (CMS
    simulation)", no bold "CMS" (mplhep's label without an experiment name), above ``ax``; the sample above
    ``right`` (the top-right panel of a grid; default ``ax``), right-aligned, so the two never overlap."""
    # placed as mplhep's exp_label(exp="", llabel=...) places it, without the full draw it makes to measure text
    # (a third of a figure's drawing time)
    ax.text(0.0, 1.01, EXPERIMENT_LABEL, transform=ax.transAxes, ha="left", va="bottom", fontsize=16,
            fontweight="normal")
    (right if right is not None else ax).set_title(text, loc="right", fontsize=14)


def save(fig, stem: str | Path, minor_ticks: bool = False) -> list[Path]:
    """``stem``.png and ``stem``.pdf, each written atomically; closes the figure. Minor ticks only where a figure
    asks for them (a log axis): elsewhere clutter, and laying them out is most of a figure's drawing time."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    if not minor_ticks:
        for ax in fig.axes:
            ax.minorticks_off()
    fig.tight_layout()
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=80 if fmt == "png" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def tagger_style(name: str) -> dict:
    family = name.split("_")[0]
    dashed = not name.endswith("_xaug") and family != "dnn"
    return {"color": COLOURS.get(family, "black"), "linestyle": "--" if dashed else "-"}


def panel_title(ax, text: str) -> None:
    """A title inside the panel (the space above the axes holds the experiment label)."""
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=13,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
