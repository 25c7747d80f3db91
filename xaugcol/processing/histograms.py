"""Weighted hist histograms of every XAUG variable and the jet kinematics, per dataset and label."""

from __future__ import annotations

import hist
import numpy as np

# variable: (bins, low, high, axis label)
BINNING = {
    "pt": (60, 0.0, 1500.0, r"jet $p_T$ [GeV]"),
    "eta": (48, -2.4, 2.4, r"jet $\eta$"),
    "mass": (60, 0.0, 300.0, r"jet mass [GeV]"),
    "n_constituents": (60, 0.0, 180.0, "constituents"),
    "msd": (60, 0.0, 300.0, r"$m_{SD}$ [GeV]"),
    "tau1": (50, 0.0, 0.5, r"$\tau_1$"),
    "tau2": (50, 0.0, 0.3, r"$\tau_2$"),
    "tau3": (50, 0.0, 0.2, r"$\tau_3$"),
    "tau4": (50, 0.0, 0.15, r"$\tau_4$"),
    "tau21": (50, 0.0, 1.0, r"$\tau_{21}$"),
    "tau32": (50, 0.0, 1.0, r"$\tau_{32}$"),
    "n2": (50, 0.0, 0.5, r"$N_2^{(1)}$"),
    "d2": (50, 0.0, 5.0, r"$D_2^{(1)}$"),
    "sj_z": (50, 0.0, 0.5, r"subjet $z$"),
    "sj_dr": (50, 0.0, 0.8, r"subjet $\Delta R$"),
    "sj1_pt": (60, 0.0, 1500.0, r"leading subjet $p_T$ [GeV]"),
    "sj2_pt": (60, 0.0, 750.0, r"subleading subjet $p_T$ [GeV]"),
}


def empty_histograms() -> dict[str, hist.Hist]:
    return {
        name: hist.Hist(
            hist.axis.StrCategory([], growth=True, name="dataset", label="dataset"),
            hist.axis.IntCategory([0, 1], name="label", label="class"),
            hist.axis.Regular(bins, low, high, name=name, label=label),
            storage=hist.storage.Weight(),
        )
        for name, (bins, low, high, label) in BINNING.items()
    }


def fill_histograms(hists: dict[str, hist.Hist], table: dict[str, np.ndarray], dataset: str) -> None:
    """Fill each variable's histogram from a jet table; NaN entries (columns a layout cannot provide) are left out
    and so counted nowhere, as the report says."""
    for name, h in hists.items():
        values = np.asarray(table[name], dtype=np.float64)
        ok = np.isfinite(values)
        h.fill(dataset=dataset, label=table["label"][ok], weight=table["weight"][ok], **{name: values[ok]})
