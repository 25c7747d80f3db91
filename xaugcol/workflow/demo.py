"""The demo: the whole chain on toy jets, sized to finish in under 10 minutes on 2 CPU cores."""

from __future__ import annotations

from xaugcol.workflow.config import Workflow

TAGGERS = [{"model": m, "xaug": x} for m in ("cnn2d", "cnn1d", "lstm") for x in (False, True)] + [
    {"model": "dnn", "xaug": True}
]


def demo_config(
    jets: int = 3000, epochs: int = 6, seeds: int = 3, top_k: int | None = None, workers: int = 2
) -> Workflow:
    """``jets`` per class; ``top_k``: retrain the DNN for k = 1..top_k (None: every XAUG variable)."""
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
