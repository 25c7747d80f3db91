"""Sanity check of an explanation method by model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018, arXiv:1810.03292): re-initialise the tagger's layers from the output down, one more at each step,
and compare the relevance of each step with the trained tagger's. A method that explains the decision gives maps that
change as the weights that made the decision are destroyed (the rank correlation falls); a method whose maps stay the
same is showing the input (edges, intensities), not the tagger.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from xaugcol.explain.methods import MethodSpec, method_spec
from xaugcol.explain.methods.specs import MethodEntry

if TYPE_CHECKING:
    from xaugcol.explain.ensemble import Ensemble


@dataclass(frozen=True)
class RandomisationStep:
    """One step of the randomisation test (module docstring): the layers re-initialised so far and how similar
    the relevance still is to the trained tagger's.

    Both correlations are taken over the input values that are not zero in the jet: an empty pixel or a padded
    particle slot has zero relevance under every rule proportional to the input, and thousands of tied zeros would
    rank alike whatever the weights.

    Parameters
    ----------
    layers : tuple of str
        The modules re-initialised so far, output side first.
    spearman : float
        The mean over jets of the rank correlation of the signed relevance with the trained tagger's.
    spearman_abs : float
        The same for |relevance| (what a heat map shows).
    """

    layers: tuple[str, ...]  # the modules re-initialised so far, output side first
    spearman: float  # mean over jets of the rank correlation of the signed relevance with the trained tagger's
    spearman_abs: float  # the same for |relevance| (what a heat map shows)
    # both over the input values that are not zero in the jet: an empty pixel or a padded particle slot has zero
    # relevance under every rule proportional to the input, and thousands of tied zeros would rank alike whatever
    # the weights (a sparse jet image scored 1.0 for |relevance| at every step)


def parametrised_layers(model: nn.Module) -> list[str]:
    """Names of the modules that hold parameters of their own (Linear, Conv, BatchNorm, LSTM...), in the order
    they were registered (input side first).

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.

    Returns
    -------
    list of str
        The ``named_modules`` names of the modules with parameters of their own and a ``reset_parameters`` method
        (the model itself left out).
    """
    return [
        name
        for name, m in model.named_modules()
        if name and any(True for _ in m.parameters(recurse=False)) and hasattr(m, "reset_parameters")
    ]


def cascading_randomisation(
    model: nn.Module,
    inputs: list[torch.Tensor],
    method: MethodEntry = "epsilon",
    seed: int = 0,
    batch_size: int | None = None,
) -> list[RandomisationStep]:
    """One step per parametrised layer, from the output down, comparing the relevance with the trained model's.

    At each step that layer and every one above it are re-initialised (``reset_parameters`` under ``seed``;
    batch-norm running statistics reset too), and the relevance of ``inputs`` with ``method`` is compared, per jet,
    with the trained model's by Spearman rank correlation over the jet's non-zero input values. ``model`` is left
    as it was (a copy is randomised), and so is torch's random state.

    Parameters
    ----------
    model : torch.nn.Module
        The trained tagger.
    inputs : list of torch.Tensor
        Its inputs in forward order, (jets, ...) each, on the CPU.
    method : str, mapping, MethodSpec or Composite, default "epsilon"
        The explanation method: a name or entry of ``xaugcol.explain.methods`` (``method_spec``).
    seed : int, default 0
        The random seed of the re-initialisation.
    batch_size : int, optional
        Jets per explanation batch; default: all at once.

    Returns
    -------
    list of RandomisationStep
        One per parametrised layer, the output-side layer first.

    Raises
    ------
    ValueError
        The model has no layers with parameters.
    """
    spec = method_spec(method)
    reference = _flat_relevance(spec, model, inputs, batch_size)
    present = np.concatenate([x.detach().reshape(len(x), -1).numpy() != 0 for x in inputs], axis=1)
    names = parametrised_layers(model)
    if not names:
        raise ValueError("the model has no layers with parameters to randomise")
    randomised = copy.deepcopy(model).eval()
    modules = dict(randomised.named_modules())
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    steps, done = [], []
    try:
        for name in reversed(names):
            layer = modules[name]
            layer.reset_parameters()
            if hasattr(layer, "reset_running_stats"):
                layer.reset_running_stats()
            done.append(name)
            relevance = _flat_relevance(spec, randomised, inputs, batch_size)
            steps.append(
                RandomisationStep(
                    tuple(done),
                    _mean_spearman(reference, relevance, present),
                    _mean_spearman(np.abs(reference), np.abs(relevance), present),
                )
            )
    finally:
        torch.random.set_rng_state(generator_state)  # the caller's random stream is not advanced
    return steps


def _flat_relevance(spec, model, inputs, batch_size) -> np.ndarray:
    """(jets, every input value) of the relevance, all inputs side by side."""
    result = spec.attributor(model)(*inputs, batch_size=batch_size)
    return np.concatenate([r.detach().double().reshape(len(r), -1).numpy() for r in result.relevance], axis=1)


def _mean_spearman(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """Mean over rows of Spearman's rank correlation (ties by their average rank) over the entries ``where`` is
    true (default all); a row with fewer than two such entries or constant in either array counts as 0. A loop
    over jets: a check on a few hundred, not a hot path."""
    where = np.ones(a.shape, dtype=bool) if where is None else where
    rho = np.zeros(len(a))
    for i, keep in enumerate(where):
        if keep.sum() < 2:
            continue
        ra, rb = rankdata(a[i, keep]), rankdata(b[i, keep])
        ra, rb = ra - ra.mean(), rb - rb.mean()
        norm = np.sqrt((ra**2).sum() * (rb**2).sum())
        rho[i] = (ra * rb).sum() / norm if norm > 0 else 0.0
    return float(rho.mean())


DEFAULT_JETS_PER_CLASS = 50


def ensemble_sanity(
    ensemble: Ensemble,
    jets_folder: str | Path,
    methods: Iterable[MethodSpec],
    split: str = "test",
    per_class: int = DEFAULT_JETS_PER_CLASS,
    seed: int = 0,
) -> dict:
    """The randomisation check of an ensemble's first member, for every method (``MethodSpec``s), on the first
    ``per_class`` jets of each class of ``split``: per method the steps (layer re-initialised last, signed and
    |R| rank correlation), as relevance.json records them.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger; its first member (in seed order) is checked.
    jets_folder : str or Path
        The jet tables the jets are read from.
    methods : iterable of MethodSpec
        The explanation methods checked.
    split : str, default "test"
        The split the jets are taken from (``test``, ``val``, ``train`` or ``all``).
    per_class : int, default DEFAULT_JETS_PER_CLASS
        Jets of each class, at most (``JetTables.examples``).
    seed : int, default 0
        The random seed of the re-initialisation.

    Returns
    -------
    dict
        ``member`` (the seed of the member checked), ``jets``, ``seed`` and ``methods``: per method name a list of
        steps, each with ``layer``, ``spearman`` and ``spearman_abs``.
    """
    from xaugcol.training.data import JetTables, model_inputs

    tables = JetTables(jets_folder, ensemble.spec)
    extra = [c for kind in ensemble.spec.kinds for c in (*kind.columns(), *kind.extra_columns())]
    rows = tables.examples(split, list(dict.fromkeys(tables.columns + extra)), per_class)
    member, model, scalers = ensemble.load_members()[0]
    inputs = model_inputs(rows, ensemble.spec, scalers)
    tensors = [torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs]
    out: dict[str, Any] = {"member": member, "jets": int(len(rows["label"])), "seed": seed, "methods": {}}
    for spec in methods:
        steps = cascading_randomisation(model, tensors, spec, seed=seed)
        out["methods"][spec.name] = [
            {"layer": s.layers[-1], "spearman": s.spearman, "spearman_abs": s.spearman_abs} for s in steps
        ]
    return out
