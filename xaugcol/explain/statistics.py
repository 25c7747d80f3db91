"""Relevance statistics per input feature (the seed's mean normalised relevance).

Seed definition: per jet, divide every relevance by the largest absolute one (over all of the jet's inputs); per
input feature sum the absolute normalised relevance (over pixels for an image, over particles for each particle
feature, one value per XAUG variable); average over jets. Jets whose relevance is zero everywhere have nothing to
normalise: they are left out and counted, not turned into NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from xaugcol.features.particles import FEATURES as PARTICLE_FEATURES


def feature_names(inputs: tuple[str, ...], xaug_columns: tuple[str, ...] = ()) -> list[str]:
    """Names of the features relevance is summed into, for a tagger taking ``inputs`` (forward order)."""
    names: list[str] = []
    for name in inputs:
        if name == "image":
            names.append("image")
        elif name == "particles":
            names += [f"particle:{f}" for f in PARTICLE_FEATURES]
        elif name == "xaug":
            names += list(xaug_columns)
        else:
            raise ValueError(f"unknown tagger input {name!r} (expected image, particles, xaug)")
    return names


@dataclass
class FeatureRelevance:
    names: list[str]
    values: np.ndarray  # (jets kept, features): absolute normalised relevance per feature
    kept: np.ndarray  # (jets,) bool: the jet had some non-zero relevance
    n_zero: int  # jets left out because all their relevance was zero


def normalise_per_jet(relevance: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per jet, every relevance divided by the jet's largest absolute relevance over all inputs (so |R| <= 1).
    Returns (input name -> normalised relevance of the kept jets, kept mask); jets with zero relevance everywhere
    are not kept. Refuses NaN / inf with the input's name and the number of jets."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in relevance.items()}
    if not arrays:
        raise ValueError("no relevance given")
    n = len(next(iter(arrays.values())))
    for name, r in arrays.items():
        if len(r) != n:
            raise ValueError(f"relevance of {name!r} has {len(r)} jets, expected {n}")
        if not np.isfinite(r).all():
            raise ValueError(f"relevance of {name!r} has NaN or inf in {int((~np.isfinite(r.reshape(n, -1)).all(1)).sum())} "
                             f"jet(s)")
    scale = np.max([np.abs(r.reshape(n, -1)).max(axis=1, initial=0.0) for r in arrays.values()], axis=0)
    kept = scale > 0
    normalised = {name: r[kept] / scale[kept].reshape((-1,) + (1,) * (r.ndim - 1)) for name, r in arrays.items()}
    return normalised, kept


def feature_sums(normalised: Mapping[str, np.ndarray]) -> np.ndarray:
    """(jets, features): the absolute normalised relevance summed per feature (pixels -> one "image" value,
    particles -> one value per particle feature, one value per XAUG variable), in ``feature_names`` order."""
    columns = []
    for name, r in normalised.items():
        a = np.abs(r)
        if name == "image":
            columns.append(a.reshape(len(a), -1).sum(1, keepdims=True))
        elif name == "particles":
            columns.append(a.sum(axis=1))
        elif name == "xaug":
            columns.append(a)
        else:
            raise ValueError(f"unknown tagger input {name!r} (expected image, particles, xaug)")
    return np.concatenate(columns, axis=1)


def normalised_feature_relevance(relevance: Mapping[str, np.ndarray],
                                 xaug_columns: tuple[str, ...] = ()) -> FeatureRelevance:
    """``relevance``: input name -> array of the input's shape (image (n, 1, p, p) or (n, p, p), particles
    (n, particles, features), xaug (n, variables)), in forward order."""
    normalised, kept = normalise_per_jet(relevance)
    names = feature_names(tuple(normalised), xaug_columns)
    values = feature_sums(normalised)
    if values.shape[1] != len(names):
        raise ValueError(f"relevance has {values.shape[1]} features, the names {len(names)}: check xaug_columns "
                         f"and the particle feature list")
    return FeatureRelevance(names, values, kept, int((~kept).sum()))
