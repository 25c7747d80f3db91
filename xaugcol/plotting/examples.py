"""LRP of a few example jets: per input, the relevance of each pixel, particle or XAUG variable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xaugcol.explain.ensemble import Ensemble
from xaugcol.explain.lrp import LRP
from xaugcol.features.particles import FEATURES
from xaugcol.plotting.relevance import feature_label
from xaugcol.plotting.style import CLASS_NAMES, figure, label, panel_title, save
from xaugcol.training.data import JetTables, model_inputs


def example_relevance(ensemble: Ensemble, jets_folder, rule: str, per_class: int = 2):
    """(rows, relevance per input, output logit) of the first ``per_class`` test jets of each class, explained
    by the ensemble's first member."""
    tables = JetTables(jets_folder, ensemble.spec)
    extra = ["particles_mask", "particles"] if "particles" in ensemble.spec.inputs else []
    rows = tables.examples("test", tables.columns + extra, per_class)
    seed, model, scaler = ensemble.load_members()[0]
    inputs = model_inputs(rows, ensemble.spec, scaler.transform if scaler is not None else None)
    result = LRP(model, rule)(*[torch.from_numpy(inputs[k]) for k in ensemble.spec.inputs])
    relevance = {k: r.detach().numpy() for k, r in zip(ensemble.spec.inputs, result.relevance)}
    return rows, relevance, result.output.detach().numpy()


def plot_examples(ensemble: Ensemble, jets_folder, rule: str, out_stem, sample: str,
                  per_class: int = 2) -> list[Path]:
    rows, relevance, output = example_relevance(ensemble, jets_folder, rule, per_class)
    inputs = ensemble.spec.inputs
    n = len(rows["label"])
    fig, axes = figure(n, len(inputs), width=6.0, height=5.5)
    for j in range(n):
        title = f"{CLASS_NAMES[int(rows['label'][j])]} jet, logit {output[j]:+.2f}"
        for i, name in enumerate(inputs):
            ax = axes[i, j]
            r = relevance[name][j]
            if name == "image":
                vmax = float(np.abs(r).max()) or 1.0
                mesh = ax.imshow(r[0], cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=(-2.5, 2.5, -2.5, 2.5))
                fig.colorbar(mesh, ax=ax, label="relevance")
                ax.set_xlabel("x [prong distances]", fontsize=12)
                ax.set_ylabel("y [prong distances]", fontsize=12)
            elif name == "particles":
                mask = rows["particles_mask"][j].astype(bool)
                p = rows["particles"][j][mask]
                per_particle = r[mask].sum(axis=1)
                vmax = float(np.abs(per_particle).max()) or 1.0
                size = 400 * np.exp(p[:, FEATURES.index("log_pt_rel")])
                sc = ax.scatter(p[:, FEATURES.index("deta_jet")], p[:, FEATURES.index("dphi_jet")], s=size,
                                c=per_particle, cmap="RdBu_r", vmin=-vmax, vmax=vmax, edgecolors="k")
                fig.colorbar(sc, ax=ax, label="relevance (sum over features)")
                ax.set_xlabel(r"$\Delta\eta$", fontsize=12)
                ax.set_ylabel(r"$\Delta\phi$", fontsize=12)
            else:
                cols = list(ensemble.spec.xaug_columns)
                ax.barh(np.arange(len(cols)), r, color=np.where(r >= 0, "#bd1f01", "#3f90da"))
                ax.set_yticks(np.arange(len(cols)), [feature_label(c) for c in cols], fontsize=10)
                ax.set_xlabel("relevance", fontsize=12)
            ax.tick_params(labelsize=10)
            if i == 0:
                panel_title(ax, title)
    label(axes[0, 0], f"{sample}; {ensemble.name}, LRP {rule}", axes[0, -1])
    return save(fig, out_stem)
