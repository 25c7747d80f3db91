"""The two substructure backends: the C++ extension and its fallback, fastjet's own Python API, give the same
numbers on toy jets, real CMS jets and the one-to-three-constituent corners; the choice between them is explicit."""

import json

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from xaugcol.cli import main
from xaugcol.jets import backend, substructure
from xaugcol.jets.constituents import detect_layout, jet_constituents
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.processing.table_io import read_tables
from xaugcol.coffea_runs import run_processing
from xaugcol.sources.toy import run_toy

COLUMNS = substructure.COLUMNS + ("tau21", "tau32")


def _constituents(path):
    events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
    return ak.flatten(jet_constituents(events, detect_layout(events)), axis=1)


def _both(monkeypatch, constituents):
    out = {}
    for name in ("extension", "fastjet"):
        monkeypatch.setenv(backend.ENV, name)
        assert backend.active() == name
        out[name] = substructure.compute(constituents)
    return out["extension"], out["fastjet"]


def _assert_same(ext, api, where):
    for name in COLUMNS:
        assert np.all(np.isfinite(api[name])), f"{where}: {name}"
        # summation order differs (prongs re-summed from the groomed constituents): 1e-9 of a GeV at most
        np.testing.assert_allclose(api[name], ext[name], rtol=1e-8, atol=1e-9, err_msg=f"{where}: {name}")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 800, seed=7)
    return out


def test_fastjet_api_reproduces_the_extension_on_toy_jets(toy, monkeypatch, substructure_extension):
    for name, entry in json.loads((toy / "fileset.json").read_text()).items():
        c = _constituents(next(iter(entry["files"])))
        ext, api = _both(monkeypatch, c)
        _assert_same(ext, api, name)
        assert ext["sd_two_prong"].sum() > 700  # the comparison covers real two-prong groomings


def test_fastjet_api_reproduces_the_extension_on_cms_jets(cms_samples, monkeypatch, substructure_extension):
    c = _constituents(cms_samples / "pfnano.root")
    ext, api = _both(monkeypatch, c)
    _assert_same(ext, api, "pfnano")
    # the corners: no constituent, one, two (tau2 = 0), three, and a groomed jet of one particle
    for k in (0, 1, 2, 3, 5):
        ext, api = _both(monkeypatch, c[:, :k])
        _assert_same(ext, api, f"first {k} constituents")
        if k == 1:
            np.testing.assert_allclose(api["sj1_pt"], ak.to_numpy(c[:, 0].pt), rtol=1e-6)  # the particle itself
            assert np.all(api["sd_two_prong"] == 0) and np.all(api["tau1"] == 0)


def test_fastjet_api_gives_each_jet_its_own_values_whatever_its_neighbours(toy, monkeypatch):
    """Jets of one and two constituents among the others (their own fallbacks) leave the others' values alone:
    each jet's numbers equal those of the same jets computed without them (no extension needed: this runs at
    every fastjet the fallback supports)."""
    monkeypatch.setenv(backend.ENV, "fastjet")
    entry = json.loads((toy / "fileset.json").read_text())["toy_signal"]
    c = _constituents(next(iter(entry["files"])))[:300]
    keep = np.where(np.arange(len(c)) % 3 == 0, 1, np.where(np.arange(len(c)) % 3 == 1, 2, 20))
    cut = c[ak.local_index(c, axis=1) < keep[:, None]]
    whole = substructure.compute(cut)
    many = keep > 2
    alone = substructure.compute(cut[many])
    for name in COLUMNS:
        np.testing.assert_allclose(whole[name][many], alone[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.all(whole["sd_two_prong"][keep == 1] == 0) and np.all(whole["tau1"][keep == 1] == 0)


def test_backend_choice(monkeypatch, capsys):
    monkeypatch.setenv(backend.ENV, "fastjet")
    assert backend.active() == "fastjet" and "Python API" in backend.describe_backend()
    monkeypatch.setenv(backend.ENV, "cython")
    with pytest.raises(backend.BackendError, match="XAUGCOL_SUBSTRUCTURE='cython': expected one of"):
        backend.active()
    # an extension that is not there (no compiler at install) or was built against another fastjet
    monkeypatch.setattr(backend, "load_extension", lambda: (None, "built against fastjet 3.4.3.1"))
    monkeypatch.setenv(backend.ENV, "auto")
    assert backend.active() == "fastjet"
    assert "Python API (built against fastjet 3.4.3.1)" in backend.describe_backend()
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "substructure: fastjet" in capsys.readouterr().out
    monkeypatch.setenv(backend.ENV, "extension")
    with pytest.raises(backend.BackendError, match="extension, but built against fastjet 3.4.3.1"):
        backend.active()


def test_forced_backend_that_cannot_load_is_a_usage_error(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(backend, "load_extension", lambda: (None, "the C++ extension is not built"))
    monkeypatch.setenv(backend.ENV, "extension")
    assert main(["process", str(toy / "fileset.json"), "--out", str(tmp_path / "o")]) == 2
    assert "the C++ extension is not built" in capsys.readouterr().err


def test_processing_on_the_fallback_matches_the_extension(toy, tmp_path, monkeypatch, substructure_extension):
    fileset = load_fileset(toy / "fileset.json")
    monkeypatch.setenv(backend.ENV, "extension")
    a = run_processing(fileset, tmp_path / "ext", chunksize=400)
    monkeypatch.setenv(backend.ENV, "fastjet")  # futures workers inherit the environment
    b = run_processing(fileset, tmp_path / "api", executor="futures", workers=2, chunksize=400)
    assert a.report["substructure_backends"] == ["extension"] and b.report["substructure_backends"] == ["fastjet"]
    assert a.counts == b.counts
    for dataset in fileset:
        ta, tb = read_tables(tmp_path / "ext" / "jets" / dataset), read_tables(tmp_path / "api" / "jets" / dataset)
        assert len(ta) == len(tb) == 800
        for name in ("msd", "tau21", "tau32", "n2", "d2", "sj_z", "sj_dr", "sj1_pt", "sj2_pt"):
            np.testing.assert_allclose(ak.to_numpy(tb[name]), ak.to_numpy(ta[name]), rtol=1e-7, atol=1e-6,
                                       err_msg=f"{dataset}: {name}")
        assert ak.to_list(ta.in_msd_window) == ak.to_list(tb.in_msd_window)
