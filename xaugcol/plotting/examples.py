"""Relevance of a few example jets: per input kind, the relevance of each pixel, object or scalar feature.

How a panel is drawn follows from what the kind declares: a map (the jet image) as a heat map, objects with
positions (particles) as a scatter coloured by their summed relevance, scalar features as bars."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.methods import MethodSpec, method_spec
from xaugcol.features.kinds import feature_label
from xaugcol.plotting.style import (
    CLASS_NAMES,
    WITH_COLOURBAR,
    clear_bands,
    colorbar,
    figure,
    hbars,
    label,
    panel_title,
    save,
    text_width,
)
from xaugcol.processing.settings import ProcessingConfig
from xaugcol.training.data import JetTables, model_inputs

DIVERGING = {"cmap": "RdBu_r"}


def example_relevance(
    ensemble: Ensemble,
    jets_folder: str | Path,
    rule: str | dict[str, Any] | MethodSpec,
    per_class: int = 2,
    split: str = "test",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The relevance of the first ``per_class`` jets of each class in ``split``, by the ensemble's first member.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger's ensemble.
    jets_folder : str or Path
        The processing output folder with the jet tables.
    rule : str, dict or MethodSpec
        The explanation method (an entry ``xaugcol.explain.methods.method_spec`` reads).
    per_class : int
        Jets per class.
    split : str
        The split the relevance run explained.

    Returns
    -------
    (dict, dict, np.ndarray)
        The jets' table columns, the relevance per model input, and the output logits.
    """
    tables = JetTables(jets_folder, ensemble.spec)
    extra = [c for kind in ensemble.spec.kinds for c in (*kind.columns(), *kind.extra_columns())]
    rows = tables.examples(split, list(dict.fromkeys(tables.columns + extra)), per_class)
    seed, model, scalers = ensemble.load_members()[0]
    inputs = model_inputs(rows, ensemble.spec, scalers)
    result = method_spec(rule).attributor(model)(*[torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs])
    relevance = {k: r.detach().numpy() for k, r in zip(ensemble.spec.inputs, result.relevance)}
    return rows, relevance, result.output.detach().numpy()


def plot_examples(
    ensemble: Ensemble,
    jets_folder: str | Path,
    rule: str | dict[str, Any] | MethodSpec,
    out_stem: str | Path,
    sample: str,
    per_class: int = 2,
    processing: ProcessingConfig | None = None,
    split: str = "test",
) -> list[Path]:
    """The relevance of a few example jets (``example_relevance``): one column per jet, one row per input kind.

    Parameters
    ----------
    ensemble : Ensemble
        The tagger's ensemble; its first member is explained.
    jets_folder : str or Path
        The processing output folder with the jet tables.
    rule : str, dict or MethodSpec
        The explanation method (an entry ``xaugcol.explain.methods.method_spec`` reads); its name goes into the
        label above the figure.
    out_stem : str or Path
        The figure's path without suffix.
    sample : str
        The sample's label above the figure.
    per_class : int, default 2
        Jets per class.
    processing : ProcessingConfig, optional
        The configuration of the jet tables (the image geometry); default: the default one.
    split : str, default "test"
        The split the jets come from.

    Returns
    -------
    list of Path
        The files written.
    """
    processing = processing or ProcessingConfig()
    rows, relevance, output = example_relevance(ensemble, jets_folder, rule, per_class, split)
    kinds = ensemble.spec.kinds
    n = len(rows["label"])
    # bars of scalar features carry their names at the left; maps and objects a colour bar at the right
    first = {k: v[:1] for k, v in rows.items()}
    bar_labels = [
        feature_label(c)
        for kind in kinds
        if kind.map_axes(processing) is None and kind.object_positions(first) is None
        for c in kind.feature_names()
    ]
    names_width = text_width(bar_labels, 10) if bar_labels else 0.0
    margins = replace(WITH_COLOURBAR, left=max(1.0, names_width + 0.35), wspace=max(2.1, names_width + 0.5))
    fig, axes = figure(n, len(kinds), width=6.0 + names_width / 2, height=5.5, margins=margins)
    name = method_spec(rule).name
    for j in range(n):
        title = f"{CLASS_NAMES[int(rows['label'][j])]} jet, logit {output[j]:+.2f}"
        for i, kind in enumerate(kinds):
            ax = axes[i, j]
            r = relevance[kind.name][j]
            positions = kind.object_positions({k: v[j : j + 1] for k, v in rows.items()})
            map_axes = kind.map_axes(processing)
            if map_axes is not None:
                n_pixels, extent, unit = map_axes
                image = kind.map_values({}, r[None]).reshape(n_pixels, n_pixels)
                vmax = float(np.abs(image).max()) or 1.0
                mesh = ax.imshow(image, vmin=-vmax, vmax=vmax, extent=(-extent, extent, -extent, extent), **DIVERGING)
                colorbar(fig, mesh, ax, "relevance")
                ax.set_xlabel(f"x [{unit}]", fontsize=12)
                ax.set_ylabel(f"y [{unit}]", fontsize=12)
            elif positions is not None:
                x, y, size, mask = (p[0] for p in positions)
                per_object = r[mask].sum(axis=tuple(range(1, r.ndim)))  # a jet may have none (no vertex)
                vmax = float(np.abs(per_object).max(initial=0.0)) or 1.0
                sc = ax.scatter(
                    x[mask], y[mask], s=size[mask], c=per_object, vmin=-vmax, vmax=vmax, edgecolors="k", **DIVERGING
                )
                colorbar(fig, sc, ax, "relevance (sum over features)")
                ax.set_xlabel(r"$\Delta\eta$", fontsize=12)
                ax.set_ylabel(r"$\Delta\phi$", fontsize=12)
            else:
                names = kind.feature_names()
                values = kind.feature_sums(r[None]) * np.sign(r.reshape(1, len(names), -1).sum(-1))
                values = values[0]
                hbars(ax, np.arange(len(names)), values, 0.8, np.where(values >= 0, "#bd1f01", "#3f90da"))
                ax.set_yticks(np.arange(len(names)), [feature_label(c) for c in names], fontsize=10)
                ax.set_xlabel("relevance", fontsize=12)
            ax.tick_params(labelsize=10)
            if i == 0:
                text = panel_title(ax, title)
                if map_axes is None:  # over objects or bars: in a band of its own above them
                    lo, hi = (-0.6, len(kind.feature_names()) - 0.4) if positions is None else ax.get_ylim()
                    clear_bands([ax], lo, hi, top=[text])
    label(axes[0, 0], f"{sample}; {ensemble.name}, {name}", axes[0, -1])
    return save(fig, out_stem)
