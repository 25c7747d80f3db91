"""The ROOT file of a relevance run, ``relevance.root``: written from the run's histograms and read back into them.

ROOT histograms have numeric axes only, so every histogram is sliced along its category axes (rule, member,
order, label, sign) into TH1D/TH2D/TH3D named ``<key>/<axis>_<value>__...``; the ``feature`` axis stays a labelled axis;
a ':' in a feature name becomes '_'. Only hist and uproot here: the figures read this file in processes that
import neither torch nor coffea.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import cast

import hist
import uproot

from xaugcol.atomic import atomic_path
from xaugcol.paths import check_regular

RELEVANCE_ROOT = "relevance.root"


def write_relevance_root(path: Path, hists: dict, summary: dict) -> None:
    """Every histogram sliced along its category axes (ROOT histograms have numeric axes only); atomically.

    The ``pairs/T`` and ``pairs_jets/T`` histograms (all pairs, on bin-index axes) are left out: the top pairs are
    written with value axes (``pair/T/a__b``).

    Parameters
    ----------
    path : Path
        The file written (``relevance.root`` of the run's folder); replaced only once it is complete.
    hists : dict of str to hist.Hist
        The run's histograms, by key.
    summary : dict
        The run's relevance summary (not written to the file).
    """
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            for key, h in sorted(hists.items()):
                if key.startswith(("pairs/", "pairs_jets/")):
                    continue  # all pairs on bin-index axes: the top pairs are written with value axes
                for name, part in slices(key, h):
                    f[name.replace(":", "_")] = part  # uproot reads ':' as a path separator


def slices(key: str, h: hist.Hist) -> Iterator[tuple[str, hist.Hist]]:
    """(name, histogram) for every combination of the category axes (the ``feature`` axis is kept).

    Parameters
    ----------
    key : str
        The histogram's key (the first part of every name).
    h : hist.Hist
        The histogram sliced.

    Yields
    ------
    name : str
        ``<key>/<axis>_<value>__...`` (``key`` itself for a histogram without category axes to cut).
    part : hist.Hist
        The slice: the numeric axes and the ``feature`` axis; a histogram of category axes only keeps its last.
    """
    cats: list[hist.axis.StrCategory | hist.axis.IntCategory] = [
        ax for ax in h.axes if isinstance(ax, (hist.axis.StrCategory, hist.axis.IntCategory)) and ax.name != "feature"
    ]
    if len(cats) == h.ndim:  # keep one axis: a histogram of category axes only would slice down to a number
        cats = cats[:-1]
    if not cats:
        yield key, h
        return
    for values in itertools.product(*[_categories(ax) for ax in cats]):
        sel: dict[int | str, hist.loc] = {ax.name: hist.loc(v) for ax, v in zip(cats, values)}
        part = h[sel]
        assert isinstance(part, hist.Hist)  # one axis at least is kept (above)
        yield f"{key}/" + "__".join(f"{ax.name}_{v}" for ax, v in zip(cats, values)), part


def _categories(ax: hist.axis.StrCategory | hist.axis.IntCategory) -> list[str | int]:
    """The categories of a category axis (hist types iterating over any axis as a union of every axis' values)."""
    return list(cast("Iterable[str | int]", ax))


# category axes that ``slices`` cuts along, with their value types
CATEGORY_AXES = {"rule": str, "member": int, "label": int, "sign": str, "order": str}


def read_relevance_histograms(folder: str | Path, tagger: str | None = None) -> dict:
    """The histograms of ``relevance.root`` rebuilt with their category axes (the inverse of ``slices``); with
    ``tagger`` only that tagger's (keys ``<kind>/<tagger>[/...]``: a figure of one tagger reads a seventh of the
    file in the demo).

    Parameters
    ----------
    folder : str or Path
        A relevance run's output folder, with ``relevance.root``.
    tagger : str, optional
        Read only this tagger's histograms; default: every tagger's.

    Returns
    -------
    dict of str to hist.Hist
        Key -> histogram with double storage, the category axes first (``label`` in the order background, signal,
        data; the ``member`` axis growing), and feature names with their ':' restored.

    Raises
    ------
    FileNotFoundError
        ``relevance.root`` is absent.
    NotRegularFileError
        ``relevance.root`` is not a regular file (``check_regular``).
    """
    groups: dict[str, list] = {}
    check_regular(Path(folder) / RELEVANCE_ROOT, "a relevance output's histograms")
    with uproot.open(Path(folder) / RELEVANCE_ROOT) as f:
        for name, cls in f.classnames().items():
            if not cls.startswith("TH"):
                continue
            key, spec = name.split(";")[0].rsplit("/", 1)
            if tagger is not None and key.split("/")[1:2] != [tagger]:
                continue
            parts = [p.split("_", 1) for p in spec.split("__")]
            if not all(len(p) == 2 and p[0] in CATEGORY_AXES for p in parts):
                continue
            coords = tuple((axis, CATEGORY_AXES[axis](value)) for axis, value in parts)
            groups.setdefault(key, []).append((coords, f[name].to_hist()))
    out = {}
    for key, items in groups.items():
        names = [axis for axis, _ in items[0][0]]
        values = {axis: list(dict.fromkeys(c[i][1] for c, _ in items)) for i, axis in enumerate(names)}
        if "label" in values:  # classes in their histogram order: background, signal, then data (no truth)
            values["label"] = sorted(values["label"], key=lambda v: (v < 0, v))
        axes = [
            hist.axis.StrCategory(values[a], name=a)
            if CATEGORY_AXES[a] is str
            else hist.axis.IntCategory(values[a], name=a, growth=a == "member")
            for a in names
        ]
        rest = []
        for ax in items[0][1].axes:
            if isinstance(ax, hist.axis.StrCategory):
                ax = hist.axis.StrCategory(cast("list[str]", _categories(ax)), name="feature")
            elif isinstance(ax, hist.axis.IntCategory):
                ax = hist.axis.IntCategory(cast("list[int]", _categories(ax)), name="label")
            rest.append(ax)
        h = hist.Hist(*axes, *rest, storage=hist.storage.Double())
        view = h.view(flow=True)
        for coords, part in items:
            index = tuple(values[a].index(v) for a, v in coords)
            view[index] = part.view(flow=True)
        out[key] = h
    return _feature_names_restored(out)


def _feature_names_restored(hists: dict) -> dict:
    """Keys ``kind/T/f`` whose feature name had its ':' written as '_' (``particle_log_pt``) renamed back, using
    the feature axis of ``features/T``, which keeps the true names."""
    out = {}
    for key, h in hists.items():
        parts = key.split("/")
        if len(parts) == 3 and f"features/{parts[1]}" in hists:
            names = {f.replace(":", "_"): f for f in hists[f"features/{parts[1]}"].axes["feature"]}
            key = "/".join(parts[:2] + [names.get(parts[2], parts[2])])
        out[key] = h
    return out
