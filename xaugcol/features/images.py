"""Jet images, preprocessed as in Agarwal, Rappoccio et al. (arXiv:2011.13466): "rotation and scaling so that the
lower-pT subjet is always at (0,-1), normalise inputs w.r.t. jet pT, parity flip".

For each jet, in the (eta, phi) plane:
1. centre on the harder softdrop prong (sj1);
2. rotate and scale so that the softer prong (sj2) lands at (0, -1): lengths are in units of the prong distance;
3. flip left-right so that the half with more pT lies at x > 0 (parity normalisation);
4. pixel intensity = summed constituent pT / jet pT, on an ``n_pixels`` x ``n_pixels`` grid covering
   [-extent, extent] in both directions (default 37 pixels, at most 256, extent 2.5 prong distances).
Jets that SoftDrop leaves with one prong (or one constituent) have no second prong: they are centred on the groomed
jet axis, not rotated, and scaled by ``fallback_scale`` in (eta, phi) units (default 0.4 = R/2), and flagged by
``sd_two_prong`` = 0 in the jet table. Constituents outside the grid are not drawn; ``image_pt_fraction`` tells
how much of the jet pT the image holds.

Rows are image rows top to bottom (y from +extent to -extent), columns left to right (x from -extent to +extent).
"""

from __future__ import annotations

import awkward as ak
import numpy as np
from pydantic import field_validator

from xaugcol.config_models import ConfigModel, PositiveInt, PositiveNumber, integer_in
from xaugcol.features.packed import PackedArray
from xaugcol.features.particles import per_jet, wrap_phi
from xaugcol.limits import MAX_IMAGE_PIXELS


class ImageConfig(ConfigModel):
    """``n_pixels`` per side, 3..256 (``xaugcol.limits.MAX_IMAGE_PIXELS``: 256 kB per jet in float32; at the default
    extent a pixel then spans 0.02 prong distances, 0.002 to 0.016 in (eta, phi) for prongs 0.1 to 0.8 apart,
    finer than a CMS ECAL crystal, 0.0174)."""

    n_pixels: PositiveInt = 37  # pixels per side
    extent: PositiveNumber = 2.5  # the image covers [-extent, extent] prong distances in x and y
    fallback_scale: PositiveNumber = 0.4  # a one-prong jet's length unit, in (eta, phi)

    @field_validator("n_pixels", mode="before")
    @classmethod
    def _pixels(cls, n_pixels):
        return integer_in(n_pixels, 3, MAX_IMAGE_PIXELS)


def image_coordinates(
    constituents: ak.Array, subjets: dict, config: ImageConfig = ImageConfig()
) -> tuple[ak.Array, ak.Array]:
    """Per constituent (x, y) after centring, rotation, scaling and the parity flip (jagged, jets x particles).

    Parameters
    ----------
    constituents : awkward.Array
        Shape (jets, particles), jagged, records with ``pt`` (GeV), ``eta``, ``phi`` (radians).
    subjets : dict of str to numpy.ndarray
        Per-jet arrays, shape (jets,), of the substructure (``xaugcol.jets.substructure.compute``): ``sd_two_prong``
        (> 0 for a jet with two softdrop prongs), ``sj1_eta``, ``sj1_phi``, ``sj2_eta``, ``sj2_phi`` (the prongs) and
        ``sd_eta``, ``sd_phi`` (the groomed jet axis, the centre of a one-prong jet).
    config : ImageConfig, optional
        ``fallback_scale`` is the length unit of one-prong jets; the default settings otherwise.

    Returns
    -------
    x : awkward.Array
        Shape (jets, particles): each constituent's x, in prong distances (``fallback_scale`` units for a one-prong
        jet), flipped so that the half with more pT lies at x > 0.
    y : awkward.Array
        Shape (jets, particles): each constituent's y; the softer prong lies at (0, -1).
    """
    two = subjets["sd_two_prong"] > 0
    eta0 = np.where(two, subjets["sj1_eta"], subjets["sd_eta"])
    phi0 = np.where(two, subjets["sj1_phi"], subjets["sd_phi"])
    # direction and length of sj1 -> sj2; fallback: no rotation ("down" = -y), fixed scale
    d_eta = np.where(two, subjets["sj2_eta"] - eta0, 0.0)
    d_phi = np.where(two, wrap_phi(subjets["sj2_phi"] - phi0), -config.fallback_scale)
    length = np.hypot(d_eta, d_phi)
    length = np.where(length > 0, length, config.fallback_scale)
    # unit vectors: v points from sj1 to sj2 (becomes -y), u is perpendicular (becomes +x)
    v_eta, v_phi = d_eta / length, d_phi / length
    u_eta, u_phi = -v_phi, v_eta
    a = constituents.eta - per_jet(eta0)
    b = wrap_phi(constituents.phi - per_jet(phi0))
    x = (a * per_jet(u_eta) + b * per_jet(u_phi)) / per_jet(length)
    y = -(a * per_jet(v_eta) + b * per_jet(v_phi)) / per_jet(length)
    # parity: more pT on the right
    pt = constituents.pt
    right = ak.to_numpy(ak.sum(pt * (x > 0), axis=1))
    left = ak.to_numpy(ak.sum(pt * (x < 0), axis=1))
    sign = np.where(left > right, -1.0, 1.0)
    return x * per_jet(sign), y


def jet_images(
    constituents: ak.Array, jet_pt: np.ndarray, subjets: dict, config: ImageConfig = ImageConfig()
) -> tuple[PackedArray, np.ndarray]:
    """(jets, n_pixels, n_pixels) float32 images, packed as their lit pixels, and the jet pT fraction inside each.

    The images are packed as their lit pixels (``xaugcol.features.packed``; ``np.asarray`` gives the images).

    Parameters
    ----------
    constituents : awkward.Array
        Shape (jets, particles), jagged, records with ``pt`` (GeV), ``eta``, ``phi`` (radians).
    jet_pt : numpy.ndarray
        Shape (jets,): each jet's pT (GeV), which normalises its pixels (a jet pT <= 0 is taken as 1).
    subjets : dict of str to numpy.ndarray
        Per-jet substructure arrays, as for ``image_coordinates``.
    config : ImageConfig, optional
        The image size (``n_pixels``), its ``extent`` and the one-prong ``fallback_scale``.

    Returns
    -------
    images : PackedArray
        The (jets, n_pixels, n_pixels) float32 images in the sparse layout: each pixel holds the summed constituent
        pT / jet pT; rows top to bottom, columns left to right.
    fraction : numpy.ndarray
        Shape (jets,), float64: the fraction of the jet pT that the constituents inside the image carry.
    """
    x, y = image_coordinates(constituents, subjets, config)
    n, npix = len(jet_pt), config.n_pixels
    width = 2 * config.extent / npix
    col = np.floor((ak.to_numpy(ak.flatten(x)) + config.extent) / width).astype(np.int64)
    row = np.floor((config.extent - ak.to_numpy(ak.flatten(y))) / width).astype(np.int64)
    counts = ak.to_numpy(ak.num(constituents.pt, axis=1))
    jet_of = np.repeat(np.arange(n), counts)
    inside = (col >= 0) & (col < npix) & (row >= 0) & (row < npix)
    pt_rel = ak.to_numpy(ak.flatten(constituents.pt)) / np.where(jet_pt > 0, jet_pt, 1.0)[jet_of]
    flat_pixel = ((jet_of * npix + row) * npix + col)[inside]
    # sum per lit pixel only: sorted, so jet after jet (a dense image costs 5.5 kB a jet for a few dozen pixels)
    pixels, slot = np.unique(flat_pixel, return_inverse=True)
    values = np.bincount(slot, weights=pt_rel[inside]).astype(np.float32)
    owner = pixels // (npix * npix)
    images = PackedArray.sparse(pixels - owner * npix * npix, values, np.bincount(owner, minlength=n), (npix, npix))
    fraction = np.bincount(jet_of[inside], weights=pt_rel[inside], minlength=n)
    return images, fraction
