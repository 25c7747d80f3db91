"""The secondary-vertex list of each jet: the Interaction Network's 14 features per vertex, padded, with a mask.

Vertices as ``xaugcol.jets.vertices`` associates them (by decreasing dxySig, up to ``n_max`` = 5). Features (the IN
paper's list; the names of PFNano's ``FatJetSVs``, whose stored values they reproduce, tests/test_tracks.py):

 0 ptrel, 1 erel        pT / pT_jet, E / E_jet
 2 phirel, 3 etarel     phi - phi_jet (wrapped), eta - eta_jet
 4 deltaR               distance to the jet axis (PFNano stores it minus 0.5)
 5 pt, 6 mass           of the vertex's tracks (GeV)
 7 ntracks
 8 normchi2             chi2 / ndof (NanoAOD's SV_chi2 already is)
 9 dxy, 10 dxysig       transverse flight distance (cm) and its significance
11 d3d, 12 d3dsig       3D flight distance (NanoAOD's dlen) and its significance
13 costhetasvpv         cosine of the angle between the flight direction and the vertex momentum (-cos(SV_pAngle):
                        NanoAOD's pAngle is measured from the primary-minus-secondary direction)
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import vector

from xaugcol.features.packed import PackedArray
from xaugcol.features.particles import per_jet, wrap_phi

FEATURES = (
    "ptrel",
    "erel",
    "phirel",
    "etarel",
    "deltaR",
    "pt",
    "mass",
    "ntracks",
    "normchi2",
    "dxy",
    "dxysig",
    "d3d",
    "d3dsig",
    "costhetasvpv",
)
N_FEATURES = len(FEATURES)

vector.register_awkward()


def vertex_list(vertices: ak.Array, jet: dict, n_max: int = 5) -> tuple[PackedArray, PackedArray]:
    """(jets, n_max, 14) float32 features and (jets, n_max) bool mask, packed (``xaugcol.features.packed``).

    Parameters
    ----------
    vertices : awkward.Array
        Shape (jets, vertices), jagged: each jet's secondary-vertex records (``xaugcol.jets.vertices``: pt, eta,
        phi, mass, ntracks, chi2, dxy, dxySig, dlen, dlenSig, pAngle), by decreasing dxySig. Those beyond the
        ``n_max`` first are dropped.
    jet : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,): ``pt`` (GeV), ``eta``, ``phi`` (radians), ``E`` (GeV).
    n_max : int, default 5
        The vertex slots per jet.

    Returns
    -------
    vertices : PackedArray
        The (jets, n_max, 14) float32 features ``FEATURES``, in the prefix layout.
    mask : PackedArray
        The (jets, n_max) bool mask, True for the slots that hold a vertex.
    """
    v = vertices[:, :n_max]
    p4 = ak.zip({"pt": v.pt, "eta": v.eta, "phi": v.phi, "mass": v.mass}, with_name="Momentum4D")
    deta, dphi = v.eta - per_jet(jet["eta"]), wrap_phi(v.phi - per_jet(jet["phi"]))
    columns = [
        v.pt / per_jet(jet["pt"]),
        p4.E / per_jet(jet["E"]),
        dphi,
        deta,
        np.hypot(deta, dphi),
        v.pt,
        v.mass,
        v.ntracks,
        v.chi2,
        v.dxy,
        v.dxySig,
        v.dlen,
        v.dlenSig,
        -np.cos(v.pAngle),
    ]
    counts = ak.to_numpy(ak.num(v.pt, axis=1))
    values = np.stack([ak.to_numpy(ak.flatten(c)).astype(np.float32) for c in columns], axis=1)
    out = PackedArray.objects(values, counts, n_max)
    return out, out.mask()
