"""One registry builds any tagger from a validated configuration (``build_model(config)``)."""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field

from torch import nn

from xaugcol.models.taggers import CNN1D, CNN2D, XAUGDNN, LSTMTagger

MODELS: dict[str, type[nn.Module]] = {"cnn2d": CNN2D, "cnn1d": CNN1D, "lstm": LSTMTagger, "dnn": XAUGDNN}

# the jet-table columns a tagger sees as "XAUG variables" unless told otherwise
DEFAULT_XAUG = ("msd", "tau1", "tau2", "tau3", "tau4", "tau21", "tau32", "n2", "d2", "sj_z", "sj_dr", "sj1_pt",
                "sj2_pt", "pt", "mass", "n_constituents")


@dataclass(frozen=True)
class ModelConfig:
    model: str
    xaug: bool = False
    xaug_columns: tuple[str, ...] = DEFAULT_XAUG
    architecture: dict = field(default_factory=dict)  # keyword arguments of the tagger class (channels, hidden...)
    n_pixels: int = 37  # input shapes, taken from the data when training
    n_particles: int = 50
    n_features: int = 17

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; known: {', '.join(MODELS)}")
        if not isinstance(self.xaug, bool):
            raise ValueError(f"'xaug' must be true or false, got {self.xaug!r}")
        if self.model == "dnn" and not self.xaug:
            raise ValueError("model 'dnn' uses the XAUG variables only: it needs xaug = true")
        if not (isinstance(self.xaug_columns, (list, tuple)) and all(isinstance(c, str) for c in self.xaug_columns)
                and self.xaug_columns):
            raise ValueError("'xaug_columns' must be a non-empty list of jet-table column names")
        if not isinstance(self.architecture, dict):
            raise ValueError("'architecture' must be a mapping of the tagger's options")
        allowed = set(inspect.signature(MODELS[self.model]).parameters) - _SHAPE_ARGS
        unknown = set(self.architecture) - allowed
        if unknown:
            raise ValueError(f"architecture of {self.model!r}: unknown option(s) {sorted(unknown)}; "
                             f"known: {sorted(allowed)}")
        object.__setattr__(self, "xaug_columns", tuple(self.xaug_columns))

    def inputs(self) -> tuple[str, ...]:
        """The jet-table inputs the tagger takes, in ``forward`` order."""
        body = {"cnn2d": ("image",), "cnn1d": ("particles",), "lstm": ("particles",), "dnn": ()}[self.model]
        return body + (("xaug",) if self.xaug else ())

    def as_dict(self) -> dict:
        d = asdict(self)
        d["xaug_columns"] = list(self.xaug_columns)
        return d

    @classmethod
    def from_dict(cls, data: dict, where: str = "model config") -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        if "model" not in data:
            raise ValueError(f"{where}: 'model' is required (one of {', '.join(MODELS)})")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None


_SHAPE_ARGS = {"n_pixels", "n_particles", "n_features", "n_xaug", "use_xaug"}


def build_model(config: ModelConfig) -> nn.Module:
    """The tagger described by ``config`` (weights freshly initialised from torch's current RNG state)."""
    cls = MODELS[config.model]
    shapes = {"n_pixels": config.n_pixels, "n_particles": config.n_particles, "n_features": config.n_features,
              "n_xaug": len(config.xaug_columns) if config.xaug else 0, "use_xaug": config.xaug}
    params = set(inspect.signature(cls).parameters)
    kwargs = {k: v for k, v in shapes.items() if k in params}
    kwargs.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in config.architecture.items()})
    return cls(**kwargs)
