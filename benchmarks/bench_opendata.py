"""The CMS open-data H->bb ntuples: ``xaugcol process`` (screening, coffea's Runner, the jet table with 60 tracks
and 5 SVs, parquet) in jets/s per core, against uproot reading the same branches of the same file in the same
process (the reference: the cost of the bytes alone).

The file is one the tests write in the ntuples' layout (``tests/test_opendata.py``): the real files cannot be
fetched here. Issue [3/6]'s goal: at least 20 000 jets/s per core.

    python benchmarks/bench_opendata.py [--jets 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20000)
    args = parser.parse_args()

    import uproot
    from test_opendata import write_opendata

    from xaugcol.console import quiet_library_warnings
    from xaugcol.processing.opendata_table import TREE
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.coffea_runs import run_processing

    quiet_library_warnings()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_opendata(tmp / "ntuple.root", args.jets, seed=1)
        (tmp / "fileset.json").write_text(json.dumps({"hbb": {"files": {str(tmp / "ntuple.root"): TREE},
                                                              "metadata": {"label": "truth"}}}))
        start = time.perf_counter()
        with uproot.open(tmp / "ntuple.root") as f:
            f[TREE].arrays(library="ak")
        t_read = time.perf_counter() - start
        start = time.perf_counter()
        result = run_processing(load_fileset(tmp / "fileset.json"), tmp / "out", chunksize=args.jets)
        t_process = time.perf_counter() - start
    kept = result.counts["hbb"]["jets_kept"]
    print(f"{args.jets} jets ({kept} H -> b bbar or QCD kept), one core")
    print(f"  uproot reading every branch: {args.jets / t_read:.0f} jets/s")
    print(f"  xaugcol process into parquet: {args.jets / t_process:.0f} jets/s "
          f"({t_process / t_read:.1f} x the reading)")


if __name__ == "__main__":
    main()
