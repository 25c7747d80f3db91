"""The substructure variables from fastjet's own Python API, for when the C++ extension is not built or does not
match the installed fastjet (``xaugcol.jets.backend``). Same definitions and fallbacks as the extension; about half
its speed, because the jets go through three multi-event cluster sequences instead of one pass.

Every jet is one "event" of an awkward array, so each call below runs over all jets of the chunk in C++:

* C/A with the largest radius FastJet allows (one jet holds every constituent), then
  ``exclusive_jets_softdrop_grooming`` (mMDT): ``msd``, the groomed jet, ``sj_z`` and ``sj_dr``;
* ``njettiness`` on the constituents (NormalizedMeasure, OnePass_KT_Axes): tau1..tau4 of the ungroomed jet;
* the groomed constituents clustered again with C/A: its last two pieces are SoftDrop's two prongs (C/A on a
  subtree of a C/A history gives that subtree back), and ``exclusive_jets_energy_correlator`` on its one jet gives
  N2 and D2 of the groomed jet.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import cast

import awkward as ak
import fastjet
import numpy as np
import vector

SUBJET_FIELDS = ("pt", "eta", "phi", "mass")


def substructure(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    energy: np.ndarray,
    offsets: np.ndarray,
    sd_beta: float,
    sd_zcut: float,
    sd_r0: float,
    tau_beta: float,
    tau_r0: float,
    ecf_beta: float,
    columns: Iterable[str],
) -> dict[str, np.ndarray]:
    """The columns of ``xaugcol.jets.substructure`` for the jets ``offsets`` cut out of the flat constituents.

    The same signature (but ``columns``) and results as the C++ extension's ``substructure``.

    Parameters
    ----------
    px : numpy.ndarray
        The constituents' px (GeV), flat over the jets, shape (particles,).
    py : numpy.ndarray
        The constituents' py (GeV), shape (particles,).
    pz : numpy.ndarray
        The constituents' pz (GeV), shape (particles,).
    energy : numpy.ndarray
        The constituents' energies (GeV), shape (particles,).
    offsets : numpy.ndarray
        Where each jet's constituents start, shape (jets + 1,), int64; the last entry is the number of particles.
    sd_beta : float
        SoftDrop's angular exponent (0: mMDT).
    sd_zcut : float
        SoftDrop's symmetry cut.
    sd_r0 : float
        SoftDrop's characteristic radius.
    tau_beta : float
        The N-subjettiness angular exponent.
    tau_r0 : float
        The N-subjettiness characteristic radius.
    ecf_beta : float
        The energy correlators' angular exponent (N2, D2).
    columns : iterable of str
        The columns to return (``xaugcol.jets.substructure.COLUMNS``).

    Returns
    -------
    dict of str to numpy.ndarray
        Each column, one entry per jet, float64; 0 where a jet has too few constituents or prongs, never NaN.
    """
    counts = np.diff(offsets)
    out = {name: np.zeros(len(counts)) for name in columns}
    parts = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": energy}), counts)

    # one constituent: the groomed jet and the harder prong are that particle, everything else 0
    one = np.flatnonzero(counts == 1)
    if len(one):
        single = _kinematics(*(ak.to_numpy(parts[one][:, 0][c]) for c in ("px", "py", "pz", "E")))
        out["msd"][one] = single["mass"]
        out["sd_n_constituents"][one] = 1
        for name in SUBJET_FIELDS:
            out[f"sj1_{name}"][one] = single[name]
            if name != "mass":
                out[f"sd_{name}"][one] = single[name]

    many = np.flatnonzero(counts >= 2)
    if not len(many):
        return _finite(out)
    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, fastjet.JetDefinition.max_allowable_R)
    jets = fastjet.ClusterSequence(_packed(parts[many]), ca)
    groomed = jets.exclusive_jets_softdrop_grooming(njets=1, beta=sd_beta, symmetry_cut=sd_zcut, R0=sd_r0)
    out["msd"][many] = np.maximum(ak.to_numpy(groomed.msoftdrop), 0.0)
    out["sd_pt"][many] = ak.to_numpy(groomed.ptsoftdrop)
    out["sd_eta"][many] = ak.to_numpy(groomed.etasoftdrop)
    out["sd_phi"][many] = _phi_std(ak.to_numpy(groomed.phisoftdrop))
    n_groomed = ak.to_numpy(ak.num(groomed.constituents, axis=1))
    out["sd_n_constituents"][many] = n_groomed

    taus = ak.to_numpy(
        jets.njettiness(
            njets=[1, 2, 3, 4],
            beta=tau_beta,
            R0=tau_r0,
            measure_definition="NormalizedMeasure",
            axes_definition="OnePass_KT_Axes",
        )
    )
    for n in range(1, 5):  # with N or fewer particles every particle is an axis: tau_N = 0
        out[f"tau{n}"][many] = np.where(counts[many] > n, taus[:, n - 1], 0.0)

    # a groomed jet of one particle has one prong: sj1 = the groomed jet, sj2 = 0, no z, dR, N2 or D2
    two = n_groomed >= 2
    lone = many[~two]
    for name in SUBJET_FIELDS:
        out[f"sj1_{name}"][lone] = out["msd"][lone] if name == "mass" else out[f"sd_{name}"][lone]
    prong_jets = many[two]
    if not len(prong_jets):
        return _finite(out)
    out["sd_two_prong"][prong_jets] = 1.0
    out["sj_z"][prong_jets] = ak.to_numpy(groomed.symmetrysoftdrop)[two]
    out["sj_dr"][prong_jets] = ak.to_numpy(groomed.deltaRsoftdrop)[two]
    reclustered = fastjet.ClusterSequence(_packed(groomed.constituents[two]), ca)
    with warnings.catch_warnings():  # fastjet warns for every jet definition, C/A included, which is exact here
        warnings.filterwarnings("ignore", message="dcut and exclusive jets", category=UserWarning)
        prongs = reclustered.exclusive_jets(2)
    p4 = {c: ak.to_numpy(ak.flatten(prongs[c])).reshape(-1, 2) for c in ("px", "py", "pz", "E")}
    kin = _kinematics(p4["px"], p4["py"], p4["pz"], p4["E"])
    harder = np.argmax(kin["pt"], axis=1)  # sorted by pt, as fastjet::sorted_by_pt
    rows = np.arange(len(harder))
    for k, prefix in ((harder, "sj1"), (1 - harder, "sj2")):
        for name in SUBJET_FIELDS:
            out[f"{prefix}_{name}"][prong_jets] = kin[name][rows, k]
    for name in ("n2", "d2"):
        out[name][prong_jets] = ak.to_numpy(
            reclustered.exclusive_jets_energy_correlator(njets=1, beta=ecf_beta, func=name)
        )
    return _finite(out)


def _packed(events: ak.Array) -> ak.Array:
    """A selection of events as contiguous buffers: fastjet before 3.5 clusters the buffers under a sliced array,
    not the slice (the jets a mask removed came back in the others' places)."""
    return ak.to_packed(events)


def _kinematics(px, py, pz, energy) -> dict[str, np.ndarray]:
    """pt, pseudorapidity, phi in (-pi, pi] and mass (>= 0, as the extension's max(m, 0)) of four-vectors."""
    # vector.array is annotated as returning the base VectorNumpy: momentum components make a MomentumNumpy4D
    p = cast(vector.MomentumNumpy4D, vector.array({"px": px, "py": py, "pz": pz, "E": energy}))
    return {
        "pt": np.asarray(p.pt),
        "eta": np.asarray(p.eta),
        "phi": np.asarray(p.phi),
        "mass": np.fmax(np.asarray(p.mass), 0.0),
    }  # fmax: a tachyonic (NaN) mass is 0


def _phi_std(phi: np.ndarray) -> np.ndarray:
    """PseudoJet::phi() is in [0, 2 pi); the tables carry phi_std, in (-pi, pi]."""
    return np.where(phi > np.pi, phi - 2 * np.pi, phi)


def _finite(out: dict) -> dict:
    """FastJet's 0 / 0 cases (a tau or ECF ratio of a degenerate jet) are 0, as in the extension: never NaN."""
    return {name: np.where(np.isfinite(col), col, 0.0) for name, col in out.items()}
