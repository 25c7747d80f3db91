"""Relevance statistics per input feature (Agarwal, Rappoccio et al.'s (arXiv:2011.13466) mean normalised relevance).

The definition (Agarwal, Rappoccio et al.): per jet, divide every relevance by the largest absolute one (over all of the
jet's inputs); per input feature sum the absolute normalised relevance (how, each input kind says: over pixels for an
image, over particles for each particle feature, one value per XAUG variable); average over jets. Jets whose relevance
is zero everywhere have nothing to normalise: they are left out and counted, not turned into NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xaugcol.features.kinds import InputKind, kind_class
from xaugcol.features.kinds.xaug import XAUGInput


def as_kinds(inputs: Sequence, xaug_columns: tuple[str, ...] = ()) -> tuple[InputKind, ...]:
    """Input kinds from kind objects, or from kind names (default settings; ``xaug_columns`` for "xaug").

    Parameters
    ----------
    inputs : sequence of InputKind or str
        The tagger's inputs in forward order: kind objects are kept as they are, a name is made into the registered
        kind with its default settings.
    xaug_columns : tuple of str, optional
        The XAUG variables of an ``"xaug"`` kind given by name; default: none.

    Returns
    -------
    tuple of InputKind
        One kind per entry of ``inputs``, in the same order.
    """
    out = []
    for item in inputs:
        if isinstance(item, InputKind):
            out.append(item)
        elif item == XAUGInput.name:
            out.append(XAUGInput(tuple(xaug_columns)))
        else:
            out.append(kind_class(item)())
    return tuple(out)


def feature_names(kinds: Sequence, xaug_columns: tuple[str, ...] = ()) -> list[str]:
    """Names of the features relevance is summed into, for a tagger taking ``kinds`` (forward order).

    Parameters
    ----------
    kinds : sequence of InputKind or str
        The tagger's input kinds, or their names (``as_kinds``).
    xaug_columns : tuple of str, optional
        The XAUG variables of an ``"xaug"`` kind given by name; default: none.

    Returns
    -------
    list of str
        Every kind's ``feature_names``, concatenated in forward order (the columns of ``feature_sums``).
    """
    return [f for kind in as_kinds(kinds, xaug_columns) for f in kind.feature_names()]


@dataclass
class FeatureRelevance:
    """Per jet and feature, the absolute normalised relevance, over the jets with some relevance.

    Parameters
    ----------
    names : list of str
        The features, in the order of the columns of ``values`` (``feature_names``).
    values : numpy.ndarray
        Shape (jets kept, features): the absolute normalised relevance summed per feature.
    kept : numpy.ndarray
        Shape (jets,), bool: the jet had some non-zero relevance (its row is in ``values``).
    n_zero : int
        The number of jets left out because all their relevance was zero.
    """

    names: list[str]
    values: np.ndarray  # (jets kept, features): absolute normalised relevance per feature
    kept: np.ndarray  # (jets,) bool: the jet had some non-zero relevance
    n_zero: int  # jets left out because all their relevance was zero


def normalise_per_jet(relevance: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per jet, every relevance divided by the jet's largest absolute relevance over all inputs (so |R| <= 1).

    Jets with zero relevance everywhere are not kept. The largest |R| is found in the input precision, the division
    is done in float64.

    Parameters
    ----------
    relevance : mapping of str to numpy.ndarray
        Input name -> relevance of the input, shape (jets, ...) like the input tensor; the same jets in every entry.

    Returns
    -------
    normalised : dict of str to numpy.ndarray
        Input name -> normalised relevance of the kept jets, shape (jets kept, ...).
    kept : numpy.ndarray
        Shape (jets,), bool: the jet has some non-zero relevance.

    Raises
    ------
    ValueError
        Without any relevance, when the inputs differ in their number of jets, or on NaN / inf (naming the input
        and the number of jets).
    """
    arrays = {k: np.asarray(v) for k, v in relevance.items()}
    if not arrays:
        raise ValueError("no relevance given")
    n = len(next(iter(arrays.values())))
    for name, r in arrays.items():
        if len(r) != n:
            raise ValueError(f"relevance of {name!r} has {len(r)} jets, expected {n}")
        finite = np.isfinite(r.reshape(n, -1)).all(1)
        if not finite.all():
            raise ValueError(f"relevance of {name!r} has NaN or inf in {int((~finite).sum())} jet(s)")
    # the largest |R| per jet, exact in the input precision; the division is done in float64
    scale = np.max(
        [np.abs(r.reshape(n, -1)).max(axis=1, initial=0).astype(np.float64) for r in arrays.values()], axis=0
    )
    kept = scale > 0
    normalised = {name: r[kept] / scale[kept].reshape((-1,) + (1,) * (r.ndim - 1)) for name, r in arrays.items()}
    return normalised, kept


def feature_sums(normalised: Mapping[str, np.ndarray], kinds: Sequence[InputKind], signed: bool = False) -> np.ndarray:
    """(jets, features): the absolute (``signed``: the signed) normalised relevance summed per feature.

    Each kind sums its own way (``InputKind.feature_sums``: over pixels for an image, over particles for each
    particle feature, one value per XAUG variable), in ``feature_names`` order.

    Parameters
    ----------
    normalised : mapping of str to numpy.ndarray
        Input name -> relevance shaped like the input tensor (normalised per jet), in forward order.
    kinds : sequence of InputKind
        The tagger's input kinds; each entry of ``normalised`` is summed by the kind of its name.
    signed : bool, default False
        Sum the signed relevance instead of its absolute value.

    Returns
    -------
    numpy.ndarray
        Shape (jets, features): the per-feature sums, the kinds' columns concatenated.
    """
    by_name = {k.name: k for k in kinds}
    return np.concatenate([by_name[name].feature_sums(r, signed) for name, r in normalised.items()], axis=1)


def score_shares(
    relevance: Mapping[str, np.ndarray], output: np.ndarray, kinds: Sequence[InputKind]
) -> tuple[np.ndarray, np.ndarray]:
    """Agarwal, Rappoccio et al.'s (arXiv:2011.13466) relevance normalised by the output score, as (jets, features)
    numerators and (jets,) weights: per jet and feature, the signed relevance summed over the feature's slots times the
    sign of the jet's output (the logit the explanation starts from), and |output|. Summed over the jets of a class and
    divided, they give each feature's share of the score: the per-jet share R_f / output averaged with weight |output|,
    so a jet on the decision boundary (output near 0, where the share is undefined) weighs nothing instead of an
    arbitrarily large share. A share of 0.3: the feature carries 30 % of the decision, in its direction; for a
    conserving rule the shares and the absorbed part add up to 1.

    Parameters
    ----------
    relevance : mapping of str to numpy.ndarray
        Input name -> signed relevance shaped like the input tensor (not normalised), in forward order.
    output : numpy.ndarray
        Shape (jets,): the output (logit) each jet's explanation starts from.
    kinds : sequence of InputKind
        The tagger's input kinds (``feature_sums``).

    Returns
    -------
    numerators : numpy.ndarray
        Shape (jets, features), float64: the signed relevance per feature times the sign of the output.
    weights : numpy.ndarray
        Shape (jets,), float64: |output|.
    """
    output = np.asarray(output, dtype=np.float64)
    signed = feature_sums({k: np.asarray(r, dtype=np.float64) for k, r in relevance.items()}, kinds, signed=True)
    return signed * np.sign(output)[:, None], np.abs(output)


def normalised_feature_relevance(
    relevance: Mapping[str, np.ndarray], kinds: Sequence = (), xaug_columns: tuple[str, ...] = ()
) -> FeatureRelevance:
    """The absolute normalised relevance per jet and feature (the module's definition, before the average).

    Parameters
    ----------
    relevance : mapping of str to numpy.ndarray
        Input name -> array of the input's shape (image (n, 1, p, p) or (n, p, p), particles (n, particles,
        features), xaug (n, variables)), in forward order.
    kinds : sequence of InputKind or str, optional
        The tagger's input kinds, or the XAUG column names (then kinds with default settings are made from the
        input names); default: kinds made from the input names.
    xaug_columns : tuple of str, optional
        The XAUG variables, where ``kinds`` does not give them.

    Returns
    -------
    FeatureRelevance
        The names, the values of the kept jets, the kept mask and the number of all-zero jets.

    Raises
    ------
    ValueError
        When the summed relevance and the feature names differ in number (wrong XAUG columns or particle features),
        or as ``normalise_per_jet``.
    """
    if kinds and all(isinstance(k, str) for k in kinds):
        kinds, xaug_columns = (), tuple(kinds)
    kinds = as_kinds(tuple(kinds) or tuple(relevance), xaug_columns)
    normalised, kept = normalise_per_jet(relevance)
    names = feature_names(kinds)
    values = feature_sums(normalised, kinds)
    if values.shape[1] != len(names):
        raise ValueError(
            f"relevance has {values.shape[1]} features, the names {len(names)}: check the XAUG columns "
            f"and the particle feature list"
        )
    return FeatureRelevance(names, values, kept, int((~kept).sum()))
