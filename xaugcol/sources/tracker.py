"""A simplified CMS-like tracker: charged generator particles -> tracks with measured impact parameters, errors,
fit quality and hit pattern, written under CMS PFNano's names.

Model (every number is a documented setting of ``TrackerModel``; the README's "Simplified tracker" repeats it):

* **Acceptance.** A charged particle with |eta| < 2.5, pT > 0.5 GeV and a production radius below 60 cm becomes a
  track (unless the caller lost it, below); other charged candidates keep no track details, as CMS's below 0.5 GeV:
  ``d0Err = dzErr = trkChi2 = -1``, ``trkQuality = 0``, ``lostInnerHits = -1``, and d0 = dz = 0.
* **Impact parameters.** The true d0 and dz are those of the straight line from the particle's production vertex
  (B and D hadron decays displace it; the primary vertex is the origin), smeared with a Gaussian of the CMS-like
  resolution  sigma_d0 = 10 um (+) 90 um GeV * sqrt(cosh eta) / pT  and  sigma_dz = 30 um (+) 100 um GeV *
  cosh(eta)^1.5 / pT  (a (+) b: in quadrature; the multiple-scattering terms b / (p sin^{3/2} theta) and
  b / (p sin^{5/2} theta)). A fraction ``tail_fraction`` = 3 % of tracks (mis-assigned hits) are smeared with
  ``tail_scale`` = 4 times the resolution; the errors a track reports (``d0Err``, ``dzErr``) are the core
  resolution for every track, so those tails are what makes prompt tracks look displaced.
* **Hits and fit quality.** Valid hits: Poisson with mean 16 (at least 8); ndof = 2 hits - 5; ``trkChi2`` (chi2 /
  ndof) is chi2(ndof) / ndof, doubled for tail tracks. ``trkQuality`` is CMS's bit mask: 5 (loose + highPurity)
  when chi2 / ndof < 2.5, else 1 (loose). ``lostInnerHits`` follows the production radius r: r beyond the second
  pixel layer (6.8 cm) -> 2, beyond the first (2.9 cm) -> 1; a track from inside the beam pipe has -1 (a valid hit
  in the first layer) with probability 0.85, 0 with 0.10 and 1 with 0.05 (detector inefficiency).

* **Efficiency and fakes** (the caller's, ``xaugcol.sources.jet_detector``): a charged hadron may be lost
  (``reconstructed`` False: no track details, as below 0.5 GeV); a fake track (``fake``) has the impact parameters
  the caller drew for it and a fit ``fake_chi2_scale`` = 3 times worse.
* **Covariance** (``covariance`` on): the five track parameters' covariance terms DeepNtuples (and the IN paper's
  open-data ntuples) store beside the d0 and dz errors, ``track_covariance``.

Columnar over flat per-candidate arrays; the random stream is the caller's, and the default model draws exactly what
the first version of this tracker drew (samples made before these settings existed are made again bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UM = 1e-4  # cm
HIGH_PURITY = 5  # CMS TrackBase quality mask: loose (1) + highPurity (4)
LOOSE = 1


@dataclass(frozen=True)
class TrackerModel:
    """The simplified tracker's settings (module docstring); distances in cm (``UM``: a micrometre), momenta in GeV.

    Its acceptance, impact-parameter resolution (a constant (+) a multiple-scattering term each, with a tail), hit
    and quality model, and the covariance resolutions.

    Parameters
    ----------
    abs_eta_max : float, default 2.5
        The tracker's acceptance in |eta|.
    pt_min : float, default 0.5
        The lowest pT of a track, GeV.
    radius_max : float, default 60.0
        The production radius (cm) beyond which no track is reconstructed.
    d0_constant : float, default 10 * UM
        The constant term of the d0 resolution, cm.
    d0_scattering : float, default 90 * UM
        The multiple-scattering term of the d0 resolution, cm, times GeV / pT * sqrt(cosh eta).
    dz_constant : float, default 30 * UM
        The constant term of the dz resolution, cm.
    dz_scattering : float, default 100 * UM
        The multiple-scattering term of the dz resolution, cm, times GeV / pT * cosh(eta)^1.5.
    tail_fraction : float, default 0.03
        The fraction of tracks smeared with the tail resolution (mis-assigned hits).
    tail_scale : float, default 4.0
        The tail resolution, in units of the core resolution.
    mean_hits : float, default 16.0
        The Poisson mean of a track's valid hits.
    min_hits : int, default 8
        The fewest valid hits of a track.
    high_purity_chi2 : float, default 2.5
        The chi2 / ndof below which a track is highPurity (``trkQuality`` 5, else 1).
    pixel_layers : tuple of float, default (2.9, 6.8)
        The radii (cm) of the first two pixel barrel layers: ``lostInnerHits`` of displaced tracks.
    prompt_lost_hits : tuple of float, default (0.85, 0.10, 0.05)
        The probabilities of ``lostInnerHits`` -1, 0 and 1 for a track made inside the first pixel layer.
    fake_chi2_scale : float, default 3.0
        How much worse a fake track's chi2 is.
    covariance : bool, default False
        Write the six covariance terms beyond the d0 and dz errors (``track_covariance``).
    pt_constant : float, default 0.005
        ``track_covariance``: the constant term a of sigma(pT) / pT = a (+) b pT.
    pt_slope : float, default 1.5e-4
        ``track_covariance``: the slope b of sigma(pT) / pT, per GeV.
    phi_constant : float, default 1e-4
        ``track_covariance``: the constant term of sigma(phi), radians.
    phi_scattering : float, default 3.5e-3
        ``track_covariance``: the multiple-scattering term of sigma(phi), radians GeV (over pT).
    lambda_constant : float, default 2e-4
        ``track_covariance``: the constant term of sigma(lambda), radians.
    lambda_scattering : float, default 2.5e-3
        ``track_covariance``: the multiple-scattering term of sigma(lambda), radians GeV (over pT).
    layer_radii : tuple of float
        ``track_covariance``: the radii (cm) of CMS's barrel layers (pixel 2.9-16 cm, strips 25-108 cm), whose
        straight-line fit correlates the direction with the impact parameter.
    """

    abs_eta_max: float = 2.5
    pt_min: float = 0.5  # GeV
    radius_max: float = 60.0  # cm: production radius beyond which no track is reconstructed
    d0_constant: float = 10 * UM
    d0_scattering: float = 90 * UM  # times GeV / pT * sqrt(cosh eta)
    dz_constant: float = 30 * UM
    dz_scattering: float = 100 * UM  # times GeV / pT * cosh(eta)^1.5
    tail_fraction: float = 0.03
    tail_scale: float = 4.0
    mean_hits: float = 16.0
    min_hits: int = 8
    high_purity_chi2: float = 2.5
    pixel_layers: tuple[float, float] = (2.9, 6.8)  # cm: radii of the first two pixel barrel layers
    prompt_lost_hits: tuple[float, float, float] = (0.85, 0.10, 0.05)  # P(-1), P(0), P(1) for prompt tracks
    fake_chi2_scale: float = 3.0
    covariance: bool = False  # write the six covariance terms beyond the d0 and dz errors (``track_covariance``)
    # track_covariance's resolutions: sigma(pT) / pT = a (+) b pT (the CMS tracking paper, JINST 9 (2014) P10009:
    # about 1.5 % at 100 GeV in the barrel), and the angles' constant (+) multiple-scattering terms
    pt_constant: float = 0.005
    pt_slope: float = 1.5e-4  # per GeV
    phi_constant: float = 1e-4  # rad
    phi_scattering: float = 3.5e-3  # rad GeV
    lambda_constant: float = 2e-4  # rad
    lambda_scattering: float = 2.5e-3  # rad GeV
    # the straight-line fit through CMS's barrel layers (pixel 2.9-16 cm, strips 25-108 cm) correlates the
    # direction with the impact parameter: rho = -<r> / sqrt(<r^2>) with equal weights
    layer_radii: tuple[float, ...] = (2.9, 6.8, 10.9, 16.0, 25.5, 33.9, 41.8, 49.8, 60.8, 69.2, 78.0, 86.8, 96.5, 108.0)

    def d0_resolution(self, pt: np.ndarray | float, eta: np.ndarray | float) -> np.ndarray:
        """The transverse impact parameter's resolution (cm) of tracks of ``pt`` (GeV) at ``eta``.

        Parameters
        ----------
        pt : numpy.ndarray or float
            Transverse momenta, GeV.
        eta : numpy.ndarray or float
            Pseudorapidities.

        Returns
        -------
        numpy.ndarray
            sigma_d0 = ``d0_constant`` (+) ``d0_scattering`` sqrt(cosh eta) / pT, cm.
        """
        return np.hypot(self.d0_constant, self.d0_scattering * np.sqrt(np.cosh(eta)) / pt)

    def dz_resolution(self, pt: np.ndarray | float, eta: np.ndarray | float) -> np.ndarray:
        """The longitudinal impact parameter's resolution (cm) of tracks of ``pt`` (GeV) at ``eta``.

        Parameters
        ----------
        pt : numpy.ndarray or float
            Transverse momenta, GeV.
        eta : numpy.ndarray or float
            Pseudorapidities.

        Returns
        -------
        numpy.ndarray
            sigma_dz = ``dz_constant`` (+) ``dz_scattering`` cosh(eta)^1.5 / pT, cm.
        """
        return np.hypot(self.dz_constant, self.dz_scattering * np.cosh(eta) ** 1.5 / pt)


TRACK_FIELDS = ("d0", "dz", "d0Err", "dzErr", "trkChi2", "trkQuality", "lostInnerHits")
# the reco::Track covariance terms beyond d0Err and dzErr, as DeepNtuples names them (parameters q/p, lambda, phi,
# dxy, dsz): dptdpt = cov(q/p, q/p), detadeta = cov(lambda, lambda), dphidphi = cov(phi, phi), dxydz = cov(dxy,
# dsz), dphidxy = cov(phi, dxy), dlambdadz = cov(lambda, dsz)
COVARIANCE_FIELDS = ("dptdpt", "detadeta", "dphidphi", "dxydz", "dphidxy", "dlambdadz")


def track_fields(model: TrackerModel) -> tuple[str, ...]:
    """The PFCands fields ``measure_tracks`` writes with ``model``.

    Parameters
    ----------
    model : TrackerModel
        The tracker (its ``covariance``).

    Returns
    -------
    tuple of str
        ``TRACK_FIELDS``, then ``COVARIANCE_FIELDS`` when ``model.covariance`` is on.
    """
    return TRACK_FIELDS + (COVARIANCE_FIELDS if model.covariance else ())


def track_covariance(
    pt: np.ndarray,
    eta: np.ndarray,
    d0: np.ndarray,
    sigma_d0: np.ndarray,
    sigma_dz: np.ndarray,
    radius: np.ndarray,
    model: TrackerModel,
) -> dict[str, np.ndarray]:
    """The six covariance terms of each track's fit (flat arrays; ``radius``: the production radius, cm).

    Diagonal: sigma(q/p) = sigma(pT) / pT / p, sigma(phi) and sigma(lambda) constant (+) scattering / pT. The
    direction and the impact parameter in each plane are correlated as a straight-line fit through the layers
    makes them (``layer_radii``); d0 and dz only through the geometry: the transverse point of closest approach moves
    along the track by -(d0 / R) delta d0 (R the first measured radius), which moves z0 by cot(theta) times that.

    Parameters
    ----------
    pt : numpy.ndarray
        The tracks' transverse momenta, GeV.
    eta : numpy.ndarray
        Their pseudorapidities.
    d0 : numpy.ndarray
        Their measured transverse impact parameters, cm.
    sigma_d0 : numpy.ndarray
        Their d0 resolutions, cm.
    sigma_dz : numpy.ndarray
        Their dz resolutions, cm.
    radius : numpy.ndarray
        Their production radii, cm (the first measured radius is at least the first pixel layer's).
    model : TrackerModel
        The tracker (its covariance resolutions and ``layer_radii``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``COVARIANCE_FIELDS`` (``dptdpt``, ``detadeta``, ``dphidphi``, ``dxydz``, ``dphidxy``, ``dlambdadz``) to
        one value per track.
    """
    r = np.asarray(model.layer_radii)
    rho = -r.mean() / np.sqrt(np.mean(r**2))
    p = pt * np.cosh(eta)
    sigma_qoverp = np.hypot(model.pt_constant, model.pt_slope * pt) / p
    sigma_phi = np.hypot(model.phi_constant, model.phi_scattering / pt)
    sigma_lambda = np.hypot(model.lambda_constant, model.lambda_scattering / pt)
    cos_lambda = 1.0 / np.cosh(eta)
    sigma_dsz = sigma_dz * cos_lambda
    first_hit = np.maximum(radius, model.pixel_layers[0])
    return {
        "dptdpt": sigma_qoverp**2,
        "detadeta": sigma_lambda**2,
        "dphidphi": sigma_phi**2,
        "dxydz": np.sinh(eta) * cos_lambda * d0 / first_hit * sigma_d0**2,
        "dphidxy": rho * sigma_phi * sigma_d0,
        "dlambdadz": rho * sigma_lambda * sigma_dsz,
    }


def straight_line_ip(
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(d0, dz) in cm of the straight line from (vx, vy, vz) along p, relative to the origin (the primary vertex).

    With CMS's signs: d0 = (-x p_y + y p_x) / pT and dz = z - (x p_x + y p_y) / pT * p_z / pT.

    Parameters
    ----------
    vx : numpy.ndarray
        The production points' x, cm.
    vy : numpy.ndarray
        Their y, cm.
    vz : numpy.ndarray
        Their z, cm.
    px : numpy.ndarray
        The momenta's x components, GeV.
    py : numpy.ndarray
        Their y components, GeV.
    pz : numpy.ndarray
        Their z components, GeV.

    Returns
    -------
    d0 : numpy.ndarray
        The transverse impact parameters, cm.
    dz : numpy.ndarray
        The longitudinal impact parameters, cm.
    """
    pt = np.hypot(px, py)
    return (-vx * py + vy * px) / pt, vz - (vx * px + vy * py) / pt * pz / pt


def measure_tracks(
    charge: np.ndarray,
    pt: np.ndarray,
    eta: np.ndarray,
    vertex: tuple,
    true_ip: tuple,
    rng: np.random.Generator,
    model: TrackerModel = TrackerModel(),
    reconstructed: np.ndarray | None = None,
    fake: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The tracker's output per candidate (flat arrays).

    ``track_fields(model)`` plus ``has_track`` (bool) and ``tail`` (the track was smeared with the tail
    resolution). Every random number is drawn for every candidate, so the stream does not depend on which ones are
    tracks; candidates without a track get the module docstring's placeholder values.

    Parameters
    ----------
    charge : numpy.ndarray
        The candidates' charges (neutral ones make no track).
    pt : numpy.ndarray
        Their transverse momenta, GeV.
    eta : numpy.ndarray
        Their pseudorapidities.
    vertex : tuple of numpy.ndarray
        The true production point (x, y, z) in cm.
    true_ip : tuple of numpy.ndarray
        The true (d0, dz) of the straight line from it, cm (a fake track's: what was drawn for it).
    rng : numpy.random.Generator
        The caller's random stream.
    model : TrackerModel, optional
        The tracker; default: ``TrackerModel()``.
    reconstructed : numpy.ndarray or None, optional
        False for a particle the tracking lost; None: none lost.
    fake : numpy.ndarray or None, optional
        True for a fake track (its chi2 is ``fake_chi2_scale`` times worse); None: no fakes.

    Returns
    -------
    dict of str to numpy.ndarray
        One entry per candidate: ``d0``, ``dz``, ``d0Err``, ``dzErr``, ``trkChi2`` (float32), ``trkQuality``,
        ``lostInnerHits`` (int32), the ``COVARIANCE_FIELDS`` (float32) when ``model.covariance`` is on,
        ``has_track`` and ``tail`` (bool).
    """
    charge, pt, eta = (np.asarray(a, dtype=np.float64) for a in (charge, pt, eta))
    n = len(pt)
    radius = np.hypot(vertex[0], vertex[1])
    has = (charge != 0) & (np.abs(eta) < model.abs_eta_max) & (pt > model.pt_min) & (radius < model.radius_max)
    if reconstructed is not None:
        has &= reconstructed
    safe_pt = np.where(has, pt, 1.0)
    sigma_d0 = model.d0_resolution(safe_pt, eta)
    sigma_dz = model.dz_resolution(safe_pt, eta)
    # draw every random number for every candidate: the stream does not depend on which ones are tracks
    tail = rng.random(n) < model.tail_fraction
    scale = np.where(tail, model.tail_scale, 1.0)
    d0 = true_ip[0] + rng.standard_normal(n) * sigma_d0 * scale
    dz = true_ip[1] + rng.standard_normal(n) * sigma_dz * scale
    hits = np.maximum(rng.poisson(model.mean_hits, n), model.min_hits)
    ndof = 2 * hits - 5
    chi2 = rng.chisquare(ndof) / ndof * np.where(tail, 2.0, 1.0)
    if fake is not None:
        chi2 = chi2 * np.where(fake, model.fake_chi2_scale, 1.0)
    quality = np.where(chi2 < model.high_purity_chi2, HIGH_PURITY, LOOSE)
    p_lost = np.cumsum(model.prompt_lost_hits)
    u = rng.random(n)
    prompt_lost = np.where(u < p_lost[0], -1, np.where(u < p_lost[1], 0, 1))
    first, second = model.pixel_layers
    lost = np.where(radius > second, 2, np.where(radius > first, 1, prompt_lost))
    covariance = {}
    if model.covariance:
        terms = track_covariance(safe_pt, eta, d0, sigma_d0, sigma_dz, radius, model)
        covariance = {k: np.where(has, v, 0.0).astype(np.float32) for k, v in terms.items()}
    return {
        **covariance,
        "d0": np.where(has, d0, 0.0).astype(np.float32),
        "dz": np.where(has, dz, 0.0).astype(np.float32),
        "d0Err": np.where(has, sigma_d0, -1.0).astype(np.float32),
        "dzErr": np.where(has, sigma_dz, -1.0).astype(np.float32),
        "trkChi2": np.where(has, chi2, -1.0).astype(np.float32),
        "trkQuality": np.where(has, quality, 0).astype(np.int32),
        "lostInnerHits": np.where(has, lost, -1).astype(np.int32),
        "has_track": has,
        "tail": has & tail,
    }
