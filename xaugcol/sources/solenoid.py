"""Where a particle meets the calorimeter in a solenoid field: CMS's 3.8 T along the beam, the electromagnetic
calorimeter's front face a cylinder of radius 1.29 m closed by end caps at |z| = 3.15 m.

A charged particle of transverse momentum p_T (GeV) and charge q (e) moves on a helix of radius rho = p_T / (0.3 |q|
B) metres (B in tesla). After an arc of transverse length s from its production point it lies at transverse distance
r = 2 rho |sin(s / 2 rho)| from it, at azimuth phi - q s / (2 rho) (the chord's direction, half the turning angle; B
along +z bends a positive particle clockwise), and at z = z_0 + s sinh(eta) (eta, the pseudorapidity of its
momentum, is constant in a solenoid). It reaches the barrel when 2 rho > R, after s = 2 rho asin(R / 2 rho), so its
azimuth there is phi - q asin(0.3 |q| B R / 2 p_T): below p_T = 0.3 B R / 2 = 0.735 GeV (|q| = 1) it curls inside
the barrel. A particle whose |z| passes the end cap's before it reaches the barrel meets the end cap instead, at the
radius and azimuth of its helix there, if it gets there within its first half turn; a particle that turns back
towards the beam first curls (in the detector it spirals through the tracker's material until it stops) and leaves
nothing. Neutral particles travel in straight lines. The position is given as the pseudorapidity and azimuth of the
impact point seen from the nominal interaction point (the hard vertex, z = 0), so a pile-up vertex at z_0 = 5 cm
shifts its particles' impact by about 0.04 in eta at the barrel.

Simplifications (settings of ``Solenoid``): one surface for both calorimeter layers (the hadronic one starts at
1.77 m in CMS: its deposits sit at the electromagnetic face's position), the field uniform up to it, no energy
lost on the way, the production point's transverse offset neglected (a few mm for a B decay).
``Solenoid(field_tesla=0)`` is the field-free detector: every particle hits at its own (eta, phi).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

GEV_PER_TESLA_METRE = 0.299792458  # p_T = 0.3 B rho: GeV per (tesla metre) for a unit charge


class Solenoid(BaseModel):
    """The field and the calorimeter surface particles are propagated to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    field_tesla: float = Field(3.8, ge=0, le=20)
    radius_m: float = Field(1.29, gt=0, le=10)  # CMS ECAL barrel front face
    endcap_z_m: float = Field(3.15, gt=0, le=20)  # CMS ECAL end-cap front face

    def curl_pt(self, charge: float = 1.0) -> float:
        """The p_T (GeV) below which a particle of this charge never reaches the barrel.

        Parameters
        ----------
        charge : float, default 1.0
            The particle's charge, in units of e.

        Returns
        -------
        float
            0.3 |q| B R / 2, GeV (0 without field).
        """
        return GEV_PER_TESLA_METRE * abs(charge) * self.field_tesla * self.radius_m / 2

    def bend(self, charge: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """The azimuth change at the barrel, -sign(q) asin(0.3 |q| B R / 2 p_T) (NaN where the particle curls).

        Parameters
        ----------
        charge : numpy.ndarray
            The particles' charges, in units of e.
        pt : numpy.ndarray
            Their transverse momenta, GeV.

        Returns
        -------
        numpy.ndarray
            The change of azimuth (radians) between the production point and the barrel; 0 for neutral particles,
            NaN for those that curl before the barrel.
        """
        charge, pt = np.asarray(charge, dtype=np.float64), np.asarray(pt, dtype=np.float64)
        x = GEV_PER_TESLA_METRE * np.abs(charge) * self.field_tesla * self.radius_m / (2 * pt)
        with np.errstate(invalid="ignore"):
            return np.where(x <= 1, -np.sign(charge) * np.arcsin(np.minimum(x, 1.0)), np.nan)


def calorimeter_impact(
    charge: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, z0_m: np.ndarray, solenoid: Solenoid
) -> tuple[np.ndarray, np.ndarray]:
    """(eta, phi) of each particle's impact on the calorimeter surface, seen from the origin.

    Flat arrays in, flat arrays out; a particle that never reaches the surface gets an infinite eta. The module
    docstring describes the propagation.

    Parameters
    ----------
    charge : numpy.ndarray
        The particles' charges, in units of e.
    pt : numpy.ndarray
        Their transverse momenta, GeV.
    eta : numpy.ndarray
        Their momenta's pseudorapidities.
    phi : numpy.ndarray
        Their momenta's azimuths, radians.
    z0_m : numpy.ndarray or float
        The production point's z in metres (scalar or per particle).
    solenoid : Solenoid
        The field and the calorimeter surface.

    Returns
    -------
    eta : numpy.ndarray
        The impact points' pseudorapidities seen from the origin; inf for a particle that never arrives.
    phi : numpy.ndarray
        The impact points' azimuths, radians, in [-pi, pi).
    """
    charge, pt, eta, phi = (np.asarray(a, dtype=np.float64) for a in (charge, pt, eta, phi))
    z0 = np.broadcast_to(np.asarray(z0_m, dtype=np.float64), pt.shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf x 0 where a particle has no helix or no end cap
        return _impact(charge, pt, eta, phi, z0, solenoid)


def _impact(charge, pt, eta, phi, z0, solenoid):
    radius, z_end = solenoid.radius_m, solenoid.endcap_z_m
    sinh = np.sinh(eta)
    charged = (charge != 0) & (solenoid.field_tesla > 0)
    # helix radius (m); infinite for neutral particles and without field
    unit = GEV_PER_TESLA_METRE * np.where(charged, np.abs(charge), 1.0) * max(solenoid.field_tesla, 1e-300)
    rho = np.where(charged, pt / unit, np.inf)
    reaches_barrel = 2 * rho > radius
    # transverse arc length to the barrel (straight: R); inf for a curling particle
    helix = 2 * rho * np.arcsin(np.minimum(radius / (2 * rho), 1.0))
    s_barrel = np.where(reaches_barrel, np.where(np.isfinite(rho), helix, radius), np.inf)
    # transverse arc length to the end cap the particle heads for (inf for eta = 0)
    s_end = np.where(sinh != 0, (np.sign(sinh) * z_end - z0) / sinh, np.inf)
    barrel = s_barrel <= s_end
    s = np.where(barrel, s_barrel, s_end)
    # a particle that turns back towards the beam (past half a turn, s > pi rho) before reaching a surface curls:
    # it spirals through the tracker's material until it stops, and leaves nothing in the calorimeter
    arrives = np.isfinite(s) & (s <= np.pi * rho)
    s = np.where(arrives, s, 0.0)
    turn = np.where(np.isfinite(rho), s / (2 * rho), 0.0)  # half the turning angle
    r = np.where(np.isfinite(rho), 2 * rho * np.abs(np.sin(turn)), s)
    z = np.where(barrel, z0 + s_barrel * sinh, np.sign(sinh) * z_end)
    eta_impact = np.where(arrives, np.arcsinh(np.where(r > 0, z / r, np.sign(z) * np.inf)), np.inf)
    phi_impact = np.mod(phi - np.sign(charge) * np.where(charged, turn, 0.0) + np.pi, 2 * np.pi) - np.pi
    return eta_impact, phi_impact
