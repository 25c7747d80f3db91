"""Feature occlusion, Roy and Neubauer's (ICHEP 2022) way of asking a tagger what it needs: mask one input feature in
every jet (all tracks or all vertices for a track or vertex feature, one particle feature, one XAUG variable, an image
block) by setting it to zero after scaling, and record how much the tagger loses:

    dAUC = (AUC_0 - AUC) x 100    (Roy and Neubauer's (ICHEP 2022) unit: a dAUC of 0.01 is a loss of 0.0001 in AUC)

and the same for the area under the precision-recall curve (average precision). What a group is, each input kind
says (``InputKind.occlusion_groups`` / ``occlusion_mask``).

* Single-feature occlusion is per-jet work: the relevance processor evaluates every member once per group on its
  chunk and returns the logits (``record``); ``table`` ranks the groups by dAUC (mean and spread over the
  members), from exact AUCs.
* Multi-feature masking (``masking_thresholds``) drops, at each of Roy and Neubauer's (ICHEP 2022) thresholds (dAUC
  below 0.001, 0.005, 0.01, 0.05 and 1), every group whose mean dAUC lies below it, all together, and records how many
  groups of each kind that drops and the AUC left: a second pass over the explained jets, once the single-feature table
  is known.

The cost is one forward pass per group and member (about 45 for the Interaction Network on tracks, vertices and
XAUG variables); ``fraction`` follows a hash-chosen share of the jets.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xaugcol.explain.faithfulness import batch_logits, member_summary

if TYPE_CHECKING:
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.features.kinds import InputKind

NONE = "(none)"  # the group axis entry of the jets as they are
THRESHOLDS = (
    0.001,
    0.005,
    0.01,
    0.05,
    1.0,
)  # Roy and Neubauer's (ICHEP 2022) thresholds, in dAUC units (percent of AUC)


def groups_of(kinds: Iterable[InputKind]) -> list[str]:
    """Every occlusion group of a tagger's inputs, in forward order (names are unique across kinds).

    Parameters
    ----------
    kinds : iterable of InputKind
        The tagger's input kinds, in forward order.

    Returns
    -------
    list of str
        Every kind's ``occlusion_groups``, concatenated.

    Raises
    ------
    ValueError
        A group name appears in more than one kind.
    """
    names = [g for kind in kinds for g in kind.occlusion_groups()]
    if len(set(names)) != len(names):
        raise ValueError(f"occlusion groups are not unique across the input kinds: {names}")
    return names


def kind_of(kinds: Iterable[InputKind], group: str) -> str:
    """The name of the input kind (of ``kinds``) the occlusion ``group`` belongs to.

    Parameters
    ----------
    kinds : iterable of InputKind
        The tagger's input kinds.
    group : str
        An occlusion group of one of them.

    Returns
    -------
    str
        The kind's ``name`` (``StopIteration`` when no kind has the group).
    """
    return next(kind.name for kind in kinds if group in kind.occlusion_groups())


def occluded(
    kinds: Iterable[InputKind], inputs: tuple[torch.Tensor, ...], masked: Iterable[str]
) -> tuple[torch.Tensor, ...]:
    """The inputs with every group in ``masked`` set to zero (one tensor per kind, forward order).

    Parameters
    ----------
    kinds : iterable of InputKind
        The tagger's input kinds, in forward order.
    inputs : tuple of torch.Tensor
        One (scaled) batch tensor per kind, in the same order.
    masked : iterable of str
        The occlusion groups to mask (any kind's; none: the inputs as they are).

    Returns
    -------
    tuple of torch.Tensor
        The inputs, each kind's masked values multiplied by zero (a tensor without masked groups is the same
        object).
    """
    masked = set(masked)
    out = []
    for kind, x in zip(kinds, inputs):
        mine = masked.intersection(kind.occlusion_groups())
        if mine:
            keep = torch.from_numpy(~kind.occlusion_mask(mine)).to(device=x.device)
            x = x * keep.to(x.dtype)
        out.append(x)
    return tuple(out)


def occlusion_logits(
    model: torch.nn.Module,
    kinds: Iterable[InputKind],
    inputs: tuple[torch.Tensor, ...],
    batch_size: int = 512,
    groups: Iterable[str] | None = None,
    unmasked: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """{group: (jets,) logits with that group masked}, and ``NONE``: the jets as they are.

    Parameters
    ----------
    model : torch.nn.Module
        The member's tagger.
    kinds : iterable of InputKind
        The tagger's input kinds, in forward order.
    inputs : tuple of torch.Tensor
        One (scaled) batch tensor per kind, in the same order.
    batch_size : int, default 512
        Jets per forward pass.
    groups : iterable of str, optional
        The groups occluded, one at a time; default: all (``groups_of``).
    unmasked : numpy.ndarray, optional
        Shape (jets,): the logits of the jets as they are, when the caller has them already; default: computed.

    Returns
    -------
    dict of str to numpy.ndarray
        ``NONE`` first, then each group: shape (jets,) float64 logits.
    """
    groups = groups_of(kinds) if groups is None else list(groups)
    out = {NONE: batch_logits(model, inputs, batch_size) if unmasked is None else unmasked}
    for g in groups:
        out[g] = batch_logits(model, occluded(kinds, inputs, {g}), batch_size)
    return out


def record(member: int, labels: np.ndarray, logits: dict[str, np.ndarray], kinds: Iterable[InputKind]) -> dict:
    """One chunk's occlusion of one member, as the relevance processor returns it: the jets' labels and a
    (1 + groups, jets) array of logits, the jets as they are first, then each group (``groups_of`` order).
    Per-jet logits, not histograms: Roy and Neubauer's (ICHEP 2022) thresholds resolve AUC changes of 1e-5, finer than
    any binning of the logit that would keep a chunk's output small, and lists of records merge by concatenation.

    Parameters
    ----------
    member : int
        The member's seed.
    labels : numpy.ndarray
        Shape (jets,): the jets' true classes (-1: no truth).
    logits : dict of str to numpy.ndarray
        ``occlusion_logits`` of the member on these jets (``NONE`` and every group).
    kinds : iterable of InputKind
        The tagger's input kinds (the order of the groups).

    Returns
    -------
    dict
        ``member`` (int), ``labels`` (int8, (jets,)) and ``logits`` (float64, (1 + groups, jets)).
    """
    names = [NONE, *groups_of(kinds)]
    return {
        "member": int(member),
        "labels": np.asarray(labels, dtype=np.int8),
        "logits": np.stack([np.asarray(logits[g], dtype=np.float64) for g in names]),
    }


def table(records: list[dict], kinds: Iterable[InputKind]) -> dict:
    """The ranked single-feature table from a tagger's records: the AUC and average precision (the area under
    the precision-recall curve) of the jets as they are, and per group its kind, dAUC and dAUPRC (x 100; per
    member, mean and spread), most harmful occlusion first. Empty without records or without jets of both
    classes.

    Jets without truth (label -1) are left out; AUCs are exact (``sklearn.metrics``).

    Parameters
    ----------
    records : list of dict
        The tagger's ``record`` entries, of every chunk and member.
    kinds : iterable of InputKind
        The tagger's input kinds (its groups, and the kind of each).

    Returns
    -------
    dict
        ``members`` (sorted seeds), ``jets`` (the jets with truth, of the last member), ``auc`` and ``auprc`` of
        the jets as they are (``per_member``, ``mean``, ``std``), and ``features``: one row per group (``feature``,
        ``kind``, ``dauc`` and ``dauprc``, each with ``per_member``, ``mean`` and ``std``), by decreasing mean dAUC.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not records:
        return {}
    names = [NONE, *groups_of(kinds)]
    members = sorted({r["member"] for r in records})
    auc_rows: list[list[float]] = []  # per member: the jets as they are, then each group occluded
    prc_rows: list[list[float]] = []
    jets = 0
    for m in members:
        mine = [r for r in records if r["member"] == m]
        labels = np.concatenate([r["labels"] for r in mine])
        truth = labels >= 0
        y = labels[truth]
        if len(np.unique(y)) < 2:
            return {}
        logits = np.concatenate([r["logits"] for r in mine], axis=1)[:, truth]
        auc_rows.append([roc_auc_score(y, row) for row in logits])
        prc_rows.append([average_precision_score(y, row) for row in logits])
        jets = len(y)
    auc, prc = np.array(auc_rows), np.array(prc_rows)  # (member, 1 + groups)
    rows: list[dict[str, Any]] = []
    for g, name in enumerate(names[1:], start=1):
        d_auc, d_prc = (auc[:, 0] - auc[:, g]) * 100, (prc[:, 0] - prc[:, g]) * 100
        rows.append(
            {
                "feature": name,
                "kind": kind_of(kinds, name),
                "dauc": {"per_member": d_auc.tolist(), **member_summary(d_auc)},
                "dauprc": {"per_member": d_prc.tolist(), **member_summary(d_prc)},
            }
        )
    rows.sort(key=lambda r: -r["dauc"]["mean"])
    return {
        "members": members,
        "jets": jets,
        "auc": {"per_member": auc[:, 0].tolist(), **member_summary(auc[:, 0])},
        "auprc": {"per_member": prc[:, 0].tolist(), **member_summary(prc[:, 0])},
        "features": rows,
    }


def masking_thresholds(
    ensemble: Ensemble,
    jets_folder: str | Path,
    split: str,
    occlusion: dict,
    thresholds: Iterable[float] = THRESHOLDS,
    batch_size: int = 512,
) -> list[dict]:
    """Roy and Neubauer's (ICHEP 2022) multi-feature masking: per threshold, the groups whose mean dAUC lies below it
    (``occlusion``: the ``table`` of the ensemble), how many of each kind, and the AUC of every member with all of them
    masked together, on the jets of ``split`` (exact AUCs, beside the same members' AUC with nothing masked).

    Parameters
    ----------
    ensemble : Ensemble
        The tagger (its members are loaded here, on the CPU).
    jets_folder : str or Path
        The jet tables the ensemble is evaluated on.
    split : str
        The split whose selected jets are evaluated (``test``, ``val``, ``train`` or ``all``).
    occlusion : dict
        The ensemble's single-feature ``table`` (its ``features`` rows and their mean dAUC).
    thresholds : iterable of float, default THRESHOLDS
        The dAUC thresholds (x 100), each masking the groups whose mean dAUC lies below it.
    batch_size : int, default 512
        Jets per forward pass.

    Returns
    -------
    list of dict
        One per threshold: ``threshold``, ``dropped`` and ``of`` (per kind, the groups masked and the groups it
        has), ``features`` (the groups masked), ``auc`` and ``auc_none_masked`` (``mean`` and ``std`` over the
        members) and ``dauc`` (x 100, ``mean`` and ``std``). Empty when the split has no jets or not both classes.
    """
    from sklearn.metrics import roc_auc_score

    from xaugcol.training.data import JetTables, model_inputs

    kinds = ensemble.spec.kinds
    features = occlusion.get("features", [])
    sets = [[r["feature"] for r in features if r["dauc"]["mean"] < t] for t in thresholds]
    tables = JetTables(jets_folder, ensemble.spec)
    columns = list(dict.fromkeys(tables.columns + [c for k in kinds for c in (*k.columns(), *k.extra_columns())]))
    members = ensemble.load_members()
    logits: list[list[list[np.ndarray]]] = [[[] for _ in range(len(sets) + 1)] for _ in members]
    labels = []
    for rows in tables.blocks(split, columns):  # the split's selected jets, as the tagger was trained on them
        labels.append(rows["label"])
        for m, (_, model, scalers) in enumerate(members):
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = tuple(torch.from_numpy(inputs[k.name]) for k in kinds)
            for s, masked in enumerate([[], *sets]):
                logits[m][s].append(batch_logits(model, occluded(kinds, tensors, masked), batch_size))
    if not labels:
        return []
    y = np.concatenate(labels)
    if len(np.unique(y)) < 2:
        return []
    auc = np.array([[roc_auc_score(y, np.concatenate(per_set)) for per_set in per_member] for per_member in logits])
    out = []
    for s, (threshold, masked) in enumerate(zip(thresholds, sets), start=1):
        dropped = {k.name: sum(kind_of(kinds, f) == k.name for f in masked) for k in kinds}
        out.append(
            {
                "threshold": threshold,
                "dropped": dropped,
                "of": {k.name: len(k.occlusion_groups()) for k in kinds},
                "features": masked,
                "auc": member_summary(auc[:, s]),
                "auc_none_masked": member_summary(auc[:, 0]),
                "dauc": member_summary((auc[:, 0] - auc[:, s]) * 100),
            }
        )
    return out
