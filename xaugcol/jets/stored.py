"""XAUG variables from the branches CMS stores, for plain NanoAOD without PF candidates.

CMS stores, per AK8 jet: pt / eta / phi / mass with their jet-energy correction (``rawFactor`` undoes it),
``msoftdrop``, ``tau1..4`` (the same definition as ours), ``n2b1`` (N2, beta = 1, of the groomed jet) and the two
softdrop subjets (``subJetIdx1/2`` -> ``SubJet_*``, corrected: ``SubJet_rawFactor`` undoes it). From them: raw
kinematics, ``msd``, the taus and ratios, ``n2``, and the subjet ``sj_z`` / ``sj_dr`` / ``sj1_pt`` / ``sj2_pt``.

Not stored, hence unavailable: ``d2`` and every particle-level input (``n_constituents`` too where
``FatJet_nConstituents`` is absent). Those columns are NaN and named in the processing report, never silently.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import vector

from xaugcol.jets.constituents import MissingBranchError
from xaugcol.jets.substructure import ratio

vector.register_awkward()

NEED = "the XAUG variables of a file without PF candidates (stored FatJet/SubJet branches)"
REQUIRED = ("pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau2", "tau3", "tau4")


def _get(collection, name: str, prefix: str):
    if name not in collection.fields:
        raise MissingBranchError(f"{prefix}_{name}", NEED)
    return collection[name]


def stored_xaug(events: ak.Array) -> tuple[dict[str, np.ndarray], list[str]]:
    """The XAUG variables and kinematics of every AK8 jet from the branches CMS stores.

    Parameters
    ----------
    events : awkward.Array
        A chunk's events (coffea's NanoEvents) with the ``FatJet`` and ``SubJet`` collections.

    Returns
    -------
    columns : dict of str to numpy.ndarray
        Per-jet columns, flattened over the events, float64: raw ``pt, eta, phi, mass`` (GeV), ``msd``, ``tau1..4``,
        ``tau21``, ``tau32``, ``n2``, ``d2`` (NaN), ``n_constituents`` (NaN without ``FatJet_nConstituents``),
        ``sd_two_prong`` (1.0 or 0.0) and ``sj1_pt, sj2_pt, sj_z, sj_dr`` (0 for a jet without two subjets).
    unavailable : list of str
        The columns this layout cannot provide: ``d2`` and, without ``FatJet_nConstituents``, ``n_constituents``.

    Raises
    ------
    MissingBranchError
        A branch the variables need is missing.
    """
    if "FatJet" not in events.fields:
        raise MissingBranchError("nFatJet", NEED)
    fj = events.FatJet
    flat = lambda a: ak.to_numpy(ak.flatten(a)).astype(np.float64)  # noqa: E731
    raw = 1.0 - flat(fj.rawFactor) if "rawFactor" in fj.fields else np.ones(len(flat(_get(fj, "pt", "FatJet"))))
    out = {name: flat(_get(fj, name, "FatJet")) for name in REQUIRED}
    out["pt"] = out["pt"] * raw
    out["mass"] = out["mass"] * raw
    out["msd"] = out.pop("msoftdrop")
    out["tau21"] = ratio(out["tau2"], out["tau1"])
    out["tau32"] = ratio(out["tau3"], out["tau2"])
    out["n2"] = flat(_get(fj, "n2b1", "FatJet"))
    unavailable = ["d2"]
    out["d2"] = np.full(len(out["pt"]), np.nan)
    if "nConstituents" in fj.fields:
        out["n_constituents"] = flat(fj.nConstituents)
    else:
        out["n_constituents"] = np.full(len(out["pt"]), np.nan)
        unavailable.append("n_constituents")

    # the two softdrop subjets, corrections removed
    if "SubJet" not in events.fields:
        raise MissingBranchError("nSubJet", NEED)
    sub = events.SubJet
    i1, i2 = _get(fj, "subJetIdx1", "FatJet"), _get(fj, "subJetIdx2", "FatJet")
    two = (i1 >= 0) & (i2 >= 0)

    def subjet(idx):
        if not ak.sum(ak.num(sub, axis=1)):
            zero = ak.zeros_like(fj.pt)
            return ak.zip({"pt": zero, "eta": zero, "phi": zero, "mass": zero}, with_name="Momentum4D")
        # a jet without two subjets indexes nothing (an event may hold no subjet at all): zeros, masked below
        chosen = ak.mask(idx, two)
        s, raw_factor = sub[chosen], _get(sub, "rawFactor", "SubJet")[chosen]
        corr = 1.0 - raw_factor
        fields = {"pt": s.pt * corr, "eta": s.eta, "phi": s.phi, "mass": s.mass * corr}
        return ak.zip({k: ak.fill_none(v, 0.0) for k, v in fields.items()}, with_name="Momentum4D")

    s1, s2 = subjet(i1), subjet(i2)
    two_flat = ak.to_numpy(ak.flatten(two))
    pt1, pt2 = flat(s1.pt), flat(s2.pt)
    hard, soft = np.maximum(pt1, pt2), np.minimum(pt1, pt2)
    out["sd_two_prong"] = two_flat.astype(np.float64)
    out["sj1_pt"] = np.where(two_flat, hard, 0.0)
    out["sj2_pt"] = np.where(two_flat, soft, 0.0)
    out["sj_z"] = np.where(two_flat, ratio(soft, hard + soft), 0.0)
    out["sj_dr"] = np.where(two_flat, flat(s1.deltaR(s2)), 0.0)
    return out, unavailable
