"""Per-jet outputs of a trained tagger ensemble on a split of the jet tables, keyed by jet identity, so that two
taggers (or a tagger and jet-table columns) are compared on the same jets whatever order their readers took.

The ensemble's score of a jet is the mean over its members of the logit: a monotonic map of the mean probability
would order jets alike, but logits keep saturated jets apart (a float32 sigmoid ties them at 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xaugcol.processing.table_io import JETS_DIR
from xaugcol.training.data import JetTables, model_inputs

if TYPE_CHECKING:
    from xaugcol.features.scaler import InputScalers

IDENTITY = ("dataset", "run", "luminosityBlock", "event", "fatjet_index")
READ = IDENTITY[1:]  # the dataset is the table's folder (jets/<dataset>/), not a column


@dataclass(frozen=True)
class SplitJets:
    """Jets of one split in a canonical order (sorted by identity): labels, weights, named per-jet values.

    Parameters
    ----------
    keys : numpy.ndarray
        The jets' identities, a structured array of shape (jets,) with the fields ``dataset``, ``run``,
        ``luminosityBlock``, ``event``, ``fatjet_index`` (``IDENTITY``), sorted.
    label : numpy.ndarray
        The class of each jet, shape (jets,), int (1: signal, 0: background).
    weight : numpy.ndarray
        The event weight of each jet, shape (jets,), float64.
    values : dict of str to numpy.ndarray
        Named per-jet values in the same order: a column's values, shape (jets,), or a tagger's ``"logits"``,
        shape (members, jets), and their mean ``"score"``, shape (jets,).
    """

    keys: np.ndarray  # structured (dataset, run, luminosityBlock, event, fatjet_index)
    label: np.ndarray
    weight: np.ndarray
    values: dict  # name -> (jets,) or (members, jets)

    def aligned(self, other: SplitJets) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into self, into other) of the jets both hold, in self's order.

        Parameters
        ----------
        other : SplitJets
            Jets of the same split read for another tagger or other columns.

        Returns
        -------
        i : numpy.ndarray
            The indices into ``self`` of the shared jets, shape (shared,), int.
        j : numpy.ndarray
            The indices into ``other`` of the same jets, in the same order.
        """
        _, i, j = np.intersect1d(self.keys, other.keys, assume_unique=True, return_indices=True)
        return i, j


def _keys(rows: dict) -> np.ndarray:
    keys = np.empty(
        len(rows["label"]),
        dtype=[("dataset", "U64"), ("run", "i8"), ("luminosityBlock", "i8"), ("event", "i8"), ("fatjet_index", "i8")],
    )
    for name in IDENTITY:
        keys[name] = rows[name]
    return keys


def split_jets(
    tables: JetTables,
    split: str,
    columns: list[str],
    members: Sequence[tuple[int, torch.nn.Module, InputScalers]] = (),
    batch_size: int = 4096,
) -> SplitJets:
    """Read the ``columns`` of a split's jets and the per-jet logits of an ensemble's members.

    The jets are those ``tables`` selects. For ``members`` ([(seed, model, scalers)] of one ensemble, reading
    ``tables.spec``'s inputs), each member's logit is kept (``values["logits"]``, members x jets) with their mean
    (``values["score"]``).

    Parameters
    ----------
    tables : JetTables
        The jet tables, with the data specification (inputs, selection) of the ensemble in ``members``.
    split : str
        The split to read: ``"train"``, ``"val"`` or ``"test"``.
    columns : list of str
        Per-jet table columns to keep in ``values`` (may be empty).
    members : sequence of tuple of (int, torch.nn.Module, InputScalers), optional
        The ensemble's members as ``Ensemble.load_members`` returns them: (seed, model in eval mode, input
        scalers). Empty (the default): no logits are computed.
    batch_size : int, default 4096
        The jets a model is given at once.

    Returns
    -------
    SplitJets
        The split's jets sorted by identity, with the ``columns`` and, for ``members``, ``"logits"`` (shape
        (members, jets), float64) and ``"score"`` (their mean, shape (jets,)).

    Raises
    ------
    ValueError
        When the split holds no selected jets, or the same jet identity appears twice.
    """
    names = tables.spec.inputs
    wanted = list(dict.fromkeys([*tables.columns, *columns, *READ]))
    parts: dict[str, list] = {c: [] for c in [*wanted, "dataset"]}
    logits: list[list[np.ndarray]] = [[] for _ in members]
    with torch.no_grad():
        for block in tables.blocks(split, wanted):
            for c in wanted:
                parts[c].append(block[c])
            dataset = str(Path(block["__file__"]).parent.relative_to(tables.folder / JETS_DIR))
            parts["dataset"].append(np.full(len(block["label"]), dataset))
            for k, (_, model, scalers) in enumerate(members):
                inputs = model_inputs(block, tables.spec, scalers)
                out = [
                    model(*(torch.from_numpy(inputs[n][s : s + batch_size]) for n in names)).numpy()
                    for s in range(0, len(block["label"]), batch_size)
                ]
                logits[k].append(np.concatenate(out).astype(np.float64))
    if not parts["label"] or not sum(len(p) for p in parts["label"]):
        raise ValueError(f"the {split} split of {tables.folder} holds no jets the taggers select")
    rows = {c: np.concatenate(v) for c, v in parts.items()}
    keys = _keys(rows)
    order = np.argsort(keys, order=list(IDENTITY))
    if len(np.unique(keys)) != len(keys):
        raise ValueError(f"jet tables {tables.folder}: the same jet identity appears twice in the {split} split")
    values = {c: rows[c][order] for c in columns}
    if members:
        stacked = np.stack([np.concatenate(m) for m in logits])[:, order]
        values["logits"], values["score"] = stacked, stacked.mean(0)
    return SplitJets(keys[order], rows["label"][order].astype(int), rows["weight"][order].astype(np.float64), values)
