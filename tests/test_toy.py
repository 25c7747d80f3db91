"""The toy source: declared distributions, constituents, four-momentum sums, reproducibility."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot
import vector
from scipy import stats

from xaugcol.sources.distributions import Dist
from xaugcol.sources.toy import ToyConfig, run_toy

N_JETS = 3000


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    fileset = run_toy(out, N_JETS, seed=7)
    arrays = {name: uproot.open(out / f"{name}.root")["Events"].arrays() for name in fileset}
    return out, fileset, arrays


def _softer_fraction(a):
    """z recomputed from the particles: scalar pT of the softer subjet over the jet's."""
    soft = ak.sum(a.PFCands_pt * (a.PFCands_genSubjet == 1), axis=1)
    return ak.to_numpy(soft / ak.sum(a.PFCands_pt, axis=1))


def _subjet_distance(a):
    """Distance between the pT-weighted (eta, phi) centroids of the two subjets' particles."""
    centroid = {}
    for k in (0, 1):
        w = a.PFCands_pt * (a.PFCands_genSubjet == k)
        dphi = (a.PFCands_phi - a.FatJet_phi[:, 0] + np.pi) % (2 * np.pi) - np.pi
        centroid[k] = (ak.sum(w * a.PFCands_eta, axis=1) / ak.sum(w, axis=1),
                       ak.sum(w * dphi, axis=1) / ak.sum(w, axis=1))
    return ak.to_numpy(np.hypot(centroid[0][0] - centroid[1][0], centroid[0][1] - centroid[1][1]))


def test_fileset_and_layout(toy):
    out, fileset, arrays = toy
    on_disk = json.loads((out / "fileset.json").read_text())
    assert on_disk == fileset
    assert {k: v["metadata"]["label"] for k, v in on_disk.items()} == {"toy_signal": 1, "toy_background": 0}
    for name, entry in on_disk.items():
        (path, tree), = entry["files"].items()
        assert tree == "Events" and path.endswith(f"{name}.root")
        a = arrays[name]
        assert len(a) == N_JETS == entry["metadata"]["n_events"]
        assert np.all(a.nFatJet == 1)
        assert np.all(a.nPFCands == 20) and np.all(a.nFatJetPFCands == 20) and np.all(a.FatJet_nConstituents == 20)
        assert np.all(a.FatJetPFCands_jetIdx == 0)
        assert ak.all(a.FatJetPFCands_pFCandsIdx == ak.local_index(a.PFCands_pt))
        assert np.all(ak.sum(a.PFCands_genSubjet, axis=1) == 10)  # 10 particles per subjet
        assert ak.all(a.PFCands_pt[:, :-1] >= a.PFCands_pt[:, 1:])  # pt-ordered like CMS
        assert np.all(a.genWeight == 1)
        assert len(np.unique(a.event)) == N_JETS


def test_declared_distributions(toy):
    _, _, arrays = toy
    cfg = ToyConfig()
    for name, cls in (("toy_signal", cfg.signal), ("toy_background", cfg.background)):
        a = arrays[name]
        z = _softer_fraction(a)
        np.testing.assert_allclose(z, ak.to_numpy(a.FatJet_genZ[:, 0]), rtol=1e-5, atol=1e-6)
        assert stats.kstest(z, cls.z.frozen().cdf).pvalue > 1e-3
        theta = ak.to_numpy(a.FatJet_genTheta[:, 0])
        assert stats.kstest(theta, cls.theta.frozen().cdf).pvalue > 1e-3
        # the particles really sit at the drawn opening angle
        assert np.corrcoef(_subjet_distance(a), theta)[0, 1] > 0.9
        pt_sum = ak.to_numpy(ak.sum(a.PFCands_pt, axis=1))
        assert stats.kstest(pt_sum, cfg.pt_distribution().cdf).pvalue > 1e-3
    # the test can fail: each class's z is incompatible with the other class's declared distribution
    z_sig = _softer_fraction(arrays["toy_signal"])
    assert stats.kstest(z_sig, cfg.background.z.frozen().cdf).pvalue < 1e-6


def test_classes_separable_but_overlapping(toy):
    _, _, arrays = toy
    mass = {k: ak.to_numpy(a.FatJet_mass[:, 0] / a.FatJet_pt[:, 0]) for k, a in arrays.items()}
    auc = stats.mannwhitneyu(mass["toy_signal"], mass["toy_background"]).statistic / N_JETS**2
    assert 0.6 < auc < 0.99


def test_four_momentum_sums(toy):
    _, _, arrays = toy
    for a in arrays.values():
        cands = vector.zip({"pt": a.PFCands_pt, "eta": a.PFCands_eta, "phi": a.PFCands_phi, "mass": a.PFCands_mass})
        total = ak.zip({c: ak.sum(getattr(cands, c), axis=1) for c in ("px", "py", "pz", "E")}, with_name="Momentum4D")
        jet = vector.zip({"pt": a.FatJet_pt[:, 0], "eta": a.FatJet_eta[:, 0], "phi": a.FatJet_phi[:, 0],
                          "mass": a.FatJet_mass[:, 0]})
        for c in ("px", "py", "pz", "E"):
            np.testing.assert_allclose(ak.to_numpy(getattr(jet, c)), ak.to_numpy(getattr(total, c)),
                                       rtol=2e-5, atol=2e-3)
        # two-prong kinematics: m^2 ~ m1^2 + m2^2 + z(1-z) pT^2 theta^2, with the subjet masses from the particles
        sub_mass = []
        for k in (0, 1):
            part = cands[a.PFCands_genSubjet == k]
            sub = ak.zip({c: ak.sum(getattr(part, c), axis=1) for c in ("px", "py", "pz", "E")}, with_name="Momentum4D")
            sub_mass.append(ak.to_numpy(sub.mass))
        z, theta, pt = (ak.to_numpy(a[f][:, 0]) for f in ("FatJet_genZ", "FatJet_genTheta", "FatJet_genPt"))
        predicted = np.sqrt(sub_mass[0] ** 2 + sub_mass[1] ** 2 + z * (1 - z) * pt**2 * theta**2)
        mass = ak.to_numpy(a.FatJet_mass[:, 0])
        assert np.corrcoef(predicted, mass)[0, 1] > 0.95
        assert 0.95 < np.median(mass / predicted) < 1.2


def test_species_and_charges(toy):
    _, _, arrays = toy
    a = arrays["toy_signal"]
    pdg, q = ak.to_numpy(ak.flatten(a.PFCands_pdgId)), ak.to_numpy(ak.flatten(a.PFCands_charge))
    assert set(np.unique(pdg)) <= {211, -211, 22, 130}
    np.testing.assert_array_equal(q, np.where(np.abs(pdg) == 211, np.sign(pdg), 0))
    frac = {s: np.mean(np.abs(pdg) == s) for s in (211, 22, 130)}
    assert frac[211] == pytest.approx(0.6, abs=0.02) and frac[22] == pytest.approx(0.3, abs=0.02)
    assert np.all(ak.flatten(a.PFCands_d0)[q == 0] == 0)


def test_same_seed_same_arrays_other_seed_differs(tmp_path):
    a = run_toy(tmp_path / "a", 200, seed=11)
    b = run_toy(tmp_path / "b", 200, seed=11)
    c = run_toy(tmp_path / "c", 200, seed=12)
    read = lambda fs: uproot.open(fs["toy_signal"]["files"].popitem()[0])["Events"].arrays()  # noqa: E731
    ra, rb, rc = read(a), read(b), read(c)
    for field in ra.fields:
        assert ak.all(ra[field] == rb[field]), field
    assert not ak.all(ra.PFCands_pt == rc.PFCands_pt)


def test_coffea_reads_toy_files(toy):
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    out, _, arrays = toy
    events = NanoEventsFactory.from_root(
        {str(out / "toy_signal.root"): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    constituents = events.FatJet.constituents.pf
    assert ak.all(ak.num(constituents, axis=2) == 20)
    assert ak.all(constituents.pt[:, 0] == arrays["toy_signal"].PFCands_pt)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="bogus"):
        ToyConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="signal.z"):
        ToyConfig.from_dict({"signal": {"z": {"kind": "gamma", "scale": 1}}})
    with pytest.raises(ValueError, match="species_probabilities"):
        ToyConfig.from_dict({"species_probabilities": {211: 0.5}})
    cfg = ToyConfig.from_dict({"pt_min": 500, "signal": {"theta": {"kind": "normal", "loc": 0.3, "scale": 0.05,
                                                                     "low": 0.1, "high": 0.6}}})
    assert cfg.pt_min == 500 and cfg.signal.theta == Dist("normal", loc=0.3, scale=0.05, low=0.1, high=0.6)
    assert cfg.background == ToyConfig().background
