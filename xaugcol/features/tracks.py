"""The track list of each jet: the Interaction Network's 30 features per track, pT-ordered, padded, with a mask.

A track is a charged constituent with a reconstructed track: ``PFCands_d0Err`` > 0 where the file stores it (CMS
keeps no track details below about 0.5 GeV; our tracker does the same), any charged constituent otherwise.
Features (the IN paper's (Moreno et al., arXiv:1909.12285) list, Roy and Neubauer; names as DeepDoubleX's):

 0 ptrel, 1 erel        pT / pT_jet, E / E_jet
 2 phirel, 3 etarel     phi - phi_jet (wrapped), eta - eta_jet
 4 deltaR               distance to the jet axis
 5 drminsv              distance to the nearest secondary vertex of the jet (the jet radius, 0.8, without one)
 6 drsubjet1/2, 7       distance to the softdrop subjets (the groomed axis twice for one-prong jets)
 8 dz, 9 dzsig          longitudinal impact parameter (cm) and dz / dzErr
10 dxy, 11 dxysig       transverse impact parameter d0 (cm) and d0 / d0Err
12 normchi2, 13 quality the track fit's chi2 / ndof and CMS's quality mask
14-21                   the fit's covariance terms dptdpt, detadeta, dphidphi, dxydxy (= d0Err^2), dzdz (= dzErr^2),
                        dxydz, dphidxy, dlambdadz: CMS PFNano and the simple tracker store only the two errors, so
                        the other six are unavailable unless a file carries ``PFCands_<name>`` (the CMS-like tracker
                        writes them, ``xaugcol.sources.tracker.track_covariance``; the open-data ntuples have them)
22-29                   b-tagging variables: btagEtaRel, btagPtRatio, btagPParRatio (PFNano's), btagSip2dVal and
                        btagSip2dSig (d0 with the lifetime sign, ``xaugcol.jets.track_geometry``, and / d0Err),
                        btagSip3dVal, btagSip3dSig, btagJetDistVal (PFNano's)

A feature whose branches the file lacks is 0 for every track and named by ``track_list`` (the processing report
lists it as unavailable). Columnar: the tracks of all jets in one block, packed as the particle list.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from xaugcol.features.packed import PackedArray
from xaugcol.features.particles import per_jet, wrap_phi
from xaugcol.jets.track_geometry import signed_ip2d

COVARIANCE = ("dptdpt", "detadeta", "dphidphi", "dxydxy", "dzdz", "dxydz", "dphidxy", "dlambdadz")
# the covariance terms neither CMS PFNano nor the simple tracker stores (only the d0 and dz errors)
NOT_IN_PFNANO = ("dptdpt", "detadeta", "dphidphi", "dxydz", "dphidxy", "dlambdadz")
BTAG = (
    "btagEtaRel",
    "btagPtRatio",
    "btagPParRatio",
    "btagSip2dVal",
    "btagSip2dSig",
    "btagSip3dVal",
    "btagSip3dSig",
    "btagJetDistVal",
)
FEATURES = (
    "ptrel",
    "erel",
    "phirel",
    "etarel",
    "deltaR",
    "drminsv",
    "drsubjet1",
    "drsubjet2",
    "dz",
    "dzsig",
    "dxy",
    "dxysig",
    "normchi2",
    "quality",
    *COVARIANCE,
    *BTAG,
)
N_FEATURES = len(FEATURES)
NO_VERTEX_DR = 0.8
# what each feature needs of the file beyond the candidates' kinematics and d0 / dz
NEEDS = {
    "dzsig": ("dzErr",),
    "dxysig": ("d0Err",),
    "normchi2": ("trkChi2",),
    "quality": ("trkQuality",),
    "dxydxy": ("d0Err",),
    "dzdz": ("dzErr",),
    "btagSip2dSig": ("d0Err",),
    **{c: (c,) for c in NOT_IN_PFNANO},
    **{
        b: (b,)
        for b in ("btagEtaRel", "btagPtRatio", "btagPParRatio", "btagSip3dVal", "btagSip3dSig", "btagJetDistVal")
    },
}


def is_track(constituents: ak.Array) -> ak.Array:
    """(jets, particles) True for a constituent with a reconstructed track.

    A track is a charged constituent with ``d0Err`` > 0 where the records carry ``d0Err``, any charged one otherwise.

    Parameters
    ----------
    constituents : awkward.Array
        Shape (jets, particles), jagged records with ``charge`` and, optionally, ``d0Err``.

    Returns
    -------
    awkward.Array
        Shape (jets, particles), bool.
    """
    charged = constituents.charge != 0
    return charged & (constituents.d0Err > 0) if "d0Err" in constituents.fields else charged


def _ratio(num, den):
    return num / ak.where(den > 0, den, np.inf)  # a missing error (-1) gives 0, never inf


def track_list(
    constituents: ak.Array, jet: dict, subjets: dict, vertices: ak.Array | None, n_max: int = 60
) -> tuple[PackedArray, PackedArray, np.ndarray, list[str]]:
    """The track features and mask of each jet, packed, its number of tracks, and the features the file lacks.

    The (jets, n_max, 30) float32 features and (jets, n_max) bool mask are packed (``xaugcol.features.packed``).
    The tracks are the constituents ``is_track`` selects, in the constituents' order; those beyond a jet's ``n_max``
    first are dropped. A feature whose branches the records lack is 0 for every track.

    Parameters
    ----------
    constituents : awkward.Array
        Shape (jets, particles), jagged: records as ``xaugcol.jets.constituents`` gives them (pT-ordered), with pt,
        eta, phi, E, charge, d0, dz and whichever of ``NEEDS``'s branches the file has.
    jet : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,): ``pt`` (GeV), ``eta``, ``phi`` (radians), ``E`` (GeV).
    subjets : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,): ``sj1_eta``, ``sj1_phi``, ``sj2_eta``, ``sj2_phi``, ``sd_two_prong`` (> 0
        for a jet with two softdrop prongs; the second prong is taken as the first otherwise).
    vertices : awkward.Array or None
        Shape (jets, vertices): records with eta, phi (``xaugcol.jets.vertices``), or None where the file has no
        secondary vertices (``drminsv`` is then 0 and listed as unavailable).
    n_max : int, default 60
        The track slots per jet.

    Returns
    -------
    tracks : PackedArray
        The (jets, n_max, 30) float32 features ``FEATURES``, in the prefix layout.
    mask : PackedArray
        The (jets, n_max) bool mask, True for the slots that hold a track.
    n_tracks : numpy.ndarray
        Shape (jets,), int32: each jet's number of tracks, before the cut to ``n_max``.
    unavailable : list of str
        The features this file cannot provide (0 for every track).
    """
    every = constituents[is_track(constituents)]
    t = every[:, :n_max]
    present = set(t.fields)
    unavailable = [f for f in FEATURES if not all(n in present for n in NEEDS.get(f, ()))]
    if vertices is None:
        unavailable.append("drminsv")
    jet_pt, jet_eta, jet_phi, jet_e = (per_jet(jet[k]) for k in ("pt", "eta", "phi", "E"))
    two = subjets["sd_two_prong"] > 0
    sj = [
        per_jet(subjets["sj1_eta"]),
        per_jet(subjets["sj1_phi"]),
        per_jet(np.where(two, subjets["sj2_eta"], subjets["sj1_eta"])),
        per_jet(np.where(two, subjets["sj2_phi"], subjets["sj1_phi"])),
    ]
    deta, dphi = t.eta - jet_eta, wrap_phi(t.phi - jet_phi)
    zero = ak.zeros_like(t.pt)
    columns = {
        "ptrel": t.pt / jet_pt,
        "erel": t.E / jet_e,
        "phirel": dphi,
        "etarel": deta,
        "deltaR": np.hypot(deta, dphi),
        "drminsv": _nearest_vertex(t, vertices) if vertices is not None else zero,
        "drsubjet1": np.hypot(t.eta - sj[0], wrap_phi(t.phi - sj[1])),
        "drsubjet2": np.hypot(t.eta - sj[2], wrap_phi(t.phi - sj[3])),
        "dz": t.dz,
        "dxy": t.d0,
    }
    if "d0Err" in present:
        columns.update(dxysig=_ratio(t.d0, t.d0Err), dxydxy=t.d0Err**2)
    if "dzErr" in present:
        columns.update(dzsig=_ratio(t.dz, t.dzErr), dzdz=t.dzErr**2)
    columns.update({"normchi2": t.trkChi2} if "trkChi2" in present else {})
    columns.update({"quality": t.trkQuality} if "trkQuality" in present else {})
    columns.update({c: t[c] for c in COVARIANCE if c in present})
    columns.update({b: t[b] for b in BTAG if b in present})
    sip2d = signed_ip2d(ak.flatten(t.d0), ak.flatten(t.phi), ak.flatten(ak.broadcast_arrays(jet_phi, t.phi)[0]))
    columns["btagSip2dVal"] = ak.unflatten(sip2d, ak.num(t.pt, axis=1))
    if "d0Err" in present:
        columns["btagSip2dSig"] = _ratio(columns["btagSip2dVal"], t.d0Err)
    counts = ak.to_numpy(ak.num(t.pt, axis=1))
    flat = [ak.to_numpy(ak.flatten(columns.get(f, zero))).astype(np.float32) for f in FEATURES]
    out = PackedArray.objects(np.stack(flat, axis=1), counts, n_max)
    return out, out.mask(), ak.to_numpy(ak.num(every, axis=1)).astype(np.int32), unavailable


def _nearest_vertex(tracks, vertices) -> ak.Array:
    """Each track's distance to the nearest vertex of its jet; ``NO_VERTEX_DR`` for a jet without one."""
    deta = tracks.eta[:, :, None] - vertices.eta[:, None, :]
    dphi = wrap_phi(tracks.phi[:, :, None] - vertices.phi[:, None, :])
    nearest = ak.min(np.hypot(deta, dphi), axis=2)
    return ak.fill_none(nearest, NO_VERTEX_DR)
