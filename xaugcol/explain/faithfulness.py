"""Faithfulness of an explanation by input perturbation ("pixel flipping", Samek et al. 2017, arXiv:1509.06321; "remove
and observe"): take units out of each jet in the order an explanation ranks them and watch the tagger's AUC fall.

A unit is what its input kind says (``InputKind.unit_relevance`` and friends): a pixel of the jet image, a particle
of the particle list (all its features; the slot becomes padding), an XAUG variable (set to its training-split
mean). Only the units a jet has are removed (not empty pixels or padded slots), all kinds of a tagger's inputs
ranked together. At step k of ``steps`` each jet has lost round(k / steps * its units); three orders:

* ``relevance``: most relevant first, relevance counted towards the tagger's decision (R * sign(logit): the
  evidence for the class it chose);
* ``random``: a fixed random order per jet (a hash of the jet's identity and the unit: the same whatever the
  chunking);
* ``reverse``: least relevant first (the evidence against the decision goes first).

Two curves per order: the tagger's decision margin, the mean over jets of sign(logit before removal) * logit (how
firmly it still makes the decision it made), and its AUC. A faithful explanation makes the margin fall faster in
relevance order than at random, and slower in reverse order. The score is the area between the random and the
relevance-order margin curves over the removed fraction (0 to 1), in units of the margin before removal: positive
when the explanation found what the tagger uses, larger the more faithful; the reverse gap (reverse minus random)
and the same area between AUC curves are reported beside it. The AUC is not the score: removing each jet's evidence
for its class can push it past the other class (an AUC below 0.5), which says the explanation is faithful, not
that it is not.

Curves cost a forward pass of the tagger per order and step (31 for 10 steps, against one LRP pass for the
relevance itself); ``fraction`` follows a hash-chosen share of the explained jets.

Curves are accumulated as histograms of the tagger's logit and sums of its margin per (method, member, order,
class, step), so chunks merge exactly and the AUC comes out at the end (``curves``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import hist
import numpy as np
import torch

from xaugcol.explain.histograms import quantise
from xaugcol.models import batching
from xaugcol.training.data import identity_hash

if TYPE_CHECKING:
    from xaugcol.features.kinds import InputKind

ORDERS = ("relevance", "random", "reverse")
DEFAULT_STEPS = 10
# the logit is binned in asinh(logit): bins narrow near 0 and wider outwards (0.012 wide at 0, 0.25 at +-20), for
# the AUC of weak and of confident taggers alike (a regular axis, which the checkpoints serialise); logits beyond
# land in the flow bins, which the AUC counts too. Jets in one bin count as ties (half), so the AUC is exact to
# about the fraction of pairs sharing a bin.
ASINH_LOGIT_AXIS = (600, -float(np.arcsinh(20.0)), float(np.arcsinh(20.0)))


def histograms(tagger: str, rules: Iterable[str], steps: int, classes: Iterable[int]) -> dict:
    """Empty curve histograms for one tagger.

    ``faithfulness/T`` (rule, member, order, label, step, asinh logit) counts jets, ``faithfulness_margin/T`` (the
    same without logit) sums their decision margins. Category axes first, as the ROOT file's reader
    (``relevance_file``) rebuilds them.

    Parameters
    ----------
    tagger : str
        The tagger's name (``T``).
    rules : iterable of str
        The explanation methods' names (the ``rule`` axis).
    steps : int
        Removal steps per curve: the ``step`` axis has steps + 1 bins (step 0: nothing removed).
    classes : iterable of int
        The true classes of the jets explained (the ``label`` axis).

    Returns
    -------
    dict of str to hist.Hist
        ``faithfulness/T`` and ``faithfulness_margin/T``, empty, double storage (the ``member`` axis grows).
    """
    axes = (
        hist.axis.StrCategory(list(rules), name="rule", label="explanation method"),
        hist.axis.IntCategory([], growth=True, name="member", label="seed"),
        hist.axis.StrCategory(list(ORDERS), name="order", label="removal order"),
        hist.axis.IntCategory(list(classes), name="label", label="class"),
        hist.axis.Integer(0, steps + 1, name="step", label="removal step"),
    )
    logit = hist.axis.Regular(*ASINH_LOGIT_AXIS, name="asinh_logit", label="asinh(tagger logit)")
    return {
        f"faithfulness/{tagger}": hist.Hist(*axes, logit, storage=hist.storage.Double()),
        f"faithfulness_margin/{tagger}": hist.Hist(*axes, storage=hist.storage.Double()),
    }


def jet_keys(rows: dict) -> np.ndarray:
    """(jets,) uint64 identity of each jet (event and jet index), the random seed of its removal order.

    Parameters
    ----------
    rows : dict
        The jets' table rows: ``label``, and ``run``, ``luminosityBlock``, ``event`` and ``fatjet_index`` where the
        tables have them (0 where not).

    Returns
    -------
    numpy.ndarray
        Shape (jets,), uint64: ``identity_hash`` of the event, hashed again with the jet index.
    """
    n = len(rows["label"])
    zeros = np.zeros(n, dtype=np.int64)
    base = identity_hash(rows.get("run", zeros), rows.get("luminosityBlock", zeros), rows.get("event", zeros))
    return identity_hash(zeros, rows.get("fatjet_index", zeros), base)


def subsample(keys: np.ndarray, fraction: float) -> np.ndarray:
    """(jets,) bool: the jets whose identity hash falls below ``fraction`` (the same jets whatever the chunking).

    Parameters
    ----------
    keys : numpy.ndarray
        Shape (jets,): ``jet_keys`` of the jets.
    fraction : float
        The share of jets chosen, in [0, 1]; 1 or more: all of them.

    Returns
    -------
    numpy.ndarray
        Shape (jets,), bool: the jets chosen.
    """
    if fraction >= 1:
        return np.ones(len(keys), dtype=bool)
    return _uniform(keys, 1)[:, 0] < fraction


def removal_logits(
    model: torch.nn.Module,
    kinds: Sequence[InputKind],
    inputs: tuple[torch.Tensor, ...],
    relevance: tuple[torch.Tensor, ...],
    output: torch.Tensor,
    baselines: list,
    keys: np.ndarray,
    steps: int = DEFAULT_STEPS,
    batch_size: int = 512,
) -> dict[str, np.ndarray]:
    """Per order, (steps + 1, jets) the tagger's logit after each removal step (step 0: the jets as they are).

    Parameters
    ----------
    model : torch.nn.Module
        The member's tagger.
    kinds : sequence of InputKind
        The tagger's input kinds, in forward order (they define the removal units).
    inputs : tuple of torch.Tensor
        One tensor per kind (forward order), (jets, ...).
    relevance : tuple of torch.Tensor
        The explanation's relevance, one tensor per kind, shaped like ``inputs``.
    output : torch.Tensor
        Shape (jets,): the explained logit (its sign turns relevance into evidence for the decision).
    baselines : list
        Per kind, the value a removed unit takes (the member's ``InputKind.removal_baseline``: a float or a tensor).
    keys : numpy.ndarray
        Shape (jets,): ``jet_keys`` of the jets (the random order).
    steps : int, default DEFAULT_STEPS
        Removal steps; at step k each jet has lost round(k / steps * its present units).
    batch_size : int, default 512
        Jets per forward pass.

    Returns
    -------
    dict of str to numpy.ndarray
        Per order of ``ORDERS``, shape (steps + 1, jets), float64: the logits after each step.

    Raises
    ------
    ValueError
        ``steps`` below 1.
    """
    if steps < 1:
        raise ValueError(f"perturbation curves need at least one step, got {steps}")
    sizes = [k.unit_relevance(r).shape[1] for k, r in zip(kinds, relevance)]
    unit_r = torch.cat([k.unit_relevance(r.detach()).double() for k, r in zip(kinds, relevance)], dim=1)
    present = torch.cat([k.present_units(x) for k, x in zip(kinds, inputs)], dim=1)
    evidence = unit_r * torch.where(output.detach() >= 0, 1.0, -1.0).double().unsqueeze(1)
    n_present = present.sum(dim=1)
    random = torch.from_numpy(_uniform(keys, unit_r.shape[1]))
    rank = {
        "relevance": _ranks(evidence, present),
        "random": _ranks(random, present),
        "reverse": _ranks(-evidence, present),
    }
    out = {}
    with torch.no_grad():
        first = batch_logits(model, inputs, batch_size)
        for order in ORDERS:
            logits = [first]
            for k in range(1, steps + 1):
                take = torch.floor(n_present.double() * k / steps + 0.5).long()
                removed = rank[order] < take.unsqueeze(1)
                parts = torch.split(removed, sizes, dim=1)
                changed = tuple(
                    kind.without_units(x, part, b) for kind, x, part, b in zip(kinds, inputs, parts, baselines)
                )
                logits.append(batch_logits(model, changed, batch_size))
            out[order] = np.stack(logits)
    return out


def fill(hists: dict, tagger: str, rule: str, member: int, labels: np.ndarray, logits: dict[str, np.ndarray]) -> None:
    """Add one member's perturbation curves on a batch of jets to the tagger's faithfulness histograms.

    Fills, in place, the jet counts per asinh(logit) bin and the summed decision margins (sign of the logit
    before removal times the logit, quantised).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The run's histograms (``faithfulness/<tagger>`` and ``faithfulness_margin/<tagger>`` among them).
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's label.
    member : int
        The member's seed.
    labels : numpy.ndarray
        Shape (jets,), int: the jets' classes.
    logits : dict of str to numpy.ndarray
        Per removal order, (steps + 1, jets) the logits after each step (``removal_logits``).
    """
    counts, sums = hists[f"faithfulness/{tagger}"], hists[f"faithfulness_margin/{tagger}"]
    decision = np.where(logits[ORDERS[0]][0] >= 0, 1.0, -1.0)  # the class each jet was given before removal
    for order, values in logits.items():
        steps = np.repeat(np.arange(len(values)), values.shape[1])
        label = np.tile(labels, len(values))
        counts.fill(
            rule=rule, member=member, order=order, label=label, step=steps, asinh_logit=np.arcsinh(values.ravel())
        )
        sums.fill(
            rule=rule, member=member, order=order, label=label, step=steps, weight=quantise((values * decision).ravel())
        )


def curves(hists: dict, tagger: str) -> dict:
    """Per method: the removed fractions; per order the decision margin (relative to before removal, over all
    jets) and the AUC at each step, mean and spread over members; the scores (``score``: area between the random
    and relevance-order margin curves; ``reverse_gap``: reverse minus random; ``auc_score``: random minus
    relevance-order AUC), per member, mean and spread. Empty when the run made no curves for the tagger or it
    has no jets of both classes.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with ``faithfulness/T`` and ``faithfulness_margin/T`` (``histograms``, filled).
    tagger : str
        The tagger's name.

    Returns
    -------
    dict
        Per method with jets: ``removed_fraction`` (list of float), ``members``, ``margin`` and ``auc`` (per order,
        ``mean`` and ``std`` lists over the steps), and ``score``, ``reverse_gap`` and ``auc_score`` (each with
        ``per_member``, ``mean`` and ``std``).
    """
    key = f"faithfulness/{tagger}"
    if key not in hists:
        return {}
    h, sums = hists[key], hists[f"faithfulness_margin/{tagger}"]
    labels = list(h.axes["label"])
    if 0 not in labels or 1 not in labels:
        return {}
    members = list(h.axes["member"])
    orders = [list(h.axes["order"]).index(o) for o in ORDERS]
    signal, background = labels.index(1), labels.index(0)
    # flow views: (rule, member, order, label, step, logit); the steps' flow bins (first, last) are empty
    counts = h.view(flow=True)[:, : len(members)][:, :, orders][:, :, :, : len(labels)][..., 1:-1, :]
    summed = sums.view(flow=True)[:, : len(members)][:, :, orders][:, :, :, : len(labels)][..., 1:-1]
    steps = counts.shape[-2] - 1
    fractions = [k / steps for k in range(steps + 1)]
    out = {}
    for i, rule in enumerate(h.axes["rule"]):
        if not members or counts[i].sum() == 0:
            continue
        auc = np.array(
            [
                [
                    [binned_auc(counts[i, m, o, signal, s], counts[i, m, o, background, s]) for s in range(steps + 1)]
                    for o in range(len(ORDERS))
                ]
                for m in range(len(members))
            ]
        )
        jets = counts[i].sum(axis=(2, 4))  # (member, order, step)
        margin = summed[i].sum(axis=2) / np.maximum(jets, 1)
        relative = margin / np.where(margin[:, :, :1] > 0, margin[:, :, :1], np.nan)
        score = np.trapezoid(relative[:, 1] - relative[:, 0], fractions, axis=1)
        gap = np.trapezoid(relative[:, 2] - relative[:, 1], fractions, axis=1)
        auc_score = np.trapezoid(auc[:, 1] - auc[:, 0], fractions, axis=1)
        out[rule] = {
            "removed_fraction": fractions,
            "members": members,
            "margin": {o: _mean_spread(relative[:, k]) for k, o in enumerate(ORDERS)},
            "auc": {o: _mean_spread(auc[:, k]) for k, o in enumerate(ORDERS)},
            "score": {"per_member": score.tolist(), **member_summary(score)},
            "reverse_gap": {"per_member": gap.tolist(), **member_summary(gap)},
            "auc_score": {"per_member": auc_score.tolist(), **member_summary(auc_score)},
        }
    return out


def most_faithful(per_rule: dict) -> str | None:
    """The method with the highest mean score.

    Parameters
    ----------
    per_rule : dict
        Per method, its curves (``curves``), with ``score`` / ``mean``.

    Returns
    -------
    str or None
        The method's name; None for no methods.
    """
    return max(per_rule, key=lambda r: per_rule[r]["score"]["mean"]) if per_rule else None


def binned_auc(signal: np.ndarray, background: np.ndarray) -> float:
    """P(logit_s > logit_b) + P(equal bin) / 2 from two histograms on the same bins (ties within a bin: half).

    Parameters
    ----------
    signal : numpy.ndarray
        Signal jets per logit bin, in increasing logit order (flow bins included where they count).
    background : numpy.ndarray
        Background jets per bin, on the same bins.

    Returns
    -------
    float
        The AUC; NaN when either class has no jets.
    """
    s, b = signal.sum(), background.sum()
    if s <= 0 or b <= 0:
        return float("nan")
    below = np.cumsum(background) - background  # background jets in lower bins
    return float((signal * (below + 0.5 * background)).sum() / (s * b))


def _mean_spread(values: np.ndarray) -> dict:
    """Over members (axis 0): mean and standard deviation (0 for one member) of each entry."""
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": values.mean(axis=0).tolist(),
        "std": (values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])).tolist(),
    }


def member_summary(values: np.ndarray) -> dict:
    """{"mean", "std"} of per-member values (standard deviation with ddof 1; 0 for a single member).

    Parameters
    ----------
    values : numpy.ndarray
        Shape (members,): one value per member.

    Returns
    -------
    dict
        ``mean`` and ``std``, as float.
    """
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def _ranks(key: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """(jets, units): each unit's place in the removal order (0 first: largest key); absent units last."""
    key = torch.where(present, key.double(), torch.tensor(-torch.inf, dtype=torch.float64))
    order = torch.argsort(key, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(key.shape[1]).expand_as(order).contiguous())
    return rank


def _uniform(keys: np.ndarray, units: int) -> np.ndarray:
    """(jets, units) in [0, 1): a hash of each jet's key and the unit index."""
    unit = np.arange(units, dtype=np.int64)[None, :]
    mixed = identity_hash(np.zeros_like(unit), unit, np.asarray(keys, dtype=np.uint64)[:, None])
    return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)


def batch_logits(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], batch_size: int | batching.Plan
) -> np.ndarray:
    """The model's logits in inference mode (float64 numpy, in the inputs' order).

    The model is put in eval mode and run without gradient.

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.
    inputs : tuple of torch.Tensor
        Its inputs in forward order, (jets, ...) each.
    batch_size : int or batching.Plan
        Jets per batch, or a plan of ``xaugcol.models.batching`` made for these inputs.

    Returns
    -------
    numpy.ndarray
        Shape (jets,), float64: the logits, in the inputs' order.
    """
    model.eval()
    batches = batch_size if isinstance(batch_size, batching.Plan) else batching.plan(model, inputs, batch_size)
    return batching.logits(model, inputs, batches).reshape(-1).double().numpy()
