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
    """List the columns whose training range is recorded: the jet kinematics, then the ``scaled`` inputs' columns.

    Parameters
    ----------
    scaled : list of str or tuple of str
        The jet-table columns the tagger's scaled inputs read (the XAUG variables).

    Returns
    -------
    list of str
        ``KINEMATICS`` (pt, eta, mass) followed by ``scaled``, each column once, in first-seen order.
    """
    return list(dict.fromkeys([*KINEMATICS, *scaled]))


def fit_domain(scan: dict, columns: list[str]) -> dict[str, list[float]]:
    """Record the range ``{column: [min, max]}`` over the training jets of ``scan``.

    Parameters
    ----------
    scan : dict of str to array_like
        Per-jet columns of the training jets (``JetTables.scan`` of the training split).
    columns : list of str
        The columns whose range is recorded (``domain_columns``).

    Returns
    -------
    dict of str to list of float
        Column to ``[min, max]`` over its finite values; columns absent from ``scan`` or without a finite value
        are left out.
    """
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
    """Flag, per domain column present in ``rows``, the jets that lie outside the training range.

    Parameters
    ----------
    rows : dict of str to array_like
        Per-jet columns of the jets to check.
    domain : dict of str to list of float
        The training range ``{column: [min, max]}`` (``fit_domain``).

    Returns
    -------
    dict of str to numpy.ndarray
        Column to a bool array, shape (jets,): True where the value is below min or above max (a NaN is never
        outside). Domain columns absent from ``rows`` are left out.
    """
    out = {}
    for c, (low, high) in domain.items():
        if c in rows:
            x = np.asarray(rows[c], dtype=np.float64)
            out[c] = (x < low) | (x > high)
    return out


def outside_counts(rows: dict, domain: dict) -> dict[str, int]:
    """Count the jets of ``rows`` outside the training range, in any column and per column.

    Parameters
    ----------
    rows : dict of str to array_like
        Per-jet columns of the jets to check.
    domain : dict of str to list of float
        The training range ``{column: [min, max]}`` (``fit_domain``).

    Returns
    -------
    dict of str to int
        ``outside_training_range``: jets outside in any column; ``outside_<column>``: jets outside in that column,
        for each domain column present in ``rows``.
    """
    flags = outside(rows, domain)
    n = len(next(iter(rows.values()))) if rows else 0
    counts = {"outside_training_range": int(np.logical_or.reduce(list(flags.values())).sum()) if flags and n else 0}
    counts.update({f"outside_{c}": int(f.sum()) for c, f in flags.items()})
    return counts


def chance(n_columns: int, n_train: int) -> float:
    """Bound the share of jets from the training distribution outside the range of ``n_train`` training jets.

    The bound is for any of ``n_columns`` columns: ``2 n_columns / (n_train + 1)``, at most 1.

    Parameters
    ----------
    n_columns : int
        The number of columns checked.
    n_train : int
        The number of training jets the range was taken over.

    Returns
    -------
    float
        The upper bound on the share outside, in [0, 1].
    """
    return min(1.0, 2.0 * n_columns / (n_train + 1))


def outside_fractions(counts: dict, n_train: int) -> dict:
    """Turn summed counts of jets outside the training range into fractions, and flag the tagger.

    Parameters
    ----------
    counts : dict of str to int
        ``outside_counts`` summed over the jets explained, with ``jets_selected`` (their number).
    n_train : int
        The number of training jets the range was taken over.

    Returns
    -------
    dict
        ``fraction`` (share outside in any column), ``chance`` (``chance`` for the columns counted), ``by_column``
        (column to its share outside) and ``flagged`` (bool: ``fraction`` above both ``WARN_FRACTION`` and
        ``CHANCE_FACTOR`` times ``chance``).
    """
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
    """Write a console warning for a flagged tagger (``outside_fractions``).

    Parameters
    ----------
    tagger : str
        The tagger's name, as the warning shows it.
    fractions : dict
        The tagger's ``outside_fractions``.

    Returns
    -------
    str or None
        The warning, naming the columns with jets outside (the largest share first); None if not flagged.
    """
    if not fractions["flagged"]:
        return None
    worst = sorted(fractions["by_column"].items(), key=lambda kv: -kv[1])
    detail = ", ".join(f"{c} {f:.1%}" for c, f in worst if f > 0)
    return (
        f"warning: {tagger}: {fractions['fraction']:.1%} of the explained jets lie outside the range it was "
        f"trained on ({detail}; chance: {fractions['chance']:.1%}): its decisions and their explanations there "
        "are extrapolations"
    )
