"""Weighted hist histograms of every XAUG variable and the jet kinematics, per dataset and label."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import hist
import numpy as np

from xaugcol.features.kinds.xaug import BINNING as XAUG_BINNING

# variable: (bins, low, high, axis label), the XAUG input kind's binning
BINNING = XAUG_BINNING
# a lepton table's kinematics: the lepton's pT, the jet mass around it, its cells (``processing.lepton_table``)
LEPTON_KINEMATICS = {
    "pt": (50, 0.0, 125.0, r"lepton $p_T$ [GeV]"),
    "eta": (48, -2.4, 2.4, r"lepton $\eta$"),
    "mass": (50, 0.0, 25.0, r"jet mass (lepton + cells, $\Delta R < 0.4$) [GeV]"),
    "n_constituents": (100, -0.5, 99.5, r"cells within $\Delta R < 0.4$"),
}


def empty_histograms(names: Collection[str] | None = None) -> dict[str, hist.Hist]:
    """One histogram per variable of ``names``, by dataset and label, with weighted storage.

    A lepton table (``names`` holding its ``calo`` image) gets the lepton binning of the kinematics.

    Parameters
    ----------
    names : collection of str, optional
        A table's column names; the variables with a binning among them get a histogram. Default: every variable
        with a binning.

    Returns
    -------
    dict of str to hist.Hist
        Per variable: axes ``dataset`` (growing string category), ``label`` (0, 1, -1: no truth) and the variable.
    """
    binning = {**BINNING, **LEPTON_KINEMATICS} if names is not None and "calo" in names else BINNING
    names = BINNING if names is None else [n for n in BINNING if n in names]
    return {
        name: hist.Hist(
            hist.axis.StrCategory([], growth=True, name="dataset", label="dataset"),
            hist.axis.IntCategory([0, 1, -1], name="label", label="class (-1: no truth, real data)"),
            hist.axis.Regular(bins, low, high, name=name, label=label),
            storage=hist.storage.Weight(),
        )
        for name, (bins, low, high, label) in ((n, binning[n]) for n in names)
    }


def fill_histograms(hists: dict[str, hist.Hist], table: dict[str, np.ndarray], dataset: str) -> None:
    """Fill each variable's histogram from a jet table.

    NaN entries (columns a layout cannot provide) are left out and so counted nowhere, as the report says; a
    variable the table has no column for is skipped.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The histograms, as ``empty_histograms`` makes them; filled in place.
    table : dict of str to numpy.ndarray
        A jet (or lepton) table's columns, with ``label`` and ``weight``, one entry per jet.
    dataset : str
        The dataset the table belongs to.
    """
    for name, h in hists.items():
        if name not in table:  # a jet table has no isolation cones, a lepton table no softdrop mass
            continue
        values = np.asarray(table[name], dtype=np.float64)
        ok = np.isfinite(values)
        # by name: the axis is named after the variable (never one of fill's own keywords)
        variable: dict[str, Any] = {name: values[ok]}
        h.fill(dataset=dataset, label=table["label"][ok], weight=table["weight"][ok], **variable)
