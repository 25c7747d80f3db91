"""The one interface every explanation method implements.

An attributor takes a tagger's inputs and returns the relevance of each input (shaped like it), the explained
output, and per jet what it could not attribute.

    attributor = make_attributor(spec, model)      # spec: a MethodSpec (``specs``)
    a = attributor(image, xaug, batch_size=512)
    a.relevance[0], a.output, a.absorbed           # absorbed = output - sum of all input relevance

``absorbed`` is LRP's bias and stabiliser share; for gradient x input it is what a non-homogeneous model (biases)
leaves unexplained. The relevance processor, statistics, histograms and figures only see ``Attribution``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from xaugcol.models import batching


@dataclass
class Attribution:
    """What an explanation method returns for a batch of jets (module docstring).

    Parameters
    ----------
    relevance : tuple of torch.Tensor
        One per model input, in the model's ``forward`` order, each shaped like its input.
    output : torch.Tensor
        Shape (batch,): the explained output (the logit).
    absorbed : torch.Tensor
        Shape (batch,): ``output`` minus the summed input relevance, what the method did not attribute.
    details : Any, optional
        The method's own report (LRP: its ``Explanation`` with the conservation split; a list of them, one per
        batch, where ``in_batches`` ran several); None for methods without one.
    """

    relevance: tuple[torch.Tensor, ...]  # one per model input, shaped like it
    output: torch.Tensor  # (batch,) the explained output (the logit)
    absorbed: torch.Tensor  # (batch,) output - summed input relevance: what the method did not attribute
    details: Any = None  # the method's own report (LRP: its Explanation with the conservation split)


class Attributor(Protocol):
    """An explanation method bound to a model: ``attributor(*inputs, batch_size=...)`` -> ``Attribution``.

    The inputs come in the model's ``forward`` order and are explained in batches of ``batch_size`` jets (None:
    all at once). A type for checkers, never instantiated itself.
    """

    def __call__(self, *inputs: torch.Tensor, batch_size: int | None = None) -> Attribution: ...


def explained_output(out: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """The explained output, shape (batch,), from a model's output.

    Parameters
    ----------
    out : torch.Tensor
        The model's output, shape (batch,), (batch, 1) or (batch, classes).
    target : int, optional
        The class explained for an output of shape (batch, classes); ignored for the other shapes.

    Returns
    -------
    torch.Tensor
        Shape (batch,): ``out`` itself, its single column or its ``target`` column (a view, gradients flow).

    Raises
    ------
    ValueError
        For any other shape, or a (batch, classes) output without a valid ``target``.
    """
    if out.dim() == 1:
        return out
    if out.dim() == 2 and out.shape[1] == 1:
        return out[:, 0]
    if out.dim() == 2 and target is not None and 0 <= target < out.shape[1]:
        return out[:, target]
    raise ValueError(
        f"expected an output of shape (batch,) or (batch, classes) with a target, got "
        f"{tuple(out.shape)} and target {target}"
    )


def in_batches(
    explain: Callable[[tuple[torch.Tensor, ...]], Attribution],
    inputs: tuple[torch.Tensor, ...],
    batch_size: int | None,
    model: torch.nn.Module | None = None,
) -> Attribution:
    """``explain`` over ``inputs`` in the batches ``xaugcol.models.batching`` plans for ``model``.

    Without a model, or for one that cannot trim padded slots, the batches are plain runs of ``batch_size`` jets.
    A single batch in order is explained as it is; otherwise the batches' results are put back in the inputs'
    order and shape.

    Parameters
    ----------
    explain : callable
        Explains one batch: a tuple of input tensors (the batch's jets and kept slots) -> ``Attribution``.
    inputs : tuple of torch.Tensor
        The model's inputs, each of shape (jets, ...), in ``forward`` order.
    batch_size : int or None
        The most jets per batch; None: all at once.
    model : torch.nn.Module, optional
        The model explained, for ``batching.plan`` (its ``trimmable_inputs`` and ``batch_elements``).

    Returns
    -------
    Attribution
        For all jets, in the inputs' order; relevance shaped like the inputs (trimmed slots zero). ``details`` is
        the single batch's, or a list of each batch's in the order they ran.
    """
    batches = batching.plan(model, inputs, batch_size)
    if len(batches.batches) <= 1 and not batches.reordered:
        return explain(inputs)
    parts = [explain(b.take(inputs)) for b in batches.batches]
    return Attribution(
        tuple(batches.inputs_like([p.relevance[k] for p in parts], k, inputs[k]) for k in range(len(inputs))),
        batches.jets([p.output for p in parts]),
        batches.jets([p.absorbed for p in parts]),
        [p.details for p in parts],
    )
