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


def normalised_feature_relevance(relevance: Mapping[str, np.ndarray],
                                 xaug_columns: tuple[str, ...] = ()) -> FeatureRelevance:
    """``relevance``: input name -> array of the input's shape (image (n, 1, p, p) or (n, p, p), particles
    (n, particles, features), xaug (n, variables)), in forward order."""
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
    scale = np.max([np.abs(r.reshape(n, -1)).max(axis=1) for r in arrays.values()], axis=0)
    kept = scale > 0
    columns = []
    for name, r in arrays.items():
        a = np.abs(r[kept]) / scale[kept].reshape((-1,) + (1,) * (r.ndim - 1))
        if name == "image":
            columns.append(a.reshape(len(a), -1).sum(1, keepdims=True))
        elif name == "particles":
            columns.append(a.sum(axis=1))
        elif name == "xaug":
            columns.append(a)
        else:
            raise ValueError(f"unknown tagger input {name!r} (expected image, particles, xaug)")
    names = feature_names(tuple(arrays), xaug_columns)
    values = np.concatenate(columns, axis=1)
    if values.shape[1] != len(names):
        raise ValueError(f"relevance has {values.shape[1]} features, the names {len(names)}: check xaug_columns "
                         f"and the particle feature list")
    return FeatureRelevance(names, values, kept, int((~kept).sum()))
