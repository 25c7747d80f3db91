"""Jet substructure with FastJet and fastjet-contrib, for all jets of a chunk at once.

Per jet, from its constituents (by ``xaugcol.jets._fjcontrib``, C++ calling the contrib classes, or by fastjet's
Python API where that extension is not available: ``xaugcol.jets.backend``):

* recluster with Cambridge-Aachen (radius FastJet's largest, so all constituents form one jet, as SoftDrop's own
  reclustering does) and groom with SoftDrop in mMDT mode (beta = 0, z_cut = 0.1, R0 = 0.8): ``msd``, the groomed
  jet ``sd_*`` and its two prongs ``sj1_*`` (harder) and ``sj2_*``, their momentum sharing ``sj_z``
  (min(pt1, pt2) / (pt1 + pt2)) and opening ``sj_dr``;
* N-subjettiness tau1..tau4 (NormalizedMeasure beta = 1, R0 = 0.8, OnePass_KT_Axes) of the ungroomed jet, as CMS
  stores FatJet_tau1..4;
* energy-correlation ratios N2 and D2 (beta = 1) of the groomed jet, as CMS computes n2b1.

Documented fallbacks, never NaN:

* a jet with one constituent: groomed jet = the jet, ``sj1`` = that particle, ``sj2``, ``sj_z``, ``sj_dr``, taus,
  N2 and D2 = 0; with none: everything 0;
* a groomed jet that SoftDrop reduced to one prong (``sd_two_prong`` = 0): ``sj1`` = the groomed jet, ``sj2`` = 0,
  ``sj_z`` = ``sj_dr`` = 0; N2, D2 = 0 when the groomed jet holds a single particle.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from xaugcol.config_models import ConfigModel, NonNegativeNumber, PositiveNumber
from xaugcol.jets import backend, fastjet_api

backend.silence_banner()

COLUMNS = (
    "msd",
    "sd_pt",
    "sd_eta",
    "sd_phi",
    "sd_n_constituents",
    "sd_two_prong",
    "sj1_pt",
    "sj1_eta",
    "sj1_phi",
    "sj1_mass",
    "sj2_pt",
    "sj2_eta",
    "sj2_phi",
    "sj2_mass",
    "sj_z",
    "sj_dr",
    "tau1",
    "tau2",
    "tau3",
    "tau4",
    "n2",
    "d2",
)


class SubstructureConfig(ConfigModel):
    """The grooming and the observables' parameters (module docstring)."""

    softdrop_beta: NonNegativeNumber = 0.0  # 0: the modified mass-drop tagger (mMDT)
    softdrop_zcut: PositiveNumber = 0.1
    softdrop_r0: PositiveNumber = 0.8
    tau_beta: PositiveNumber = 1.0  # N-subjettiness angular exponent
    tau_r0: PositiveNumber = 0.8  # N-subjettiness characteristic radius
    ecf_beta: PositiveNumber = 1.0  # the energy correlators' angular exponent (N2, D2)

    def as_dict(self) -> dict:
        """The parameters as a processing report records them.

        Returns
        -------
        dict
            The fields (``model_dump``).
        """
        return self.model_dump()


def compute(constituents: ak.Array, config: SubstructureConfig = SubstructureConfig()) -> dict[str, np.ndarray]:
    """Substructure of every jet in ``constituents``, by the active backend (``xaugcol.jets.backend``).

    Parameters
    ----------
    constituents : awkward.Array
        (jets, particles) Momentum4D-like records (px, py, pz, E in GeV).
    config : SubstructureConfig, default SubstructureConfig()
        The grooming and the observables' parameters.

    Returns
    -------
    dict of str to numpy.ndarray
        Flat arrays, one entry per jet: the ``COLUMNS`` (masses and momenta in GeV, angles in radians) plus
        ``tau21`` and ``tau32`` (0 where the denominator is 0); the module docstring's fallbacks, never NaN.
    """
    counts = ak.to_numpy(ak.num(constituents, axis=1))
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = ak.flatten(constituents, axis=1)
    args = (
        _np(flat.px),
        _np(flat.py),
        _np(flat.pz),
        _np(flat.E),
        offsets,
        config.softdrop_beta,
        config.softdrop_zcut,
        config.softdrop_r0,
        config.tau_beta,
        config.tau_r0,
        config.ecf_beta,
    )
    if backend.active() == "extension":
        extension = backend.load_extension()[0]
        assert extension is not None  # active() is "extension" only where it loads
        cols = extension.substructure(*args)
    else:
        cols = fastjet_api.substructure(*args, columns=COLUMNS)
    out = {name: np.asarray(cols[name]) for name in COLUMNS}
    out["tau21"] = ratio(out["tau2"], out["tau1"])
    out["tau32"] = ratio(out["tau3"], out["tau2"])
    return out


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (a one-particle jet has tau_N = 0 for every N).

    Parameters
    ----------
    num : numpy.ndarray
        The numerators.
    den : numpy.ndarray
        The denominators, of the same shape.

    Returns
    -------
    numpy.ndarray
        float64: ``num / den`` where ``den > 0``, else 0.
    """
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _np(a) -> np.ndarray:
    return np.ascontiguousarray(ak.to_numpy(a), dtype=np.float64)
