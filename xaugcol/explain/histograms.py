"""hist histograms of relevance, per tagger (ensemble), LRP rule and true class.

Every relevance filled here is normalised per jet (divided by the jet's largest absolute relevance, so |R| <= 1)
and then rounded to a multiple of 2^-30 (``quantise``). With values on that grid, float64 sums are exact (up to
2^23 jets per bin), so a histogram does not depend on the order in which chunks are merged: the iterative and
futures executors give bit-identical outputs. The rounding (1e-9) is far below float32 LRP precision (1e-7).
Histograms count jets (or particles), unweighted: they describe the tagger's decisions on the sample explained.

Keys (``T`` the tagger name, ``f`` a feature, ``a__b`` a pair of XAUG variables):
* ``features/T``   (rule, member, label, feature): summed |normalised relevance| per feature (the seed's mean
  normalised relevance is this over ``jets/T``);
* ``jets/T``       (rule, member, label): jets explained with some non-zero relevance;
* ``profile/T/f``  (rule, label, value, relevance): 2D, per jet (XAUG) or per particle (particle features);
* ``profile_sum/T/f`` (rule, label, value): summed signed relevance, for exact profile means;
* ``image/T``      (rule, label, sign, x, y): summed positive and (absolute) negative relevance per pixel;
* ``image_input/T`` (label, x, y): summed pixel intensity (the average image, for comparison);
* ``pair/T/a__b`` and ``pair_jets/T/a__b`` (rule, label, a, b): summed relevance of a and b, and jet counts, on a
  coarse grid for every pair; the report keeps the pair of the two most relevant variables.
"""

from __future__ import annotations

import itertools

import hist
import numpy as np

from xaugcol.features.images import ImageConfig
from xaugcol.features.particles import FEATURES as PARTICLE_FEATURES
from xaugcol.processing.histograms import BINNING

QUANTUM = 2.0 ** -30
# 41 bins of width 0.05 centred on -1, -0.95, ..., 1: the normalised relevance +-1 of a jet's top input is inside
RELEVANCE_AXIS = (41, -1.025, 1.025)
PAIR_BINS = 16
# particle feature: (bins, low, high, label)
PARTICLE_BINNING = {
    "log_pt": (40, -3.0, 7.0, r"$\log(p_T / \mathrm{GeV})$"),
    "log_pt_rel": (40, -10.0, 0.0, r"$\log(p_T / p_T^{jet})$"),
    "log_e": (40, -3.0, 8.0, r"$\log(E / \mathrm{GeV})$"),
    "abs_eta": (40, 0.0, 3.2, r"$|\eta|$"),
    "dphi_jet": (40, -1.0, 1.0, r"$\Delta\phi$(particle, jet)"),
    "deta_jet": (40, -1.0, 1.0, r"$\Delta\eta$(particle, jet)"),
    "dr_jet": (40, 0.0, 1.0, r"$\Delta R$(particle, jet)"),
    "dr_subjet1": (40, 0.0, 1.2, r"$\Delta R$(particle, subjet 1)"),
    "dr_subjet2": (40, 0.0, 1.2, r"$\Delta R$(particle, subjet 2)"),
    "charge": (3, -1.5, 1.5, "charge"),
    "is_muon": (2, -0.5, 1.5, "is muon"),
    "is_electron": (2, -0.5, 1.5, "is electron"),
    "is_photon": (2, -0.5, 1.5, "is photon"),
    "is_charged_hadron": (2, -0.5, 1.5, "is charged hadron"),
    "is_neutral_hadron": (2, -0.5, 1.5, "is neutral hadron"),
    "dxy": (40, -0.2, 0.2, r"$d_{xy}$ [cm]"),
    "dz": (40, -0.5, 0.5, r"$d_z$ [cm]"),
}
assert tuple(PARTICLE_BINNING) == PARTICLE_FEATURES


def quantise(values) -> np.ndarray:
    """Round to a multiple of 2^-30 (exact power-of-two scaling): sums of such values are order-independent."""
    return np.round(np.asarray(values, dtype=np.float64) / QUANTUM) * QUANTUM


def value_binning(feature: str) -> tuple[int, float, float, str]:
    """Binning of a feature's input value: XAUG variables as the processing histograms, particle features as
    ``PARTICLE_BINNING``."""
    if feature.startswith("particle:"):
        return PARTICLE_BINNING[feature.removeprefix("particle:")]
    if feature not in BINNING:
        raise ValueError(f"no histogram binning for XAUG variable {feature!r}; known: {', '.join(BINNING)}")
    return BINNING[feature]


def _rule_axis(rules):
    return hist.axis.StrCategory(list(rules), name="rule", label="LRP rule")


def _label_axis():
    return hist.axis.IntCategory([0, 1], name="label", label="class")


def _value_axis(feature: str, bins: int | None = None):
    n, lo, hi, label = value_binning(feature)
    return hist.axis.Regular(bins or n, lo, hi, name=feature.replace(":", "_"), label=label)


def image_axes(image: ImageConfig):
    e = image.extent
    return (hist.axis.Regular(image.n_pixels, -e, e, name="x", label="x [prong distances]"),
            hist.axis.Regular(image.n_pixels, -e, e, name="y", label="y [prong distances]"))


def xaug_pairs(columns) -> list[tuple[str, str]]:
    return list(itertools.combinations(columns, 2))


def pair_key(a: str, b: str) -> str:
    return f"{a}__{b}"


def tagger_histograms(tagger: str, features: list[str], rules, inputs, xaug_columns, image: ImageConfig) -> dict:
    """Empty histograms for one tagger taking ``inputs`` (forward order) with feature names ``features``."""
    double = hist.storage.Double()
    rule = _rule_axis(rules)
    relevance = hist.axis.Regular(*RELEVANCE_AXIS, name="relevance", label="normalised relevance")
    out = {
        f"features/{tagger}": hist.Hist(rule, hist.axis.IntCategory([], growth=True, name="member", label="seed"),
                                        _label_axis(), hist.axis.StrCategory(features, name="feature"), storage=double),
        f"jets/{tagger}": hist.Hist(rule, hist.axis.IntCategory([], growth=True, name="member", label="seed"),
                                    _label_axis(), storage=double),
    }
    for f in features:
        if f == "image":
            continue
        out[f"profile/{tagger}/{f}"] = hist.Hist(rule, _label_axis(), _value_axis(f), relevance, storage=double)
        out[f"profile_sum/{tagger}/{f}"] = hist.Hist(rule, _label_axis(), _value_axis(f), storage=double)
    if "image" in inputs:
        sign = hist.axis.StrCategory(["positive", "negative"], name="sign")
        out[f"image/{tagger}"] = hist.Hist(rule, _label_axis(), sign, *image_axes(image), storage=double)
        out[f"image_input/{tagger}"] = hist.Hist(_label_axis(), *image_axes(image), storage=double)
    if "xaug" in inputs:
        for a, b in xaug_pairs(xaug_columns):
            axes = (rule, _label_axis(), _value_axis(a, PAIR_BINS), _value_axis(b, PAIR_BINS))
            out[f"pair/{tagger}/{pair_key(a, b)}"] = hist.Hist(*axes, storage=double)
            out[f"pair_jets/{tagger}/{pair_key(a, b)}"] = hist.Hist(*axes, storage=double)
    return out


def _pixel_centres(image: ImageConfig) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every pixel, flattened row by row: rows run top (y = +extent) to bottom, columns left to right."""
    width = 2 * image.extent / image.n_pixels
    centres = -image.extent + (np.arange(image.n_pixels) + 0.5) * width
    x, y = np.meshgrid(centres, centres[::-1])
    return x.ravel(), y.ravel()


def fill_input_image(hists: dict, tagger: str, rows: dict, image: ImageConfig) -> None:
    x, y = _pixel_centres(image)
    for label in (0, 1):
        pixels = rows["image"][rows["label"] == label].reshape(-1, x.size)
        hists[f"image_input/{tagger}"].fill(label=label, x=x, y=y, weight=quantise(pixels).sum(axis=0))


def fill_relevance(hists: dict, tagger: str, rule: str, member: int, rows: dict, normalised: dict,
                   sums: np.ndarray, features: list[str], xaug_columns, image: ImageConfig) -> None:
    """Fill one member's explanation under one rule. ``rows``: the explained jets' table rows (kept jets only);
    ``normalised``: input name -> normalised relevance of those jets; ``sums``: (jets, features) summed
    |normalised relevance| (``statistics.feature_sums``)."""
    labels = rows["label"].astype(np.int64)
    n = len(labels)
    sums = quantise(sums)
    hists[f"jets/{tagger}"].fill(rule=rule, member=member, label=labels)
    hists[f"features/{tagger}"].fill(rule=rule, member=member, label=np.repeat(labels, len(features)),
                                     feature=np.tile(np.asarray(features, dtype=object), n), weight=sums.ravel())
    if "xaug" in normalised:
        r = quantise(normalised["xaug"])
        for k, c in enumerate(xaug_columns):
            _fill_profile(hists, tagger, c, rule, labels, rows[c], r[:, k])
        for (i, a), (j, b) in itertools.combinations(enumerate(xaug_columns), 2):
            key = pair_key(a, b)
            coords = {"rule": rule, "label": labels, a: rows[a], b: rows[b]}
            hists[f"pair/{tagger}/{key}"].fill(**coords, weight=r[:, i] + r[:, j])
            hists[f"pair_jets/{tagger}/{key}"].fill(**coords)
    if "particles" in normalised:
        mask = rows["particles_mask"].astype(bool)
        particle_labels = np.broadcast_to(labels[:, None], mask.shape)[mask]
        r = quantise(normalised["particles"][mask])  # (real particles, features)
        values = rows["particles"][mask]
        for k, f in enumerate(PARTICLE_FEATURES):
            _fill_profile(hists, tagger, f"particle:{f}", rule, particle_labels, values[:, k], r[:, k])
    if "image" in normalised:
        r = quantise(normalised["image"].reshape(n, -1))
        x, y = _pixel_centres(image)
        h = hists[f"image/{tagger}"]
        for label in (0, 1):
            sel = r[labels == label]
            h.fill(rule=rule, label=label, sign="positive", x=x, y=y, weight=np.clip(sel, 0, None).sum(axis=0))
            h.fill(rule=rule, label=label, sign="negative", x=x, y=y, weight=-np.clip(sel, None, 0).sum(axis=0))


def _fill_profile(hists, tagger, feature, rule, labels, values, relevance) -> None:
    axis = feature.replace(":", "_")
    hists[f"profile/{tagger}/{feature}"].fill(rule=rule, label=labels, **{axis: values, "relevance": relevance})
    hists[f"profile_sum/{tagger}/{feature}"].fill(rule=rule, label=labels, **{axis: values}, weight=relevance)
