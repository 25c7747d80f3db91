"""A simplified two-layer calorimeter around leptons: visible particles -> energy in eta-phi cells of an
electromagnetic (EM) and a hadronic (HAD) layer, with resolution, lateral shower spread, noise and zero
suppression, written as the cells of a window around each lepton.

Model (every number a setting of ``CalorimeterModel``; the README's "Simplified calorimeter" repeats it):

* **Geometry.** Fixed projective grids over |eta| < 2.5: EM cells of 0.025 x pi/128 (256 in phi), HAD cells of
  0.1 x pi/32, each HAD cell exactly 4 x 4 EM cells (the grids share their boundaries). A particle hits the cells
  at the (eta, phi) the caller gives: its impact point (``xaugcol.sources.solenoid``; its own direction without a
  field).
* **Deposits by species.** Electrons and photons put all their E_T into EM as a narrow shower; muons and neutrinos
  deposit nothing (a muon's ionisation, ~0.3 GeV in EM and ~2 GeV in HAD, is the same for both classes and below
  what isolation resolves). Hadrons (charged and neutral), by ``hadron_showers``:

  - ``uniform`` (the first lepton samples): a fraction f ~ uniform(0, ``hadron_em_max`` = 1) into EM with the
    electromagnetic profile, the rest into HAD;
  - ``parametrised`` (the muon paper's setup): the CMS ECAL is 23 cm of PbWO4, 1.13 interaction lengths
    (lambda_I = 20.3 cm, PDG). With probability exp(-1.13) = 0.32 the hadron crosses it without interacting and a
    charged one leaves a minimum-ionising 0.23 GeV (10.2 MeV/cm); otherwise its shower starts at a depth t
    ~ Exp(lambda_I) inside the ECAL. The shower's electromagnetic (pi0) fraction f_em follows Groom's
    parametrisation of its mean, 1 - (E / 1 GeV)^-0.18 (0.47 at 30 GeV; T. A. Gabriel et al., NIM A 338 (1994)
    336; D. E. Groom, NIM A 572 (2007) 633), with an event-to-event spread of 0.15 (a Beta distribution). Of the
    ECAL left after t, the EM component deposits 1 - exp(-left / 0.3 lambda_I) there, the hadronic component
    1 - exp(-left / 1.5 lambda_I); the rest goes to HAD. In the EM layer the EM component keeps the narrow
    profile and the hadronic component spreads wider (``hadron_em_spread`` = 1.5 cells, about 3.3 cm, against
    0.6 for an electron) with the hadronic resolution.
* **Resolution.** Each deposit's energy is smeared once with sigma / E = a / sqrt(E) (+) c (EM: a = 10 %,
  c = 1 %; HAD: a = 100 %, c = 5 %), clipped at zero.
* **Lateral spread.** A deposit is shared over the cells around the hit cell by a 2D Gaussian centred on the
  particle (width ``em_spread`` = 0.6 EM cells, ``had_spread`` = 0.5 HAD cells: over 3 x 3 cells; a width w over
  (2 ceil(1.5 w) + 1)^2), each cell receiving the integral of the Gaussian over it (renormalised over the block).
* **Flat pile-up** (the first lepton samples; the paper's muon setup overlays minimum bias instead,
  ``xaugcol.sources.pileup``). Soft particles spread evenly around each lepton (E_T density ``pileup_density`` =
  25 GeV per unit eta-phi area; E_T exponential with mean 0.5 GeV; a third photons, the rest charged hadrons),
  deposited as any particle. Not tracked (the tracks written are the hard event's).
* **Noise and zero suppression.** Every cell of a lepton's window gets Gaussian noise in E_T (EM 50 MeV, HAD
  200 MeV); cells below 3 sigma of noise are suppressed (dropped). Two leptons whose windows overlap draw their
  noise independently (rare: their distance is then below 0.8).
* **Windows.** Around each lepton, the 32 x 32 EM cells centred on the lepton's EM cell (offsets -16..15) and the
  HAD cells whose 4 x 4 EM blocks reach into that window (up to 9 x 9): about +-0.4 in eta and phi.

Cells carry global integer indices (``ieta``, ``iphi``, in their layer's grid) and their centres; the lepton carries
the indices of its EM cell, so an image is built from the cells exactly, without rebinning. Columnar over a
batch's flat particle arrays; the random stream is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

EM, HAD = 0, 1


@dataclass(frozen=True)
class CalorimeterModel:
    """The two-layer (EM and HAD) calorimeter of the lepton studies (module docstring).

    Its cell grid, energy resolution (stochastic and constant terms), lateral shower spread, noise and zero
    suppression, flat pile-up and hadron-shower model; every parameter a field, with its unit beside it.

    Parameters
    ----------
    abs_eta_max : float, default 2.5
        The calorimeter's acceptance in |eta|: particles beyond it deposit nothing, window cells beyond it do not
        exist.
    em_eta_size : float, default 0.025
        An EM cell's size in eta.
    em_phi_cells : int, default 256
        EM cells in phi (a cell is 2 pi / 256 = pi / 128 wide); a multiple of ``had_factor``.
    had_factor : int, default 4
        A HAD cell is ``had_factor`` x ``had_factor`` EM cells.
    window : int, default 32
        EM cells per side of a lepton's window; even and at least 4.
    em_stochastic : float, default 0.10
        The stochastic term a of the EM resolution sigma / E = a / sqrt(E / GeV) (+) c.
    em_constant : float, default 0.01
        The constant term c of the EM resolution.
    had_stochastic : float, default 1.0
        The stochastic term of the HAD resolution.
    had_constant : float, default 0.05
        The constant term of the HAD resolution.
    em_spread : float, default 0.6
        The Gaussian width of the lateral (electromagnetic) shower, in EM cells.
    had_spread : float, default 0.5
        The Gaussian width of the lateral shower in the HAD layer, in HAD cells.
    hadron_em_max : float, default 1.0
        ``uniform`` hadron showers: a hadron's EM fraction is uniform in [0, ``hadron_em_max``].
    em_noise : float, default 0.05
        The Gaussian noise per EM cell, GeV of E_T.
    had_noise : float, default 0.2
        The Gaussian noise per HAD cell, GeV of E_T.
    threshold_sigma : float, default 3.0
        Zero suppression: a window's cells below this many sigma of their layer's noise are dropped.
    pileup_density : float, default 25.0
        The flat pile-up's E_T density around each lepton, GeV per unit eta-phi area (0: no flat pile-up).
    pileup_mean_et : float, default 0.5
        The mean E_T of a flat pile-up particle (exponential), GeV.
    pileup_photon_fraction : float, default 0.33
        The fraction of the flat pile-up particles that are photons (the pi0 photons); the rest are charged pions.
    hadron_showers : str, default "uniform"
        The hadron-shower model: ``"uniform"`` or ``"parametrised"`` (module docstring).
    ecal_interaction_lengths : float, default 1.13
        ``parametrised``: the ECAL's depth in interaction lengths (CMS: 23 cm of PbWO4, lambda_I = 20.3 cm).
    ecal_mip_gev : float, default 0.23
        ``parametrised``: the signal (GeV) of a charged hadron crossing the ECAL without interacting.
    em_fraction_e0 : float, default 1.0
        ``parametrised``: the energy scale E0 (GeV) of the mean pi0 fraction 1 - (E / E0)^exponent (Groom).
    em_fraction_exponent : float, default -0.18
        ``parametrised``: the exponent of that mean pi0 fraction.
    em_fraction_spread : float, default 0.15
        ``parametrised``: the event-to-event spread of the pi0 fraction (the width of its Beta distribution).
    em_component_length : float, default 0.3
        ``parametrised``: the interaction lengths over which a shower's EM component deposits.
    had_component_length : float, default 1.5
        ``parametrised``: the interaction lengths over which a shower's hadronic component deposits.
    hadron_em_spread : float, default 1.5
        ``parametrised``: the lateral width of a shower's hadronic component in the EM layer, in EM cells.

    Raises
    ------
    ValueError
        If ``window`` is odd or below 4, ``em_phi_cells`` is not a multiple of ``had_factor``, or
        ``hadron_showers`` is neither ``"uniform"`` nor ``"parametrised"``.
    """

    abs_eta_max: float = 2.5
    em_eta_size: float = 0.025
    em_phi_cells: int = 256  # EM cell width pi / 128 in phi
    had_factor: int = 4  # a HAD cell is had_factor x had_factor EM cells
    window: int = 32  # EM cells per side of a lepton's window
    em_stochastic: float = 0.10
    em_constant: float = 0.01
    had_stochastic: float = 1.0
    had_constant: float = 0.05
    em_spread: float = 0.6  # Gaussian width of the lateral shower, in EM cells
    had_spread: float = 0.5  # in HAD cells
    hadron_em_max: float = 1.0  # f ~ uniform(0, 1): from a late shower (all HAD) to an early one (all EM)
    em_noise: float = 0.05  # GeV of E_T per cell
    had_noise: float = 0.2
    threshold_sigma: float = 3.0
    # pile-up: soft particles spread evenly over each lepton's window, E_T density (GeV per unit eta-phi area, about
    # 0.5 GeV per pile-up interaction: 25 at CMS's Run 2 average of ~50), each exponential in E_T with this mean
    pileup_density: float = 25.0
    pileup_mean_et: float = 0.5
    pileup_photon_fraction: float = 0.33  # the pi0 photons; the rest charged hadrons
    # hadron showers: "uniform" (the first lepton samples: an EM fraction uniform in [0, hadron_em_max], the EM
    # profile) or "parametrised" (below and in the module's description)
    hadron_showers: str = "uniform"
    ecal_interaction_lengths: float = 1.13  # CMS ECAL: 23 cm of PbWO4, lambda_I = 20.3 cm
    ecal_mip_gev: float = 0.23  # a minimum-ionising particle through 23 cm of PbWO4 (10.2 MeV/cm)
    em_fraction_e0: float = 1.0  # GeV; the mean pi0 fraction 1 - (E / e0)^exponent (Groom's parametrisation)
    em_fraction_exponent: float = -0.18
    em_fraction_spread: float = 0.15  # its event-to-event spread (a Beta distribution of that width)
    em_component_length: float = 0.3  # interaction lengths over which a shower's EM component deposits
    had_component_length: float = 1.5  # ... and its hadronic component
    hadron_em_spread: float = 1.5  # EM cells: the lateral width of the hadronic component in the EM layer

    def __post_init__(self):
        if self.window % 2 or self.window < 4:
            raise ValueError(f"the window must be an even number of EM cells >= 4, got {self.window}")
        if self.em_phi_cells % self.had_factor:
            raise ValueError("the EM phi cells must divide into HAD cells")
        if self.hadron_showers not in ("uniform", "parametrised"):
            raise ValueError(f"hadron_showers must be uniform or parametrised, got {self.hadron_showers!r}")

    @property
    def had_phi_cells(self) -> int:
        """HAD cells in phi."""
        return self.em_phi_cells // self.had_factor

    def eta_size(self, layer: int) -> float:
        """A cell's size in eta in ``layer`` (``EM`` or ``HAD``).

        Parameters
        ----------
        layer : int
            ``EM`` (0) or ``HAD`` (1).

        Returns
        -------
        float
            ``em_eta_size``, times ``had_factor`` in the HAD layer.
        """
        return self.em_eta_size * (self.had_factor if layer == HAD else 1)

    def phi_size(self, layer: int) -> float:
        """A cell's size in phi in ``layer`` (``EM`` or ``HAD``).

        Parameters
        ----------
        layer : int
            ``EM`` (0) or ``HAD`` (1).

        Returns
        -------
        float
            2 pi over the layer's number of cells in phi, in radians.
        """
        return 2 * np.pi / (self.had_phi_cells if layer == HAD else self.em_phi_cells)

    def cell_index(self, eta: np.ndarray, phi: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Global (ieta, iphi) of the cells at (eta, phi): ieta = floor(eta / size), iphi in [0, cells in phi).

        Parameters
        ----------
        eta : numpy.ndarray
            Pseudorapidities.
        phi : numpy.ndarray
            Azimuths in radians (any range: wrapped into [-pi, pi)).
        layer : int
            ``EM`` (0) or ``HAD`` (1).

        Returns
        -------
        ieta : numpy.ndarray
            The cells' eta indices, int64 (negative below eta = 0).
        iphi : numpy.ndarray
            The cells' phi indices, int64, counted from phi = -pi.
        """
        ieta = np.floor(np.asarray(eta) / self.eta_size(layer)).astype(np.int64)
        n_phi = self.had_phi_cells if layer == HAD else self.em_phi_cells
        iphi = np.floor((np.mod(np.asarray(phi) + np.pi, 2 * np.pi)) / self.phi_size(layer)).astype(np.int64) % n_phi
        return ieta, iphi

    def cell_centre(self, ieta: ArrayLike, iphi: ArrayLike, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """(eta, phi) of the centres of the cells (ieta, iphi) of ``layer`` (the inverse of ``cell_index``).

        Parameters
        ----------
        ieta : array_like
            The cells' global eta indices.
        iphi : array_like
            The cells' phi indices in [0, cells in phi).
        layer : int
            ``EM`` (0) or ``HAD`` (1).

        Returns
        -------
        eta : numpy.ndarray
            The centres' pseudorapidities.
        phi : numpy.ndarray
            The centres' azimuths in radians, in [-pi, pi).
        """
        eta = (np.asarray(ieta) + 0.5) * self.eta_size(layer)
        phi = -np.pi + (np.asarray(iphi) + 0.5) * self.phi_size(layer)
        return eta, phi

    def resolution(self, energy: ArrayLike, layer: int) -> np.ndarray:
        """The relative energy resolution sigma_E / E at ``energy`` (GeV) in ``layer``: a / sqrt(E) (+) c.

        Parameters
        ----------
        energy : array_like
            Energies in GeV (taken as at least 1e-6 GeV).
        layer : int
            ``EM`` (0) or ``HAD`` (1): whose stochastic and constant terms.

        Returns
        -------
        numpy.ndarray
            sigma_E / E at each energy.
        """
        a, c = (self.had_stochastic, self.had_constant) if layer == HAD else (self.em_stochastic, self.em_constant)
        return np.hypot(a / np.sqrt(np.maximum(energy, 1e-6)), c)


def species_fractions(pdg_id: np.ndarray, rng: np.random.Generator, model: CalorimeterModel) -> np.ndarray:
    """The fraction of each particle's E_T that goes into the EM layer (the rest into HAD).

    NaN for particles that deposit nothing (muons, neutrinos). One uniform draw per particle, whatever its species.
    The ``uniform`` hadron showers.

    Parameters
    ----------
    pdg_id : numpy.ndarray
        The particles' PDG ids, flat.
    rng : numpy.random.Generator
        The caller's random stream.
    model : CalorimeterModel
        The calorimeter (its ``hadron_em_max``).

    Returns
    -------
    numpy.ndarray
        Shape (particles,), float: 1 for electrons and photons, NaN for muons and neutrinos, uniform in
        [0, ``hadron_em_max``] for the rest (hadrons).
    """
    absid = np.abs(np.asarray(pdg_id))
    u = rng.random(len(absid))
    em_like = (absid == 11) | (absid == 22)
    silent = (absid == 13) | (absid == 12) | (absid == 14) | (absid == 16)
    return np.where(em_like, 1.0, np.where(silent, np.nan, u * model.hadron_em_max))


def pileup_particles(
    lepton_event: np.ndarray,
    lepton_eta: np.ndarray,
    lepton_phi: np.ndarray,
    rng: np.random.Generator,
    model: CalorimeterModel = CalorimeterModel(),
) -> dict[str, np.ndarray]:
    """Soft pile-up particles around each lepton, uniform over a box a little wider than its window.

    The box reaches ``window / 2 + 2`` EM cells either side of the lepton in eta and in phi; the number of particles
    in it is Poisson with the mean that ``pileup_density`` and ``pileup_mean_et`` give over its area.

    Parameters
    ----------
    lepton_event : numpy.ndarray
        Each lepton's event number in the batch.
    lepton_eta : numpy.ndarray
        Each lepton's pseudorapidity (where its window is centred).
    lepton_phi : numpy.ndarray
        Each lepton's azimuth in radians.
    rng : numpy.random.Generator
        The caller's random stream.
    model : CalorimeterModel, optional
        The calorimeter (its window and flat pile-up settings); default: ``CalorimeterModel()``.

    Returns
    -------
    dict of str to numpy.ndarray
        Flat arrays over the pile-up particles: ``"event"`` (their lepton's event), ``"eta"``, ``"phi"`` (in
        [-pi, pi)), ``"et"`` (GeV) and ``"pdg_id"`` (22 or 211).
    """
    half = (model.window // 2 + 2) * model.em_eta_size
    half_phi = (model.window // 2 + 2) * model.phi_size(EM)
    mean_count = model.pileup_density / model.pileup_mean_et * (2 * half) * (2 * half_phi)
    counts = rng.poisson(mean_count, len(lepton_event)) if mean_count > 0 else np.zeros(len(lepton_event), int)
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(lepton_event)), counts)
    eta = lepton_eta[owner] + rng.uniform(-half, half, total)
    phi = np.mod(lepton_phi[owner] + rng.uniform(-half_phi, half_phi, total) + np.pi, 2 * np.pi) - np.pi
    et = rng.exponential(model.pileup_mean_et, total)
    pdg_id = np.where(rng.random(total) < model.pileup_photon_fraction, 22, 211)
    return {"event": lepton_event[owner], "eta": eta, "phi": phi, "et": et, "pdg_id": pdg_id}


def hadron_shares(
    pdg_id: np.ndarray, charge: np.ndarray, energy: np.ndarray, rng: np.random.Generator, model: CalorimeterModel
) -> tuple[np.ndarray, np.ndarray]:
    """The parametrised hadron showers (``hadron_showers = "parametrised"``): each particle's shares of its E_T.

    Per particle the shares of its E_T in the EM layer as a narrow core (electromagnetic showers: electrons,
    photons; a hadron's pi0 component), in the EM layer as a wide halo (a hadron's hadronic component), and in the
    HAD layer (the rest, 1 - core - halo, which the caller takes). NaN for particles that deposit nothing. See the
    module's description for the model and its sources. Every random number is drawn for every particle, so the
    stream does not depend on the species.

    Parameters
    ----------
    pdg_id : numpy.ndarray
        The particles' PDG ids, flat.
    charge : numpy.ndarray
        Their charges: a charged hadron crossing the ECAL leaves the minimum-ionising ``ecal_mip_gev``.
    energy : numpy.ndarray
        Their energies in GeV (the caller's E_T cosh(eta)).
    rng : numpy.random.Generator
        The caller's random stream.
    model : CalorimeterModel
        The calorimeter (its ``parametrised`` settings).

    Returns
    -------
    core : numpy.ndarray
        The share of each particle's E_T in the EM layer's narrow core: 1 for electrons and photons, NaN for
        muons and neutrinos.
    halo : numpy.ndarray
        The share in the EM layer's wide halo: 0 for electrons and photons, NaN for muons and neutrinos.
    """
    absid = np.abs(np.asarray(pdg_id))
    n = len(absid)
    em_like = (absid == 11) | (absid == 22)
    silent = (absid == 13) | (absid == 12) | (absid == 14) | (absid == 16)
    # every draw for every particle: the stream does not depend on the species
    passes = rng.random(n) < np.exp(-model.ecal_interaction_lengths)
    depth = -np.log1p(-rng.random(n) * (1 - np.exp(-model.ecal_interaction_lengths)))  # Exp(1) within the ECAL
    mean = np.clip(
        1 - np.power(np.maximum(energy, model.em_fraction_e0) / model.em_fraction_e0, model.em_fraction_exponent),
        0.02,
        0.98,
    )
    concentration = np.maximum(mean * (1 - mean) / model.em_fraction_spread**2 - 1, 1.0)
    f_em = rng.beta(mean * concentration, (1 - mean) * concentration)
    left = model.ecal_interaction_lengths - depth  # interaction lengths of ECAL after the shower starts
    contained_em = 1 - np.exp(-left / model.em_component_length)
    contained_had = 1 - np.exp(-left / model.had_component_length)
    core = np.where(passes, 0.0, f_em * contained_em)
    halo = np.where(passes, 0.0, (1 - f_em) * contained_had)
    # a charged hadron crossing the ECAL leaves a minimum-ionising signal
    mip = np.where(
        passes & (np.asarray(charge) != 0), np.minimum(model.ecal_mip_gev / np.maximum(energy, 1e-9), 1.0), 0.0
    )
    core = np.where(em_like, 1.0, np.where(passes, mip, core))
    halo = np.where(em_like, 0.0, halo)
    core, halo = np.where(silent, np.nan, core), np.where(silent, np.nan, halo)
    return core, halo


def _spread(u: np.ndarray, width: float, reach: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets -reach..reach around floor(u) and the share of a Gaussian centred at u (in cell units) in each
    (renormalised over them): (particles, 2 reach + 1) each."""
    base = np.floor(u)
    steps = np.arange(-reach, reach + 2, dtype=np.float64)
    edges = base[:, None] + steps[None, :]
    cdf = ndtr((edges - u[:, None]) / width)
    share = np.diff(cdf, axis=1)
    share /= share.sum(1, keepdims=True)
    return base.astype(np.int64)[:, None] + np.arange(-reach, reach + 1)[None, :], share


def deposits(
    event: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    et: np.ndarray,
    pdg_id: np.ndarray,
    rng: np.random.Generator,
    model: CalorimeterModel = CalorimeterModel(),
    charge: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Smeared, laterally spread deposits of the particles, summed per cell.

    Particles outside ``abs_eta_max`` and those that deposit nothing (muons, neutrinos) are left out. Each layer's
    share of a particle's E_T is smeared once with the layer's resolution (clipped at zero) and shared over the
    cells around it by the lateral Gaussian.

    Parameters
    ----------
    event : numpy.ndarray
        Each particle's event number in the batch (flat arrays, one entry per particle).
    eta : numpy.ndarray
        The pseudorapidities where the particles hit the calorimeter.
    phi : numpy.ndarray
        The azimuths where they hit it, in radians.
    et : numpy.ndarray
        Their transverse energies, GeV.
    pdg_id : numpy.ndarray
        Their PDG ids.
    rng : numpy.random.Generator
        The caller's random stream.
    model : CalorimeterModel, optional
        The calorimeter; default: ``CalorimeterModel()``.
    charge : numpy.ndarray or None, optional
        Their charges, for the parametrised hadron showers' minimum-ionising signal; None: every particle taken as
        charged. Unused by the ``uniform`` showers.

    Returns
    -------
    dict of str to numpy.ndarray
        Flat arrays over the hit cells, ordered by (event, layer, ieta, iphi): ``"event"``, ``"layer"`` (``EM``
        or ``HAD``), ``"ieta"``, ``"iphi"`` (the cell's global indices) and ``"et"`` (its summed E_T, GeV).
    """
    event, eta, phi, et = (np.asarray(a) for a in (event, eta, phi, et))
    if model.hadron_showers == "uniform":
        em_fraction = species_fractions(pdg_id, rng, model)
        noise_em, noise_had = rng.standard_normal(len(et)), rng.standard_normal(len(et))  # drawn for every particle
        layers = [
            (EM, em_fraction, noise_em, model.em_spread, EM),
            (HAD, 1.0 - em_fraction, noise_had, model.had_spread, HAD),
        ]
    else:
        charge = np.ones(len(et)) if charge is None else np.asarray(charge)
        core, halo = hadron_shares(pdg_id, charge, et * np.cosh(np.where(np.isfinite(eta), eta, 0.0)), rng, model)
        noise = rng.standard_normal((3, len(et)))
        # (layer, share, its Gaussian draws, lateral width, resolution): a hadronic component measured in the EM
        # layer has the hadronic resolution (the EM layer is not compensating)
        layers = [
            (EM, core, noise[0], model.em_spread, EM),
            (EM, halo, noise[1], model.hadron_em_spread, HAD),
            (HAD, 1.0 - core - halo, noise[2], model.had_spread, HAD),
        ]
    inside = np.isfinite(layers[0][1]) & (np.abs(eta) < model.abs_eta_max)
    parts = []
    for layer, fraction, gauss, width, measured_as in layers:
        share_et = np.where(inside, et * np.nan_to_num(fraction), 0.0)
        energy = share_et * np.cosh(np.where(inside, eta, 0.0))
        resolution = model.resolution(energy, measured_as)
        smeared = np.maximum(share_et * (1.0 + resolution * gauss), 0.0)
        use = smeared > 0
        reach = max(1, int(np.ceil(1.5 * width)))  # cells either side: 1 for the narrow profiles, 3 for 1.5
        u_eta = eta[use] / model.eta_size(layer)
        u_phi = np.mod(phi[use] + np.pi, 2 * np.pi) / model.phi_size(layer)
        ieta, share_eta = _spread(u_eta, width, reach)
        iphi, share_phi = _spread(u_phi, width, reach)
        n_phi = model.had_phi_cells if layer == HAD else model.em_phi_cells
        cell_et = smeared[use][:, None, None] * share_eta[:, :, None] * share_phi[:, None, :]
        shape = cell_et.shape
        parts.append(
            {
                "event": np.broadcast_to(event[use][:, None, None], shape).ravel(),
                "layer": np.full(cell_et.size, layer, dtype=np.int64),
                "ieta": np.broadcast_to(ieta[:, :, None], shape).ravel(),
                "iphi": (np.broadcast_to(iphi[:, None, :], shape) % n_phi).ravel(),
                "et": cell_et.ravel(),
            }
        )
    hits = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _sum_per_cell(hits)


def _sum_per_cell(hits: dict) -> dict:
    if not len(hits["et"]):
        return {k: np.zeros(0, dtype=np.float64 if k == "et" else np.int64) for k in hits}
    # one int64 key per cell, ordered as (event, layer, ieta, iphi): 1-D unique is far faster than rows'
    ieta = hits["ieta"] - hits["ieta"].min()
    span_eta, span_phi = int(ieta.max()) + 1, int(hits["iphi"].max()) + 1
    key = ((hits["event"].astype(np.int64) * 2 + hits["layer"]) * span_eta + ieta) * span_phi + hits["iphi"]
    unique, inverse = np.unique(key, return_inverse=True)
    et = np.bincount(inverse.ravel(), weights=hits["et"], minlength=len(unique))
    iphi = unique % span_phi
    rest = unique // span_phi
    ieta_u = rest % span_eta + hits["ieta"].min()
    rest //= span_eta
    return {"event": rest // 2, "layer": rest % 2, "ieta": ieta_u, "iphi": iphi, "et": et}


def window_offsets(model: CalorimeterModel, layer: int) -> np.ndarray:
    """The cell offsets (in the layer's grid) of a window.

    Relative to the HAD cell holding the window's centre (HAD) or to the lepton's EM cell (EM).

    Parameters
    ----------
    model : CalorimeterModel
        The calorimeter (its ``window`` and ``had_factor``).
    layer : int
        ``EM`` (0) or ``HAD`` (1).

    Returns
    -------
    numpy.ndarray
        The offsets, int: ``-window / 2 .. window / 2 - 1`` in EM; in HAD ``-reach .. reach`` with
        ``reach = window / 2 // had_factor + 1`` (the HAD cells whose EM blocks can reach into the EM window).
    """
    half = model.window // 2
    if layer == EM:
        return np.arange(-half, half)
    reach = half // model.had_factor + 1  # HAD cells whose EM block can reach the EM window
    return np.arange(-reach, reach + 1)


def lepton_cells(
    cells: dict,
    lepton_event: np.ndarray,
    lepton_eta: np.ndarray,
    lepton_phi: np.ndarray,
    rng: np.random.Generator,
    model: CalorimeterModel = CalorimeterModel(),
) -> dict[str, np.ndarray]:
    """The cells of each lepton's window after noise and zero suppression.

    Every cell of each window (``window_offsets``) gets its layer's Gaussian noise; cells outside ``abs_eta_max``
    are zeroed, and cells not above ``threshold_sigma`` times the noise are dropped.

    Parameters
    ----------
    cells : dict
        The batch's summed deposits, as ``deposits`` returns them: flat ``"event"``, ``"layer"``, ``"ieta"``,
        ``"iphi"`` and ``"et"`` arrays.
    lepton_event : numpy.ndarray
        Each lepton's event number in the batch (the numbering of ``cells["event"]``).
    lepton_eta : numpy.ndarray
        Each lepton's pseudorapidity: its EM cell centres the window.
    lepton_phi : numpy.ndarray
        Each lepton's azimuth in radians.
    rng : numpy.random.Generator
        The caller's random stream (the noise).
    model : CalorimeterModel, optional
        The calorimeter; default: ``CalorimeterModel()``.

    Returns
    -------
    dict of str to numpy.ndarray
        Flat arrays over the kept cells, per lepton EM then HAD and hardest first: ``"lepton"`` (the position of
        the lepton in the given arrays), ``"layer"``, ``"ieta"``, ``"iphi"``, ``"eta"``, ``"phi"`` (the cell's
        centre) and ``"et"`` (GeV); and per lepton ``"lepton_ieta"`` and ``"lepton_iphi"``, the indices of its EM
        cell.
    """
    lep_ieta, lep_iphi = model.cell_index(lepton_eta, lepton_phi, EM)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("lepton", "layer", "ieta", "iphi", "et")}
    for layer in (EM, HAD):
        n_phi = model.had_phi_cells if layer == HAD else model.em_phi_cells
        offsets = window_offsets(model, layer)
        if layer == EM:
            centre_eta, centre_phi = lep_ieta, lep_iphi
        else:
            centre_eta, centre_phi = lep_ieta // model.had_factor, lep_iphi // model.had_factor
        n = len(offsets)
        grid = np.zeros((len(lepton_event), n, n))
        # the deposits of each lepton's event, placed into its window
        mine = cells["layer"] == layer
        c_event, c_ieta, c_iphi, c_et = (cells[k][mine] for k in ("event", "ieta", "iphi", "et"))
        order = np.argsort(c_event, kind="stable")
        c_event, c_ieta, c_iphi, c_et = c_event[order], c_ieta[order], c_iphi[order], c_et[order]
        start = np.searchsorted(c_event, lepton_event, "left")
        stop = np.searchsorted(c_event, lepton_event, "right")
        counts = stop - start
        which = np.repeat(np.arange(len(lepton_event)), counts)
        pick = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts - start, counts)  # each lepton's cells
        d_eta = c_ieta[pick] - centre_eta[which]
        d_phi = (c_iphi[pick] - centre_phi[which] + n_phi // 2) % n_phi - n_phi // 2
        row, col = d_eta - offsets[0], d_phi - offsets[0]
        ok = (row >= 0) & (row < n) & (col >= 0) & (col < n)
        np.add.at(grid, (which[ok], row[ok], col[ok]), c_et[pick][ok])
        noise = model.had_noise if layer == HAD else model.em_noise
        grid += rng.standard_normal(grid.shape) * noise
        # cells outside the calorimeter's eta range do not exist
        ieta_grid = centre_eta[:, None] + offsets[None, :]
        exists = np.abs(model.cell_centre(ieta_grid, 0, layer)[0]) < model.abs_eta_max
        grid *= exists[:, :, None]
        kept = grid > model.threshold_sigma * noise
        lep, r, c = np.nonzero(kept)
        out["lepton"].append(lep)
        out["layer"].append(np.full(len(lep), layer))
        out["ieta"].append(centre_eta[lep] + offsets[r])
        out["iphi"].append((centre_phi[lep] + offsets[c]) % n_phi)
        out["et"].append(grid[lep, r, c])
    flat = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((-flat["et"], flat["layer"], flat["lepton"]))  # per lepton: EM then HAD, hardest first
    flat = {k: v[order] for k, v in flat.items()}
    eta = np.empty(len(flat["et"]))
    phi = np.empty(len(flat["et"]))
    for layer in (EM, HAD):
        sel = flat["layer"] == layer
        eta[sel], phi[sel] = model.cell_centre(flat["ieta"][sel], flat["iphi"][sel], layer)
    return {**flat, "eta": eta, "phi": phi, "lepton_ieta": lep_ieta, "lepton_iphi": lep_iphi}
