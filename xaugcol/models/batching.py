"""Batches of jets for a tagger's inference and explanation passes, planned once per call.

A tagger that computes on every pair of its objects (the Interaction Network: 60 x 60 track pairs per jet) spends
most of a padded batch on empty slots, and allocates activation tensors of hundreds of MiB that the system maps
and zeroes again at every layer. A tagger whose output cannot depend on trailing padded slots declares which of
its inputs those are (``trimmable_inputs``: positions of (jets, slots, features) lists whose padded slots are
masked out of every sum) and how many activation elements a jet costs (``batch_elements``: from the batch's
longest lengths, (rows, trimmable inputs) -> (rows,)). Its jets are then
taken in order of the slots they use, each batch cut to its longest jet and kept under ``ELEMENT_BUDGET``
activation elements: the same logits and relevance (padded slots carry exactly zero), computed only on real
slots, in tensors small enough to be reused by the allocator. Results come back in the callers' order and shape.

Every other tagger gets the plain batches of ``batch_size`` jets in their order, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ELEMENT_BUDGET = 1 << 20  # activation elements of a trimmed batch's largest tensor: 4 MiB in float32


@dataclass(frozen=True)
class Batch:
    """One batch of a plan: its jets, and per input how many slots it keeps.

    Parameters
    ----------
    rows : slice or torch.Tensor
        The jets of the batch: a slice of the inputs, or their indices (int64, shape (jets,)).
    slots : tuple of (int or None)
        Per input, the leading slots kept (None: the whole input).
    """

    rows: slice | torch.Tensor  # the jets of the batch: a slice of the inputs, or their indices
    slots: tuple[int | None, ...]  # per input, the slots kept (None: the whole input)

    def take(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """The batch's part of every input (its jets, its slots).

        Parameters
        ----------
        inputs : tuple of torch.Tensor
            The model's inputs, in ``forward`` order, each with jets along the first dimension.

        Returns
        -------
        tuple of torch.Tensor
            Per input, the batch's rows, cut to its first ``slots[k]`` slots where that is not None.
        """
        return tuple(x[self.rows] if n is None else x[self.rows, :n] for x, n in zip(inputs, self.slots))


@dataclass(frozen=True)
class Plan:
    """The batches a model runs on (``plan``), and how their per-jet results go back to the inputs' order.

    Parameters
    ----------
    batches : tuple of Batch
        The batches, in the order they run.
    order : torch.Tensor, optional
        The input positions of the jets in batch order (int64, shape (jets,)); None: the inputs' order.
    """

    batches: tuple[Batch, ...]
    order: torch.Tensor | None = None  # the input positions of the jets in batch order; None: the inputs' order

    @property
    def reordered(self) -> bool:
        """Whether the batches take the jets in another order than the inputs'."""
        return self.order is not None

    def jets(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """One per-jet result (jets, ...) from the batches' parts, in the inputs' order.

        Parameters
        ----------
        parts : list of torch.Tensor
            Per batch, in batch order, its result with the batch's jets along the first dimension.

        Returns
        -------
        torch.Tensor
            The parts joined and put back in the inputs' order (an empty tensor where there are no parts).
        """
        joined = torch.cat(parts) if parts else torch.empty(0)
        if self.order is None:
            return joined
        out = joined.new_empty(joined.shape)
        out[self.order] = joined
        return out

    def inputs_like(self, parts: list[torch.Tensor], k: int, like: torch.Tensor) -> torch.Tensor:
        """A result shaped like input ``k`` (relevance) from the batches' parts: the cut slots come back as zeros.

        Parameters
        ----------
        parts : list of torch.Tensor
            Per batch, in batch order, its result for input ``k``, shaped like that batch's part of it
            (``Batch.take``).
        k : int
            The input's position in ``forward`` order.
        like : torch.Tensor
            The whole input ``k``: the shape, dtype and device of the result.

        Returns
        -------
        torch.Tensor
            The parts in the inputs' order, shaped like ``like``, zero in the slots the batches cut.
        """
        if self.order is None:
            return torch.cat(parts)
        out = like.new_zeros(like.shape)
        for batch, part in zip(self.batches, parts):
            n = batch.slots[k]
            if n is None:
                out[batch.rows] = part
            else:
                out[batch.rows, :n] = part
        return out


def used_slots(objects: torch.Tensor) -> torch.Tensor:
    """One past each jet's last slot with a non-zero feature, in a (jets, slots, features) list (0: none).

    The criterion is the taggers' own (``RealParticles``): a slot whose features are all zero is padding.

    Parameters
    ----------
    objects : torch.Tensor
        A list of objects per jet, shape (jets, slots, features).

    Returns
    -------
    torch.Tensor
        Shape (jets,), int64: the number of leading slots each jet uses.
    """
    real = (objects != 0).any(dim=-1)
    place = torch.arange(1, objects.shape[1] + 1, device=objects.device)
    return (real * place).amax(dim=1) if objects.shape[1] else real.new_zeros(objects.shape[0], dtype=torch.long)


def plan(model: torch.nn.Module | None, inputs: tuple[torch.Tensor, ...], batch_size: int | None) -> Plan:
    """The batches in which ``model`` runs on ``inputs``.

    A model that declares ``trimmable_inputs`` gets its jets ordered by the slots they use, in batches cut to
    their longest jet and kept under ``ELEMENT_BUDGET`` activation elements (``batch_elements``); any other gets
    plain batches in order.

    Parameters
    ----------
    model : torch.nn.Module or None
        The tagger; None: plain batches in order (no trimming of padded slots).
    inputs : tuple of torch.Tensor
        The model's inputs, in ``forward`` order, each with jets along the first dimension.
    batch_size : int or None
        At most this many jets per batch (at least 1); None: all at once.

    Returns
    -------
    Plan
        The batches, and the jets' order where it is not the inputs'.
    """
    n = inputs[0].shape[0] if inputs else 0
    size = n if batch_size is None else max(int(batch_size), 1)
    trimmable = tuple(getattr(model, "trimmable_inputs", ()))
    if not trimmable or n == 0:
        whole = (None,) * len(inputs)
        return Plan(tuple(Batch(slice(i, i + size), whole) for i in range(0, n, max(size, 1))))
    lengths = torch.stack([used_slots(inputs[k]).cpu() for k in trimmable], dim=1)  # (jets, trimmable)
    order = _by_length(lengths)
    sorted_lengths = lengths[order]
    batches, start = [], 0
    while start < n:
        stop = _batch_end(model, sorted_lengths, start, size)
        longest = sorted_lengths[start:stop].amax(dim=0).tolist()
        slots: list[int | None] = [None] * len(inputs)
        for k, m in zip(trimmable, longest):
            # at least one slot (all padding where the jets have none): a convolution needs a length
            slots[k] = min(max(int(m), 1), inputs[k].shape[1])
        batches.append(Batch(order[start:stop], tuple(slots)))
        start = stop
    return Plan(tuple(batches), order)


def _by_length(lengths: torch.Tensor) -> torch.Tensor:
    """Jets ordered by their used slots, the first trimmable input first (stable: ties keep the inputs' order)."""
    order = torch.arange(lengths.shape[0])
    for k in reversed(range(lengths.shape[1])):
        order = order[torch.sort(lengths[order, k], stable=True).indices]
    return order


def _batch_end(model, sorted_lengths: torch.Tensor, start: int, size: int) -> int:
    """The end of the batch that starts at ``start``: as many jets as fit the element budget (at least one)."""
    stop = min(start + size, sorted_lengths.shape[0])
    # the first input's length only grows along the order; the others' running maxima bound the batch from above
    longest = torch.cummax(sorted_lengths[start:stop], dim=0).values
    cost = model.batch_elements(longest).to(torch.float64)  # per jet, for a batch this long
    jets = torch.arange(1, stop - start + 1, dtype=torch.float64)
    fits = int((cost * jets <= ELEMENT_BUDGET).sum())
    return start + max(fits, 1)


def logits(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], batches: Plan) -> torch.Tensor:
    """The model's outputs on ``inputs`` in the planned batches, no gradient, in the inputs' order.

    Parameters
    ----------
    model : torch.nn.Module
        The tagger.
    inputs : tuple of torch.Tensor
        Its inputs, in ``forward`` order.
    batches : Plan
        The batches (``plan(model, inputs, batch_size)``).

    Returns
    -------
    torch.Tensor
        The model's outputs, one row per jet (shape (jets, ...)), in the inputs' order.
    """
    with torch.no_grad():
        return batches.jets([model(*b.take(inputs)) for b in batches.batches])
