"""The region a tagger was trained on, and how many jets it is later applied to lie outside it.

Training records, per jet-table column, the range of its training jets (smallest and largest value) and how many
there were: the jet kinematics (pt, eta, mass) and every column its scaled inputs read (the XAUG variables). A jet
outside that range in any of them asks the tagger to extrapolate, and its explanation describes an extrapolation:
the relevance run counts such jets per tagger and column, and the report and the console give the fractions.

Even jets drawn from the training distribution fall outside the range of N training jets now and then: in one
column with probability 2 / (N + 1), in any of C columns at most 2C / (N + 1) (``chance``). A tagger is flagged
when the fraction outside exceeds ``WARN_FRACTION`` and ``CHANCE_FACTOR`` times that chance.
"""

from __future__ import annotations

import numpy as np

KINEMATICS = ("pt", "eta", "mass")
WARN_FRACTION = 0.01  # a tagger is flagged above this share of explained jets outside its training range ...
CHANCE_FACTOR = 3.0  # ... and above this many times what chance puts outside


def domain_columns(scaled: list[str] | tuple[str, ...]) -> list[str]:
    """The columns whose training range is recorded: the jet kinematics, then the ``scaled`` inputs' columns."""
    return list(dict.fromkeys([*KINEMATICS, *scaled]))


def fit_domain(scan: dict, columns: list[str]) -> dict[str, list[float]]:
    """{column: [min, max]} over the training jets of ``scan`` (finite values; columns absent are left out)."""
    domain = {}
    for c in columns:
        if c not in scan:
            continue
        x = np.asarray(scan[c], dtype=np.float64)
        x = x[np.isfinite(x)]
        if x.size:
            domain[c] = [float(x.min()), float(x.max())]
    return domain


def outside(rows: dict, domain: dict) -> dict[str, np.ndarray]:
    """Per domain column present in ``rows``: which jets lie outside the training range."""
    out = {}
    for c, (low, high) in domain.items():
        if c in rows:
            x = np.asarray(rows[c], dtype=np.float64)
            out[c] = (x < low) | (x > high)
    return out


def outside_counts(rows: dict, domain: dict) -> dict[str, int]:
    """``outside_training_range`` (jets outside in any column) and ``outside_<column>`` counts of ``rows``."""
    flags = outside(rows, domain)
    n = len(next(iter(rows.values()))) if rows else 0
    counts = {"outside_training_range": int(np.logical_or.reduce(list(flags.values())).sum()) if flags and n else 0}
    counts.update({f"outside_{c}": int(f.sum()) for c, f in flags.items()})
    return counts


def chance(n_columns: int, n_train: int) -> float:
    """At most the share of jets from the training distribution outside the range of ``n_train`` training jets in
    any of ``n_columns`` columns."""
    return min(1.0, 2.0 * n_columns / (n_train + 1))


def outside_fractions(counts: dict, n_train: int) -> dict:
    """From summed counts (with ``jets_selected``): {fraction, chance, flagged, by_column: {column: fraction}}."""
    n = max(int(counts.get("jets_selected", 0)), 1)
    by_column = {
        k.removeprefix("outside_"): v / n
        for k, v in counts.items()
        if k.startswith("outside_") and k != "outside_training_range"
    }
    fraction = counts.get("outside_training_range", 0) / n
    expected = chance(len(by_column), n_train)
    return {
        "fraction": fraction,
        "chance": expected,
        "by_column": by_column,
        "flagged": bool(fraction > max(WARN_FRACTION, CHANCE_FACTOR * expected)),
    }


def describe(tagger: str, fractions: dict) -> str | None:
    """A console warning for a flagged tagger (``outside_fractions``), else None."""
    if not fractions["flagged"]:
        return None
    worst = sorted(fractions["by_column"].items(), key=lambda kv: -kv[1])
    detail = ", ".join(f"{c} {f:.1%}" for c, f in worst if f > 0)
    return (
        f"warning: {tagger}: {fractions['fraction']:.1%} of the explained jets lie outside the range it was "
        f"trained on ({detail}; chance: {fractions['chance']:.1%}): its decisions and their explanations there "
        "are extrapolations"
    )
