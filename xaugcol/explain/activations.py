"""Neuron-activation patterns (NAPs), Roy and Neubauer's (ICHEP 2022) look inside a tagger: how strongly and how often
each neuron of each layer fires, per class.

Per layer and class, with a_j the activation of neuron j in a jet (summed over the jet's real pairs, tracks,
particles or pixels for a layer applied per object):

    RNA(j) = sum_jets a_j / max_j' sum_jets a_j'          (relative neural activity; weighted)

and the unweighted RNA from firing counts (the jets and objects where a_j > 0) in place of a_j. Sparsity: the
fraction of a layer's (or the whole network's) neurons with RNA < 0.2 in both classes, Roy and Neubauer's (ICHEP 2022)
measure of how much of a network its decisions use.

The activations are the outputs of the tagger's ReLUs (``nn.ReLU``, and the ``MaskedReLU`` of the particle and
track taggers, which is zero on padded slots), recorded by forward hooks during one plain forward pass of the
relevance processor on the chunk it explains (its occlusion starts from that pass's logits): no second pass over
the data. An LSTM's gates are not ReLUs; its dense head is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import hist
import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from xaugcol.layers import MaskedReLU
from xaugcol.models import batching

if TYPE_CHECKING:
    from xaugcol.explain.ensemble import Ensemble

QUIET = 0.2  # Roy and Neubauer's (ICHEP 2022) threshold: a neuron with RNA below it counts as quiet


def activation_sites(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The tagger's ReLU modules, in the order they were registered (input side first).

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.

    Returns
    -------
    list of tuple of (str, torch.nn.Module)
        ``(name, module)`` of every ``nn.ReLU`` and ``MaskedReLU``, named as ``named_modules`` names them.
    """
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.ReLU, MaskedReLU))]


class ActivationRecorder:
    """Forward hooks on every ReLU of ``model`` while in a ``with`` block: per site, per forward call, the (jets,
    neurons) activation sums and firing counts.

    A module's ``channel_axis`` (1 by default: dense (jets, neurons) or convolution channels) is its neuron axis;
    every axis between the jet and the neuron axis (pairs, objects, pixels) is summed per jet. Entering the block
    adds the hooks, leaving it removes them; what was recorded stays.

    Parameters
    ----------
    model : torch.nn.Module
        The tagger whose ReLUs (``activation_sites``) are recorded.
    """

    def __init__(self, model: nn.Module):
        self.sites = activation_sites(model)
        self.sums: dict[str, list[torch.Tensor]] = {name: [] for name, _ in self.sites}
        self.fired: dict[str, list[torch.Tensor]] = {name: [] for name, _ in self.sites}
        self._hooks: list[RemovableHandle] = []

    def __enter__(self):
        for name, module in self.sites:
            axis = getattr(module, "channel_axis", 1)  # nn.ReLU: dense (jets, neurons) or convolution channels
            self._hooks.append(module.register_forward_hook(self._hook(name, axis)))
        return self

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _hook(self, name: str, axis: int):
        def record(module, inputs, out):
            a = out.detach()
            if axis not in (-1, a.dim() - 1):
                a = a.movedim(axis, -1)
            over = tuple(range(1, a.dim() - 1))  # pairs, objects, pixels: summed per jet (the large axes)
            self.sums[name].append((a.sum(dim=over) if over else a).double())
            # a ReLU's output is >= 0, so its sign counts the firings (several times faster than a boolean count)
            fired = torch.sign(a)
            self.fired[name].append((fired.sum(dim=over) if over else fired).double())

        return record

    def per_jet(self, batches: batching.Plan | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per site: (jets, neurons) activation sums and firing counts, over all forward calls so far.

        Parameters
        ----------
        batches : batching.Plan, optional
            The plan the forward calls ran (one call per batch): the jets are put back in its inputs' order;
            default: the calls' results concatenated in call order.

        Returns
        -------
        dict of str to tuple of numpy.ndarray
            Per site that recorded something: ``(sums, fired)``, each shape (jets, neurons), float64.
        """

        def joined(parts):
            return (torch.cat(parts) if batches is None else batches.jets(parts)).numpy()

        return {name: (joined(self.sums[name]), joined(self.fired[name])) for name, _ in self.sites if self.sums[name]}


def histograms(tagger: str, recorded: dict, classes: Iterable[int]) -> dict:
    """Per layer ``nap/T/<layer>`` sums the activations and ``nap_firing/T/<layer>`` counts the firings, per
    (member, label, neuron).

    Parameters
    ----------
    tagger : str
        The tagger's name (``T``).
    recorded : dict
        What an ``ActivationRecorder`` holds (``per_jet``): its widths fix the neuron axes.
    classes : iterable of int
        The true classes of the jets (the ``label`` axis).

    Returns
    -------
    dict of str to hist.Hist
        Two empty histograms per site, double storage (the ``member`` axis grows).
    """
    out = {}
    for site, (a, _) in recorded.items():
        axes = (
            hist.axis.IntCategory([], growth=True, name="member", label="seed"),
            hist.axis.IntCategory(list(classes), name="label", label="class"),
            hist.axis.Integer(0, a.shape[1], name="neuron", label="neuron"),
        )
        out[f"nap/{tagger}/{site}"] = hist.Hist(*axes, storage=hist.storage.Double())
        out[f"nap_firing/{tagger}/{site}"] = hist.Hist(*axes, storage=hist.storage.Double())
    return out


def fill(hists: dict, tagger: str, member: int, labels: np.ndarray, recorded: dict) -> None:
    """Add one member's activations on a batch of jets to the tagger's histograms (``histograms``).

    Parameters
    ----------
    hists : dict of str to hist.Hist
        The run's histograms, those of ``histograms(tagger, ...)`` among them (filled in place).
    tagger : str
        The tagger's name.
    member : int
        The ensemble member's seed.
    labels : numpy.ndarray
        Shape (jets,), int: the jets' classes.
    recorded : dict of str to tuple of numpy.ndarray
        Per site, the (jets, neurons) activation sums and firing counts (``ActivationRecorder.per_jet``).
    """
    for site, (a, n) in recorded.items():
        neuron = np.broadcast_to(np.arange(a.shape[1]), a.shape).ravel()
        label = np.repeat(labels, a.shape[1])
        hists[f"nap/{tagger}/{site}"].fill(member=member, label=label, neuron=neuron, weight=a.ravel())
        hists[f"nap_firing/{tagger}/{site}"].fill(member=member, label=label, neuron=neuron, weight=n.ravel())


def patterns(hists: dict, tagger: str) -> dict:
    """Per layer and class: the weighted and unweighted RNA (mean over members) and the layer's sparsity in that
    class; per layer the fraction of neurons quiet in every class; the sparsity of the whole network (all layers
    pooled; per member, mean and spread). Empty when the run recorded no activations for the tagger.

    Parameters
    ----------
    hists : dict of str to hist.Hist
        A run's histograms, with the tagger's ``nap/T/<layer>`` and ``nap_firing/T/<layer>``.
    tagger : str
        The tagger's name.

    Returns
    -------
    dict
        ``members``, ``threshold`` (``QUIET``), ``neurons`` (over all layers), ``sparsity`` of the network
        (``per_member``, ``mean``, ``std``) and ``layers``: per layer its ``neurons``, ``sparsity`` (the fraction of
        member-neurons quiet in every class) and ``classes`` (per class name: ``rna`` and ``rna_unweighted``, one
        value per neuron, and ``sparsity``).
    """
    prefix = f"nap/{tagger}/"
    sites = [k.removeprefix(prefix) for k in hists if k.startswith(prefix)]
    if not sites:
        return {}
    names = {0: "background", 1: "signal", -1: "data"}
    layers: dict[str, dict] = {}
    quiet_per_site: list[np.ndarray] = []  # per site, (member,) how many of its neurons are quiet in every class
    total, members = 0, []
    for site in sites:
        sums, fired = hists[prefix + site], hists[f"nap_firing/{tagger}/{site}"]
        members, labels = list(sums.axes["member"]), list(sums.axes["label"])
        a, n = sums.view()[: len(members)], fired.view()[: len(members)]  # (member, label, neuron)
        rna_w, rna_u = _relative(a), _relative(n)
        quiet = (rna_w < QUIET).all(axis=1)  # (member, neuron): quiet in every class
        quiet_per_site.append(quiet.sum(axis=1))
        total += a.shape[-1]
        layers[site] = {
            "neurons": int(a.shape[-1]),
            "classes": {
                names.get(c, str(c)): {
                    "rna": rna_w[:, j].mean(0).tolist(),
                    "rna_unweighted": rna_u[:, j].mean(0).tolist(),
                    "sparsity": float((rna_w[:, j] < QUIET).mean()),
                }
                for j, c in enumerate(labels)
            },
            "sparsity": float(quiet.mean()),
        }
    fraction = np.sum(quiet_per_site, axis=0) / total
    return {
        "members": members,
        "threshold": QUIET,
        "layers": layers,
        "neurons": total,
        "sparsity": {
            "per_member": fraction.tolist(),
            "mean": float(fraction.mean()),
            "std": float(fraction.std(ddof=1)) if len(fraction) > 1 else 0.0,
        },
    }


def _relative(summed: np.ndarray) -> np.ndarray:
    """Each neuron's total over the layer's largest (per member and class); a layer that never fired: 0."""
    peak = summed.max(axis=-1, keepdims=True)
    return np.divide(summed, peak, out=np.zeros_like(summed), where=peak > 0)


def ensemble_patterns(ensemble: Ensemble, jets_folder: str | Path, split: str = "test", batch_size: int = 512) -> dict:
    """The patterns of an ensemble on the jets of ``split``, in this process (for taggers trained after the
    relevance run, such as a squeezed model): one plain forward pass per member, recorded as the relevance
    processor records it.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger (its members are loaded here, on the CPU).
    jets_folder : str or Path
        The jet tables read.
    split : str, default "test"
        The split whose selected jets are used (``test``, ``val``, ``train`` or ``all``).
    batch_size : int, default 512
        Jets per forward pass.

    Returns
    -------
    dict
        As ``patterns`` returns it (classes background and signal); empty without jets or ReLUs.
    """
    from xaugcol.explain.faithfulness import batch_logits
    from xaugcol.training.data import JetTables, model_inputs

    tables = JetTables(jets_folder, ensemble.spec)
    hists: dict = {}
    for seed, model, scalers in ensemble.load_members():
        for rows in tables.blocks(split, tables.columns):
            inputs = model_inputs(rows, ensemble.spec, scalers)
            tensors = tuple(torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs)
            batches = batching.plan(model, tensors, batch_size)
            recorder = ActivationRecorder(model)
            with recorder:
                batch_logits(model, tensors, batches)
            recorded = recorder.per_jet(batches)
            if not hists:
                hists = histograms(ensemble.name, recorded, (0, 1))
            fill(hists, ensemble.name, seed, rows["label"].astype(np.int64), recorded)
    return patterns(hists, ensemble.name)
