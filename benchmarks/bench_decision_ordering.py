"""Exact decision ordering over every signal x background pair, as a ratio against sklearn's ROC AUC of the same
jets in the same process (the AUC is the ADO against the truth, computed by one sort).

    python benchmarks/bench_decision_ordering.py [--jets 1000000] [--repeats 3]

At 10^6 signal and 10^6 background jets that is 10^12 pairs; the seconds are printed too. Then the ADO of a third
observable on the pairs where two taggers disagree (``Disagreement``, the guided search's step), as a ratio
against the plain ADO.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from xaugcol.mapping.decision_ordering import Disagreement, ado


def best_of(repeats: int, call) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=1_000_000, help="jets per class")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.jets
    fs, fb = rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)
    gs, gb = fs + rng.normal(0, 0.5, n), fb + rng.normal(0, 0.5, n)
    labels = np.r_[np.ones(n), np.zeros(n)]
    t_auc = best_of(args.repeats, lambda: roc_auc_score(labels, np.r_[fs, fb]))
    t_ado = best_of(args.repeats, lambda: ado(fs, gs, fb, gb))
    print(f"{n} x {n} = {float(n) * n:.1e} pairs: ADO {ado(fs, gs, fb, gb):.6f} in {t_ado:.2f} s; "
          f"ADO time / ROC AUC time = {t_ado / t_auc:.1f}")
    hs, hb = fs + rng.normal(0, 1.0, n), fb + rng.normal(0, 1.0, n)
    es, eb = fs + rng.normal(0, 0.8, n), fb + rng.normal(0, 0.8, n)
    t_setup = best_of(args.repeats, lambda: Disagreement(hs, gs, hb, gb))
    d = Disagreement(hs, gs, hb, gb)
    t_dis = best_of(args.repeats, lambda: d.ado(es, eb))
    print(f"disagreement pairs: {d.fraction:.3f} of all; ADO on them {d.ado(es, eb):.6f} in {t_dis:.2f} s "
          f"(setup {t_setup:.2f} s); disagreement ADO time / ADO time = {t_dis / t_ado:.1f}")


if __name__ == "__main__":
    main()
