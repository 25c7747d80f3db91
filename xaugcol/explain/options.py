"""What an explanation run does, in one object: the methods, the jets, the batch, and which of the extra
analyses run. ``xaugcol explain`` builds it from its options, a study's ``explain`` section is one (with the run's
settings and the report's example jets beside it), and it travels whole from ``run_relevance`` to the relevance
processor and ``explain_rows``.

The defaults are the command line's and a study's alike: the LRP presets epsilon and alpha1beta0 on the test
split, and none of the extra analyses, which cost one to several times the explanation itself (each is switched
on by its field: ``faithfulness_steps``, ``sanity_jets``, ``occlusion_fraction``, ``activations``, ``edges``).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from xaugcol.config_models import Bool, ConfigModel, NonNegativeInt, PositiveInt, at_most, one_of
from xaugcol.explain.methods import method_specs
from xaugcol.limits import MAX_FAITHFULNESS_STEPS, MAX_SANITY_JETS

SPLIT_CHOICES = ("test", "val", "train", "all")
DEFAULT_RULES = ("epsilon", "alpha1beta0")
LIMITS = {"faithfulness_steps": MAX_FAITHFULNESS_STEPS, "sanity_jets": MAX_SANITY_JETS}


class ExplainOptions(ConfigModel):
    """The options of an explanation run (``xaugcol.coffea_runs.run_relevance``)."""

    rules: tuple = DEFAULT_RULES  # explanation methods: LRP presets, gradient_x_input, mappings (explain.methods)
    split: str = "test"  # the jets explained: test (no member trained on them), val, train or all
    batch_size: PositiveInt = 512  # jets per pass (the taggers' batches plan within it: models.batching)
    threads: PositiveInt = 1  # torch threads per worker
    faithfulness_steps: NonNegativeInt = 0  # input-perturbation curves (explain.faithfulness); 0: none
    faithfulness_fraction: float = Field(1.0, gt=0, le=1)  # of the explained jets, chosen by a hash
    sanity_jets: NonNegativeInt = 0  # per class, the model-randomisation check (explain.sanity); 0: none
    occlusion_fraction: float = Field(0.0, ge=0, le=1)  # of the explained jets, each feature occluded; 0: none
    activations: Bool = False  # the neuron-activation patterns (explain.activations)
    edges: Bool = False  # the relevance of ParticleNet's kNN edges under each LRP method (explain.edges)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, rules):
        entries = list(rules) if isinstance(rules, (list, tuple)) else [rules]
        if not entries:
            raise ValueError("no explanation methods given")
        method_specs(entries)  # every name, composite and option checked now
        return tuple(entries)

    @field_validator("split")
    @classmethod
    def _split(cls, split):
        return one_of(split, SPLIT_CHOICES)

    @field_validator("faithfulness_steps", "sanity_jets")
    @classmethod
    def _at_most(cls, value, info):
        return at_most(value, LIMITS[info.field_name])

    @property
    def method_names(self) -> tuple[str, ...]:
        """The names the methods' histograms, summaries and figures carry.

        Returns
        -------
        tuple of str
            One name per method of ``rules``.
        """
        return tuple(m.name for m in method_specs(self.rules))
