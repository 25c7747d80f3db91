"""The demo: the whole chain on toy jets, sized to finish in under 10 minutes on 2 CPU cores."""

from __future__ import annotations

from xaugcol.workflow.config import Workflow

TAGGERS = [{"model": m, "xaug": x} for m in ("cnn2d", "cnn1d", "lstm") for x in (False, True)] + [
    {"model": "dnn", "xaug": True}
]


def demo_config(
    jets: int = 3000, epochs: int = 6, seeds: int = 3, top_k: int | None = None, workers: int = 2
) -> Workflow:
    """The demo study: toy jets, three taggers each with and without XAUG, the XAUG DNN, LRP, reduced sets.

    Parameters
    ----------
    jets : int, default 3000
        Toy jets per class.
    epochs : int, default 6
        The training epochs of every member.
    seeds : int, default 3
        The ensemble members per tagger (seeds 0..seeds-1).
    top_k : int, optional
        Retrain the DNN for k = 1..top_k; None: for every number of XAUG variables.
    workers : int, default 2
        The processing and explanation workers, and the members trained side by side.

    Returns
    -------
    Workflow
        The validated study (named ``demo`` in errors).
    """
    chunk = max(jets // 2, 100)
    return Workflow.from_dict(
        {
            "name": "xaugcol demo: toy two-prong vs one-prong jets",
            "source": {"kind": "toy", "events": jets, "seed": 1},
            "processing": {"chunksize": chunk, "executor": "futures", "workers": workers},
            "seeds": seeds,
            # the members side by side, one process per worker (xaugcol.training.member_pool)
            "training": {"epochs": epochs, "batch_size": 128, "patience": 3, "processes": workers},
            "taggers": TAGGERS,
            # perturbation curves on 30 % of the test jets and 8 steps (25 forward passes per member and method): a
            # quarter of the full curves' cost, about 40 s; the randomisation check on 25 jets per class; occlusion
            # of every feature on 30 % of the test jets (one forward pass per feature and member); activation patterns
            "explain": {
                "rules": ["epsilon", "alpha1beta0"],
                "split": "test",
                "chunksize": chunk,
                "executor": "futures",
                "workers": workers,
                "faithfulness_steps": 8,
                "faithfulness_fraction": 0.3,
                "sanity_jets": 25,
                "occlusion_fraction": 0.3,
                "activations": True,
            },
            "reduced": {"tagger": "dnn", "rule": "epsilon", "k": list(range(1, top_k + 1)) if top_k else None},
        },
        "demo",
    )
