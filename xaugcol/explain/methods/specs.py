"""Explanation methods by name.

What a user writes (a preset name, a method name, or a mapping, in Python or YAML) becomes a ``MethodSpec``: plain,
picklable data that travels to executor workers, fingerprints a run for ``--resume``, and builds the attributor for
a model where it runs.

Accepted entries:
* an LRP preset name (``epsilon``, ``alpha1beta0``, ``gamma``...): LRP with that composite;
* ``gradient_x_input``, ``integrated_gradients`` (zero baseline, 32 steps; ``{method: integrated_gradients,
  steps: 64}`` for more);
* a mapping ``{method: lrp, composite: <composite>}`` where the composite is a preset name or a composite mapping
  (``preset``/``options``/``default``/``first``/``layers``/``names``/``lstm``/``stabiliser``, see
  ``xaugcol.explain.lrp.composite``), or ``{method: gradient_x_input}``; with ``name:`` the label it has in
  histograms and reports (required for a composite mapping);
* a ``Composite`` object (Python), named with ``name``.

Adding a method: an attributor class (``base.Attributor``) and one entry in ``METHODS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from xaugcol.explain.lrp import Composite, preset
from xaugcol.explain.lrp.composite import PRESETS
from xaugcol.explain.methods.base import Attributor
from xaugcol.explain.methods.gradient import GradientXInput
from xaugcol.explain.methods.integrated import IntegratedGradients, check_steps
from xaugcol.explain.methods.lrp import LRPAttributor
from xaugcol.paths import UnsafePathError, plain_name
from xaugcol.quoting import quoted

# method name: (attributor class, the options it takes); every method but lrp may be named alone (its defaults)
METHODS: dict[str, tuple[Callable[..., Attributor], set[str]]] = {
    "lrp": (lambda model, composite="epsilon": LRPAttributor(model, composite), {"composite"}),
    "gradient_x_input": (lambda model: GradientXInput(model), set()),
    "integrated_gradients": (lambda model, steps=32: IntegratedGradients(model, steps), {"steps"}),
}
# options checked when a method is named, before any model is built
OPTION_CHECKS = {"steps": check_steps}


@dataclass(frozen=True)
class MethodSpec:
    """An explanation method as plain data (module docstring).

    Parameters
    ----------
    name : str
        Its label: the ``rule`` axis of its histograms and summaries, a plain name without ``__``.
    method : str
        A key of ``METHODS``: ``lrp``, ``gradient_x_input`` or ``integrated_gradients``.
    options : dict, optional
        The method's options (``composite`` for LRP, ``steps`` for integrated gradients); default: none.
    """

    name: str  # the label of its histograms and summaries (the ``rule`` axis)
    method: str
    options: dict = field(default_factory=dict)

    def attributor(self, model: torch.nn.Module) -> Attributor:
        """The method bound to ``model`` (``base.Attributor``).

        Parameters
        ----------
        model : torch.nn.Module
            The tagger to explain.

        Returns
        -------
        Attributor
            ``LRPAttributor``, ``GradientXInput`` or ``IntegratedGradients`` built with ``options``.
        """
        return METHODS[self.method][0](model, **self.options)

    def fingerprint(self) -> str:
        """A stable description, for the checkpoint manifest (a Composite object by its dataclass repr).

        Returns
        -------
        str
            JSON of the name, the method and the options, keys sorted; values JSON cannot write by their ``repr``.
        """
        return json.dumps(
            {"name": self.name, "method": self.method, "options": self.options}, sort_keys=True, default=repr
        )

    def describe(self) -> dict:
        """The fingerprint as a mapping (for reports).

        Returns
        -------
        dict
            ``{"name": ..., "method": ..., "options": {...}}``, options as the fingerprint writes them.
        """
        return json.loads(self.fingerprint())


# a user's entry for one method: a name, a mapping (a name, a composite, options), a spec or an LRP composite
MethodEntry = str | Mapping[str, Any] | MethodSpec | Composite


def method_spec(entry: MethodEntry, name: str | None = None, where: str = "explanation method") -> MethodSpec:
    """A validated ``MethodSpec`` from a user entry (see the module docstring).

    LRP composites are built once here, so a wrong rule name or parameter fails before any chunk runs.

    Parameters
    ----------
    entry : str, Mapping, MethodSpec or Composite
        A preset or method name, a mapping (``method``, ``name``, the method's options), a spec (returned as it is)
        or a ``Composite`` object.
    name : str, optional
        The label, where the entry does not give one; default: the method's or preset's name (a composite
        mapping or object must be named).
    where : str, default "explanation method"
        Where the entry comes from, for the messages.

    Returns
    -------
    MethodSpec
        The method, its plain label and its options.

    Raises
    ------
    ValueError
        For an unknown name, method or option, an invalid option or composite, a missing or unusable label.
    """
    if isinstance(entry, MethodSpec):
        return entry
    if isinstance(entry, Composite):
        return _named(MethodSpec(_need_name(name, where), "lrp", {"composite": entry}), where)
    if isinstance(entry, str):
        if entry in METHODS and entry != "lrp":
            return _named(MethodSpec(name or entry, entry), where)
        if entry in PRESETS:
            preset(entry)  # presets that need options (bounds) say so here
            return _named(MethodSpec(name or entry, "lrp", {"composite": entry}), where)
        raise ValueError(
            f"{where}: unknown LRP preset {quoted(entry)}, and no method of that name; known presets: "
            f"{', '.join(PRESETS)}; methods: {', '.join(m for m in METHODS if m != 'lrp')}; or a "
            f"mapping with 'method' (and a 'composite' for LRP)"
        )
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a name or a mapping, got {quoted(entry)}")
    entry = dict(entry)
    name = entry.pop("name", name)
    method = entry.pop("method", "lrp" if "composite" in entry else None)
    if method not in METHODS:
        raise ValueError(f"{where}: 'method' must be one of {', '.join(METHODS)}, got {quoted(method)}")
    allowed = METHODS[method][1]
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {quoted(sorted(unknown))} of method {quoted(method)}; "
            f"known: {sorted(allowed) or 'none'}"
        )
    for option, value in entry.items():
        if option in OPTION_CHECKS:
            try:
                OPTION_CHECKS[option](value)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
    if method != "lrp" and name is None:
        name = method
    if method == "lrp":
        composite = entry.get("composite", "epsilon")
        Composite.from_spec(composite, f"{where}.composite")  # validated now, built again where it runs
        if name is None and isinstance(composite, str):
            name = composite
    return _named(MethodSpec(_need_name(name, where), method, entry), where)


def method_specs(entries: MethodEntry | Iterable[MethodEntry]) -> tuple[MethodSpec, ...]:
    """The explanation methods of several configuration entries.

    Parameters
    ----------
    entries : str, dict, MethodSpec, Composite or an iterable of them
        A method's name, a mapping, or a list of them; the methods' names must be unique.

    Returns
    -------
    tuple of MethodSpec
        One per entry, in order.

    Raises
    ------
    ValueError
        No entry, an unknown or malformed entry, or two methods of the same name.
    """
    if isinstance(entries, (str, dict, MethodSpec, Composite)):
        entries = [entries]
    specs = tuple(method_spec(e, where=f"explanation method {k + 1}") for k, e in enumerate(entries))
    names = [s.name for s in specs]
    if not specs:
        raise ValueError("no explanation method given")
    if len(set(names)) != len(names):
        raise ValueError(f"explanation method names must be unique, got {names}")
    return specs


def _need_name(name, where) -> str:
    if not name:
        raise ValueError(f"{where}: a composite needs a 'name' (the label of its histograms)")
    return name


def _named(spec: MethodSpec, where: str) -> MethodSpec:
    try:
        plain_name(spec.name, f"{where} name")  # it names histograms, ROOT folders and figure files
    except UnsafePathError as err:
        raise ValueError(str(err)) from None
    if "__" in spec.name or "/" in spec.name:
        raise ValueError(f"{where}: name {quoted(spec.name)} may not contain '__' (it separates ROOT histogram names)")
    return spec
