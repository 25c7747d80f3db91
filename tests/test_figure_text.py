"""Figures without overlapping text: every figure kind xaugcol draws (``FIGURES``), from inputs shaped like a real
run's, the demo's taggers and the studies' (tracks and vertices, lepton isolation, calorimeter cells, EFP names,
the longest sample label a study writes).

The checker draws a figure as ``save`` writes it (Agg, at ``PNG_DPI``), records every text that draw put on the
canvas (titles, axis labels, the tick labels of the ticks drawn, offset texts, legend titles and entries, ``ax.text``,
annotations, colour-bar ticks and labels, suptitles) and compares the extents the renderer gives them: two texts
overlap when their boxes (a rotated text's rotated rectangle) share more than ``TOLERANCE`` pixels in every
direction, texts of one legend or one axis included. It also reports a text cut off at the canvas's edge, and a text
inside a panel (a panel title with its box, an annotation, a legend's frame) that hides a bar, an error bar or a
point. The inputs are built by the explain step's own histogram code from random jets and relevance.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.text  # noqa: E402

TOLERANCE = 1.0  # pixels two boxes may share in each direction (touching boxes, rounding)


# ---- the checker


@contextlib.contextmanager
def _recording_texts(drawn: list):
    """Every ``Text`` drawn inside this block, visible and not empty, appended to ``drawn`` (an annotation outside
    its axes, the ticks of an axis switched off, a legend not drawn: never drawn, never recorded)."""
    original = matplotlib.text.Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text() and all(self is not t for t in drawn):
            drawn.append(self)
        return original(self, renderer)

    matplotlib.text.Text.draw = draw
    try:
        yield
    finally:
        matplotlib.text.Text.draw = original


def drawn_texts(fig, dpi: float | None = None):
    """(renderer, the texts a draw of ``fig`` at ``dpi`` (default: the PNGs') puts on the canvas, in drawing
    order). The figure is left at that dpi (extents are in its pixels)."""
    from xaugcol.plotting.style import PNG_DPI

    fig.set_dpi(dpi or PNG_DPI)
    drawn: list = []
    with _recording_texts(drawn):
        fig.canvas.draw()
    return fig.canvas.get_renderer(), drawn


def _roles(fig) -> dict:
    """id(text) -> what it is, for messages."""
    roles = {}

    def add(text, role):
        roles.setdefault(id(text), role)

    for i, ax in enumerate(fig.axes):
        where = "colour bar" if ax.get_label() == "<colorbar>" else f"axes {i}"
        for title, side in ((ax.title, ""), (ax._left_title, "left "), (ax._right_title, "right ")):
            add(title, f"{side}title of {where}")
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            add(axis.label, f"{name} label of {where}")
            add(axis.get_offset_text(), f"{name} offset text of {where}")
            for kind, ticks in (("", axis.majorTicks), ("minor ", axis.minorTicks)):
                for tick in ticks:
                    add(tick.label1, f"{name} {kind}tick label of {where}")
                    add(tick.label2, f"{name} {kind}tick label of {where}")
        legend = ax.get_legend()
        if legend is not None:
            add(legend.get_title(), f"legend title in {where}")
            for t in legend.get_texts():
                add(t, f"legend entry in {where}")
        for t in ax.texts:
            add(t, f"{'annotation' if isinstance(t, matplotlib.text.Annotation) else 'text'} in {where}")
    for t in fig.texts:
        add(t, "figure text")
    for legend in fig.legends:
        add(legend.get_title(), "figure legend title")
        for t in legend.get_texts():
            add(t, "figure legend entry")
    return roles


def _text_extent(text, renderer):
    """The extent of the text itself (an annotation's own extent holds its arrow)."""
    return matplotlib.text.Text.get_window_extent(text, renderer)


def _corners(text, renderer) -> np.ndarray:
    """The four corners (pixels) of ``text``'s extent: its box, or for a text rotated by other than a multiple of
    90 degrees the rotated rectangle of its unrotated extent, centred where the renderer's box is."""
    box = _text_extent(text, renderer)
    angle = text.get_rotation()
    if angle % 90 == 0:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    text.set_rotation(0)
    flat = _text_extent(text, renderer)
    text.set_rotation(angle)
    w, h = flat.width / 2, flat.height / 2
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    return local @ np.array([[c, s], [-s, c]]) + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _depth(a: np.ndarray, b: np.ndarray) -> float:
    """How far two convex quadrilaterals overlap: the least overlap of their projections on the normals of their
    edges (separating axes); <= 0 when they are apart."""
    depth = np.inf
    for quad in (a, b):
        for k in range(4):
            edge = quad[(k + 1) % 4] - quad[k]
            norm = np.hypot(*edge)
            if norm == 0:
                continue
            axis = np.array([-edge[1], edge[0]]) / norm
            pa, pb = a @ axis, b @ axis
            depth = min(depth, min(pa.max(), pb.max()) - max(pa.min(), pb.min()))
    return float(depth)


def _describe(text, roles) -> str:
    return f"{roles.get(id(text), 'text')} {text.get_text()!r}"


def text_overlaps(fig, tolerance: float = TOLERANCE, dpi: float | None = None) -> list[str]:
    """Every pair of drawn texts of ``fig`` whose extents overlap by more than ``tolerance`` pixels in every
    direction, as lines naming both."""
    renderer, texts = drawn_texts(fig, dpi)
    roles = _roles(fig)
    quads = [_corners(t, renderer) for t in texts]
    lo = np.array([q.min(axis=0) for q in quads]).reshape(-1, 2)
    hi = np.array([q.max(axis=0) for q in quads]).reshape(-1, 2)
    found = []
    for i in range(len(texts)):
        # boxes around the (rotated) texts first: only pairs whose boxes overlap are measured exactly
        near = np.flatnonzero((np.minimum(hi[i], hi[i + 1 :]) - np.maximum(lo[i], lo[i + 1 :]) > tolerance).all(axis=1))
        for j in near + i + 1:
            depth = _depth(quads[i], quads[j])
            if depth > tolerance:
                found.append(f"{_describe(texts[i], roles)} and {_describe(texts[j], roles)} ({depth:.0f} px)")
    return found


def texts_outside(fig, tolerance: float = TOLERANCE, dpi: float | None = None) -> list[str]:
    """Every drawn text of ``fig`` that reaches more than ``tolerance`` pixels past the canvas (cut off)."""
    renderer, texts = drawn_texts(fig, dpi)
    roles = _roles(fig)
    width, height = fig.canvas.get_width_height()
    out = []
    for t in texts:
        q = _corners(t, renderer)
        (x0, y0), (x1, y1) = q.min(axis=0), q.max(axis=0)
        if x0 < -tolerance or y0 < -tolerance or x1 > width + tolerance or y1 > height + tolerance:
            out.append(f"{_describe(t, roles)} at x {x0:.0f}..{x1:.0f}, y {y0:.0f}..{y1:.0f} of {width} x {height}")
    return out


def _data_boxes(ax, renderer) -> np.ndarray:
    """(n, 4) boxes x0, y0, x1, y1 (pixels) of the data marks of ``ax`` a text must not hide: bars (a
    ``PolyCollection``, not the band of ``fill_between``), error bars, markers and scatter points, inside the axes.
    Curves, bands, maps and the shaded distributions behind points are backgrounds texts may lie on."""
    import matplotlib.collections as mc
    import matplotlib.lines as ml

    boxes = []
    to_px = renderer.points_to_pixels(1.0)
    for artist in ax.get_children():
        if not artist.get_visible():
            continue
        if isinstance(artist, mc.FillBetweenPolyCollection):
            continue
        if isinstance(artist, mc.PolyCollection):
            transform = artist.get_transform()
            for path in artist.get_paths():
                v = transform.transform(path.vertices)
                boxes.append([*v.min(axis=0), *v.max(axis=0)])
        elif isinstance(artist, mc.LineCollection):
            transform = artist.get_transform()
            half = max(np.max(artist.get_linewidths(), initial=1.0), 1.0) * to_px / 2
            for segment in artist.get_segments():
                v = transform.transform(segment)
                boxes.append([*(v.min(axis=0) - half), *(v.max(axis=0) + half)])
        elif isinstance(artist, mc.PathCollection):
            offsets = artist.get_offset_transform().transform(artist.get_offsets())
            sizes = np.broadcast_to(artist.get_sizes() if len(artist.get_sizes()) else [36.0], (len(offsets),))
            half = np.sqrt(sizes)[:, None] / 2 * to_px
            boxes += np.hstack([offsets - half, offsets + half]).tolist()
        elif isinstance(artist, ml.Line2D) and artist.get_marker() not in (None, "None", "", " "):
            xy = artist.get_transform().transform(np.column_stack([artist.get_xdata(), artist.get_ydata()]))
            half = artist.get_markersize() * to_px / 2
            boxes += np.hstack([xy - half, xy + half]).tolist()
    boxes = np.array(boxes, dtype=float).reshape(-1, 4)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    frame = ax.get_window_extent(renderer)
    inside = (boxes[:, 2] > frame.x0) & (boxes[:, 0] < frame.x1) & (boxes[:, 3] > frame.y0) & (boxes[:, 1] < frame.y1)
    return boxes[inside]


def texts_over_data(fig, tolerance: float = TOLERANCE, dpi: float | None = None) -> list[str]:
    """Every text inside an axes (a panel title with its box, an annotation, the legend's frame) that hides a data
    mark of that axes (``_data_boxes``) by more than ``tolerance`` pixels in each direction."""
    renderer, texts = drawn_texts(fig, dpi)
    drawn = {id(t) for t in texts}
    roles = _roles(fig)
    found = []
    for ax in fig.axes:
        covers = []
        for t in ax.texts:
            if id(t) not in drawn:
                continue
            patch = t.get_bbox_patch()
            box = patch.get_window_extent(renderer) if patch is not None else _text_extent(t, renderer)
            covers.append((_describe(t, roles), box))
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            covers.append((f"legend of axes {fig.axes.index(ax)}", legend.get_window_extent(renderer)))
        if not covers:
            continue
        data = _data_boxes(ax, renderer)
        for what, box in covers:
            depth = np.minimum(data[:, 2], box.x1) - np.maximum(data[:, 0], box.x0)
            height = np.minimum(data[:, 3], box.y1) - np.maximum(data[:, 1], box.y0)
            hidden = (depth > tolerance) & (height > tolerance)
            if hidden.any():
                found.append(f"{what} hides {hidden.sum()} data mark(s) of axes {fig.axes.index(ax)}")
    return found


def figure_problems(fig) -> list[str]:
    """Overlapping texts, texts past the canvas and texts hiding data of ``fig``, as ``save`` would write it
    (minor ticks as the figure asked for them)."""
    return (
        [f"overlap: {o}" for o in text_overlaps(fig)]
        + [f"cut off: {o}" for o in texts_outside(fig)]
        + [f"over data: {o}" for o in texts_over_data(fig)]
    )


@contextlib.contextmanager
def checked_saves(found: dict):
    """Inside this block, every figure saved is checked before it is written: ``found[stem]`` the problems of the
    figure saved as ``stem`` (empty: none)."""
    original = matplotlib.figure.Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        stem = Path(str(fname)).name.split(".tmp-")[0].lstrip(".")
        stem = stem.rsplit(".", 1)[0]
        if stem not in found:
            dpi = self.dpi
            found[stem] = figure_problems(self)
            self.set_dpi(dpi)
        return original(self, fname, *args, **kwargs)

    matplotlib.figure.Figure.savefig = savefig
    try:
        yield
    finally:
        matplotlib.figure.Figure.savefig = original


# ---- realistic inputs: the demo's taggers and the studies' (tracks and vertices, the lepton isolation, calorimeter
# cells), filled through the explain step's own histogram code with random relevance

DEMO_SAMPLE = "toy jets"  # what the demo writes above its figures
STUDY_SAMPLE = "Pythia 8: prompt_mu_wz vs nonprompt_mu_forced, 13 TeV"  # the longest a study writes
ISOLATION = ["iso_0p05", "iso_0p1", "iso_0p15", "iso_0p2", "iso_0p25", "iso_0p3", "iso_0p35", "iso_0p4"]
SHOWER = ["r_had", "w_eta2", "r_phi", "r_eta", "sigma_eta_eta", "e_ecal_0p3", "e_ecal_0p4"]
# (tagger, model, xaug, xaug columns or None for the default, sample)
TAGGERS = {
    "cnn2d": ("cnn2d", False, None, DEMO_SAMPLE),
    "cnn2d_xaug": ("cnn2d", True, None, DEMO_SAMPLE),
    "lstm_xaug": ("lstm", True, None, DEMO_SAMPLE),
    "dnn": ("dnn", True, None, DEMO_SAMPLE),
    "in_xaug": ("in", True, None, STUDY_SAMPLE),
    "calo_cnn": ("calo_cnn", False, None, STUDY_SAMPLE),
    "efn_xaug": ("efn", True, ISOLATION, STUDY_SAMPLE),
    "dnn_shower": ("dnn", True, SHOWER, STUDY_SAMPLE),
}
RULES = ("epsilon", "alpha1beta0")
# EFP columns as the mapping names them (composite graphs, lepton-anchored ones), and a long name of another form
EFP_COLUMNS = [
    "efp_n2_d1_k0_kappa1_beta0p5",
    "efp_n4_d5_k1xn2_d1_k0_kappa0p5_beta2",
    "efpl_n5_d4_k1_a4_kappa2_beta1",
    "efp_n5_d5_k3_kappa1_beta1",
    "efp_d5_k1_b1_g12",
]


def _kinds(name: str):
    from xaugcol.models.registry import ModelConfig

    model, xaug, columns, _ = TAGGERS[name]
    config = ModelConfig(model, xaug=xaug, **({"xaug_columns": columns} if columns else {}))
    return config.input_kinds()


def _values(binning, shape, rng, shift):
    """Values of a feature inside its histogram range (a flag or a charge on its integer values)."""
    n, lo, hi, _ = binning
    if n <= 3:
        return rng.integers(0, n, size=shape) * (hi - lo) / n + lo + (hi - lo) / n / 2
    centre = lo + (0.3 + 0.2 * shift) * (hi - lo)
    return np.clip(rng.normal(centre, 0.15 * (hi - lo), size=shape), lo, hi - 1e-6 * (hi - lo))


def _jets(kinds, n: int, rng, processing):
    """(table rows, normalised relevance per input) of ``n`` jets of both classes."""
    labels = np.arange(n) % 2
    rows, relevance = {"label": labels}, {}
    for kind in kinds:
        if kind.map_axes(processing) is not None:
            pixels = kind.map_axes(processing)[0]
            shape = (n, 2, pixels, pixels) if kind.name == "calo" else (n, pixels, pixels)
            image = rng.exponential(1.0, size=shape) * (rng.random(shape) < 0.05)
            rows[kind.name] = image
            relevance[kind.name] = rng.normal(0, 1, size=shape) * (image > 0)
        elif kind.jet_scalars:
            for c in kind.feature_names():
                rows[c] = _values(kind.binning(c), n, rng, labels)
            relevance[kind.name] = rng.normal(0, 1, size=(n, len(kind.feature_names()))) * rng.uniform(
                0.05, 1.0, size=len(kind.feature_names())
            )
        else:
            objects = np.zeros((n, kind.n_objects, len(kind.FEATURES)))
            count = rng.integers(1, kind.n_objects + 1, size=n)
            real = np.arange(kind.n_objects)[None, :] < count[:, None]
            for k, f in enumerate(kind.FEATURES):
                objects[..., k] = _values(kind.BINNING[f], (n, kind.n_objects), rng, labels[:, None])
            objects[~real] = 0.0
            rows[kind.table_column], rows[f"{kind.table_column}_mask"] = objects, real
            r = rng.normal(0, 1, size=objects.shape) * rng.uniform(0.05, 1.0, size=len(kind.FEATURES))
            relevance[kind.name] = r * real[..., None]
    top = np.max([np.abs(r).reshape(n, -1).max(axis=1) for r in relevance.values()], axis=0)
    return rows, {k: r / top.reshape(-1, *[1] * (r.ndim - 1)) for k, r in relevance.items()}


def _relevance_run(name: str, rng, n: int = 200):
    """(histograms, summary per rule) of a 3-member ensemble ``name``, as ``xaugcol explain`` writes them."""
    from xaugcol.explain import histograms as h
    from xaugcol.explain.explain_tables import summarise, with_top_pairs
    from xaugcol.processing.jet_table import ProcessingConfig

    processing = ProcessingConfig()
    kinds = _kinds(name)
    hists = h.tagger_histograms(name, kinds, RULES, processing)
    features = [f for kind in kinds for f in kind.feature_names()]
    rows = None
    for rule in RULES:
        for member in range(3):
            rows, normalised = _jets(kinds, n, rng, processing)
            sums = np.concatenate([k.feature_sums(normalised[k.name]) for k in kinds], axis=1)
            h.fill_relevance(hists, name, rule, member, kinds, rows, normalised, sums, processing)
            shares = np.concatenate([k.feature_sums(normalised[k.name], signed=True) for k in kinds], axis=1)
            h.fill_score_shares(
                hists, name, rule, member, features, rows["label"], shares * 0.1, rng.uniform(1, 5, size=n)
            )
    h.fill_input_maps(hists, name, kinds, rows, processing)
    ensemble = SimpleNamespace(name=name, spec=SimpleNamespace(kinds=kinds))
    summary = summarise(hists, ensemble, RULES)
    return with_top_pairs(hists, [ensemble], {name: summary}), summary


@pytest.fixture(scope="module")
def runs():
    """tagger -> (histograms, summary): every tagger of ``TAGGERS`` explained with both rules."""
    rng = np.random.default_rng(7)
    return {name: _relevance_run(name, rng) for name in TAGGERS}


# ---- one test per figure kind


def _draw_input_distributions(tmp_path, request):
    from xaugcol.plotting import inputs
    from xaugcol.processing.histograms import empty_histograms, fill_histograms
    from xaugcol.processing.process_fileset import write_histograms

    rng = np.random.default_rng(1)
    for table, names in (("jets", None), ("leptons", [*ISOLATION, "rho", "pt_sum", "track_iso", *SHOWER, "calo"])):
        hists = empty_histograms(names)
        for dataset, label in (("signal", 1), ("background", 0)):
            columns = {
                n: _values((50, h.axes[2].edges[0], h.axes[2].edges[-1], ""), 400, rng, label) for n, h in hists.items()
            }
            fill_histograms(hists, {**columns, "label": np.full(400, label), "weight": np.ones(400)}, dataset)
        write_histograms(tmp_path / f"{table}.root", hists)
        inputs.plot_inputs(tmp_path / f"{table}.root", tmp_path / f"inputs_{table}", STUDY_SAMPLE)


def _ensemble(folder, auc: float, members: int, rng):
    grid = np.logspace(-4, 0, 200)
    names = []
    for m in range(members):
        sig = np.clip(grid ** (0.25 * (1 - auc) / 0.05) * rng.uniform(0.97, 1.0), 0, 1)
        (folder / f"seed_{m}").mkdir(parents=True)
        (folder / f"seed_{m}" / "metrics.json").write_text(
            json.dumps({"roc": {"bkg_eff": grid.tolist(), "sig_eff": sig.tolist()}, "n_background": 1500})
        )
        names.append(f"seed_{m}")
    summary = {"members": names, "summary": {"auc": {"mean": auc, "std": 0.0012}}}
    (folder / "metrics.json").write_text(json.dumps(summary))
    return folder


def _draw_roc_curves(tmp_path, request):
    from xaugcol.plotting import performance

    rng = np.random.default_rng(2)
    demo = ["cnn2d", "cnn2d_xaug", "cnn1d", "cnn1d_xaug", "lstm", "lstm_xaug", "dnn"]
    taggers = {n: _ensemble(tmp_path / n, 0.93 + 0.005 * k, 3, rng) for k, n in enumerate(demo)}
    performance.plot_rocs(taggers, tmp_path / "roc_demo", DEMO_SAMPLE)
    study = {n: _ensemble(tmp_path / n, 0.95, 3, rng) for n in ("in", "in_xaug", "calo_cnn", "efn", "pfn")}
    performance.plot_rocs({**study, "dnn": taggers["dnn"]}, tmp_path / "roc_study", STUDY_SAMPLE)


def _draw_feature_relevance_bars(tmp_path, request):
    from xaugcol.plotting import relevance as plots

    for name, (_, summary) in request.getfixturevalue("runs").items():
        xaug = [f for k in _kinds(name) if k.name == "xaug" for f in k.feature_names()]
        ranked = summary[RULES[0]]["ranking"]
        groups = [[f for f in ranked if f not in xaug], xaug] if xaug and len(_kinds(name)) > 1 else [ranked]
        plots.plot_feature_relevance(
            {name: summary}, name, RULES[0], tmp_path / f"relevance_{name}", TAGGERS[name][3], groups
        )
    # a ranking of long raw names (columns without a label: EFPs), 25 of them
    long = {f"{c}_{k}": {"mean": 0.5 / (k + 1), "std": 0.02} for k in range(6) for c in EFP_COLUMNS}
    summary = {"classes": {"signal": long, "background": long}, "ranking": list(long)}
    plots.plot_feature_relevance(
        {"dnn": {"epsilon": summary}}, "dnn", "epsilon", tmp_path / "relevance_efp", STUDY_SAMPLE
    )


def _draw_relevance_profiles(tmp_path, request):
    from xaugcol.plotting import relevance as plots

    for name, (hists, summary) in request.getfixturevalue("runs").items():
        plots.plot_profiles(hists, {name: summary}, name, RULES[1], tmp_path / f"profiles_{name}", TAGGERS[name][3])


def _draw_relevance_of_the_top_pair(tmp_path, request):
    from xaugcol.plotting import relevance as plots

    for name, (hists, summary) in request.getfixturevalue("runs").items():
        plots.plot_pair(hists, {name: summary}, name, RULES[0], tmp_path / f"pair_{name}", TAGGERS[name][3])


def _draw_relevance_heat_maps(tmp_path, request):
    from xaugcol.plotting import relevance as plots

    for name in ("cnn2d_xaug", "calo_cnn"):
        hists, _ = request.getfixturevalue("runs")[name]
        plots.plot_heatmaps(hists, name, RULES[0], tmp_path / f"heatmap_{name}", TAGGERS[name][3])


def _curves(rng, steps: int = 9) -> dict:
    x = np.linspace(0, 1, steps)

    def band(start, end):
        mean = start + (end - start) * x ** rng.uniform(0.5, 2)
        return {"mean": mean.tolist(), "std": (0.05 * np.abs(mean)).tolist()}

    return {
        "removed_fraction": x.tolist(),
        "score": {"mean": float(rng.uniform(0.1, 0.5)), "std": 0.01},
        "margin": {"relevance": band(1, 0), "reverse": band(1, 0.6), "random": band(1, 0.3)},
        "auc": {"relevance": band(0.97, 0.5), "reverse": band(0.97, 0.9), "random": band(0.97, 0.7)},
    }


def _draw_faithfulness_curves(tmp_path, request):
    from xaugcol.plotting.faithfulness import plot_faithfulness

    rng = np.random.default_rng(3)
    cases = {
        "cnn2d_xaug": ("pixels, XAUG variables", RULES, DEMO_SAMPLE),
        "lstm_xaug": ("particles, XAUG variables", RULES, DEMO_SAMPLE),
        "in_xaug": ("tracks, secondary vertexs, XAUG variables", (*RULES, "gradient_x_input", "zplus"), STUDY_SAMPLE),
    }
    for name, (units, methods, sample) in cases.items():
        curves = {m: _curves(rng) for m in methods}
        plot_faithfulness(curves, name, tmp_path / f"faithfulness_{name}", sample, units)


def _occlusion(name: str, summary: dict, rng, flagged: int = 3) -> dict:
    """An occlusion table of ``name``'s inputs (an image in 3 x 3 blocks), most harmful first; ``flagged`` of the
    least harmful flagged as bias-like, with nearly the same relevance and dAUC (as the demo's particle flags)."""
    groups = [(g, k.name) for k in _kinds(name) for g in k.occlusion_groups()]
    dauc = np.sort(rng.exponential(0.1, size=len(groups)) - 0.03)[::-1]
    rows = [
        {"feature": g, "kind": kind, "dauc": {"mean": float(d), "std": float(abs(d) * 0.4 + 0.005)}}
        for (g, kind), d in zip(groups, dauc)
    ]
    bias = []
    for r in rows[-flagged - 2 : -2] if flagged else []:
        r["dauc"]["mean"] = -0.07 + rng.normal(0, 0.004)
        bias.append({"feature": r["feature"], "dauc": r["dauc"]["mean"]})
        for cls in summary[RULES[0]]["classes"].values():
            if r["feature"] in cls:
                cls[r["feature"]]["mean"] = 0.75 + rng.normal(0, 0.03)
    return {"auc": {"mean": 0.9715, "std": 0.0004}, "features": rows, "bias_like": {RULES[0]: bias}}


def _draw_occlusion_ranking(tmp_path, request):
    from xaugcol.plotting.interpretation import plot_occlusion

    rng = np.random.default_rng(4)
    for name, (_, summary) in request.getfixturevalue("runs").items():
        summary = json.loads(json.dumps(summary))
        table = _occlusion(name, summary, rng, flagged=3 if name in ("lstm_xaug", "in_xaug") else 0)
        plot_occlusion(table, summary, RULES[0], name, tmp_path / f"occlusion_{name}", TAGGERS[name][3])
    # the left panel alone (no relevance of the tagger)
    plot_occlusion(table, None, None, name, tmp_path / "occlusion_alone", STUDY_SAMPLE)


def _patterns(layers: dict, rng) -> dict:
    out = {}
    for layer, neurons in layers.items():
        out[layer] = {
            "neurons": neurons,
            "classes": {
                c: {"rna": rng.beta(0.5, 2, size=neurons).tolist(), "sparsity": float(rng.uniform(0.1, 0.9))}
                for c in ("signal", "background")
            },
        }
    return {"layers": out, "threshold": 0.2}


def _draw_activation_patterns(tmp_path, request):
    from xaugcol.plotting.interpretation import plot_activations

    rng = np.random.default_rng(5)
    cnn2d = {"body.2": 8, "body.5": 8, "body.9": 8, "body.12": 8, "head.1": 64, "head.3": 64}
    cases = {
        "cnn2d_xaug": (cnn2d, DEMO_SAMPLE),
        "lstm": ({"head.1": 64}, DEMO_SAMPLE),
        "in_xaug squeezed": ({f"interaction.edges.{k}": 32 for k in range(4)} | {"head.1": 16}, STUDY_SAMPLE),
    }
    for name, (layers, sample) in cases.items():
        plot_activations(_patterns(layers, rng), name, tmp_path / f"activations_{name.replace(' ', '_')}", sample)


def _draw_edge_relevance(tmp_path, request):
    from xaugcol.explain.edges import EDGE_KINDS, LENGTH_BINS
    from xaugcol.plotting.edges import plot_edges, plot_jet_edges

    rng = np.random.default_rng(9)

    def summary():
        shares = rng.dirichlet(np.ones(len(EDGE_KINDS)))
        by_length = rng.dirichlet(np.ones(len(LENGTH_BINS) - 1))
        return {
            "share": {k: {"mean": float(v), "std": 0.05} for k, v in zip(EDGE_KINDS, shares)},
            "by_length": by_length.tolist(),
            "edges": {k: 1000.0 for k in EDGE_KINDS},
        }

    for name, blocks, sample in (("particlenet_xaug", 2, DEMO_SAMPLE), ("particlenet", 3, STUDY_SAMPLE)):
        edges = {f"body.{b}": {"signal": summary(), "background": summary()} for b in range(blocks)}
        plot_edges(edges, name, "alpha1beta0", tmp_path / f"edges_{name}", sample)
    # example jets with their top edges: two prongs of particles, edges of two blocks
    from xaugcol.explain.edges import BlockEdges
    from xaugcol.features.particles import FEATURES

    jets, slots, k = 4, 30, 7
    particles = np.zeros((jets, slots, len(FEATURES)))
    n = 24
    centre = np.where(np.arange(n) < n // 2, -0.15, 0.2)[:, None]
    particles[:, :n, FEATURES.index("deta_jet")] = centre.T + rng.normal(0, 0.04, (jets, n))
    particles[:, :n, FEATURES.index("dphi_jet")] = -centre.T + rng.normal(0, 0.04, (jets, n))
    particles[:, :n, FEATURES.index("log_pt_rel")] = np.log(rng.dirichlet(np.ones(n), jets))
    index = rng.integers(0, n, (jets, slots, k))
    real = np.zeros((jets, slots, k), dtype=bool)
    real[:, :n] = True
    blocks = [BlockEdges(f"body.{b}", index, real, rng.normal(size=(jets, slots, k)) * real,
                         np.zeros((jets, slots)), np.zeros((jets, slots))) for b in range(2)]
    plot_jet_edges(particles, blocks, np.array([1, 1, 0, 0]), rng.normal(0, 3, jets), "particlenet_xaug",
                   "alpha1beta0", tmp_path / "edge_examples_particlenet_xaug", STUDY_SAMPLE)


def _draw_example_jets(tmp_path, request):
    from xaugcol.plotting import examples
    from xaugcol.processing.jet_table import ProcessingConfig

    monkeypatch = request.getfixturevalue("monkeypatch")
    rng = np.random.default_rng(6)
    processing = ProcessingConfig()
    method = {"name": "epsilon", "method": "lrp", "composite": "epsilon"}
    for name in ("cnn2d_xaug", "lstm_xaug", "dnn", "in_xaug", "calo_cnn", "efn_xaug"):
        kinds = _kinds(name)
        rows, relevance = _jets(kinds, 4, rng, processing)
        output = rng.normal(0, 3, size=4)
        drawn = (rows, relevance, output)
        monkeypatch.setattr(examples, "example_relevance", lambda *a, drawn=drawn, **k: drawn)
        ensemble = SimpleNamespace(name=name, spec=SimpleNamespace(kinds=kinds))
        examples.plot_examples(ensemble, None, method, tmp_path / f"examples_{name}", TAGGERS[name][3], 2, processing)


def _draw_guided_search(tmp_path, request):
    from xaugcol.features.efp.anchored import parse_anchored_column
    from xaugcol.features.efp.columns import parse_column
    from xaugcol.plotting.mapping import plot_guided

    rows = [{"added": None, "graph": None, "kappa": None, "beta": None}]
    for column in EFP_COLUMNS[:4] * 2:
        graph, kappa, beta = (parse_anchored_column if column.startswith("efpl_") else parse_column)(column)
        rows.append({"added": column, "graph": graph, "kappa": kappa, "beta": beta})
    for k, r in enumerate(rows):
        r["auc"] = {"mean": 0.85 + 0.012 * k, "std": 0.004}
        r["ado_black_box"] = 0.8 + 0.015 * k
    result = {"black_box": {"name": "in", "auc": {"mean": 0.965, "std": 0.002}}, "high_level": "dnn", "rows": rows}
    plot_guided(result, tmp_path / "guided_search", STUDY_SAMPLE)


def _draw_efp_graph_pictures(tmp_path, request):
    from xaugcol.plotting.efp_graphs import plot_graphs

    graphs = ["n2_d1_k0", "n4_d5_k1xn2_d1_k0", "n5_d4_k1_a4", "n5_d5_k3", "n2_d1_k0xn3_d2_k0xn2_d1_k0"]
    for graph in graphs:
        plot_graphs([graph], tmp_path / f"efp_graph_{graph}")
    plot_graphs(graphs * 2, tmp_path / "efp_graphs")


FIGURES = {
    "inputs": _draw_input_distributions,
    "roc": _draw_roc_curves,
    "relevance": _draw_feature_relevance_bars,
    "profiles": _draw_relevance_profiles,
    "pair": _draw_relevance_of_the_top_pair,
    "heatmap": _draw_relevance_heat_maps,
    "faithfulness": _draw_faithfulness_curves,
    "occlusion": _draw_occlusion_ranking,
    "activations": _draw_activation_patterns,
    "edges": _draw_edge_relevance,
    "examples": _draw_example_jets,
    "guided_search": _draw_guided_search,
    "efp_graphs": _draw_efp_graph_pictures,
}


@pytest.mark.parametrize("kind", FIGURES)
def test_no_text_overlaps_another_or_hides_data(kind, tmp_path, request):
    """Every figure of the kind, drawn from inputs like the demo's and the studies': no two texts overlap, none is
    cut off at the canvas's edge, none inside a panel hides a bar, a point or an error bar."""
    found: dict = {}
    with checked_saves(found):
        FIGURES[kind](tmp_path, request)
    assert found, "no figure was drawn"
    bad = {stem: problems for stem, problems in found.items() if problems}
    lines = [f"{stem}: {p}" for stem, problems in sorted(bad.items()) for p in problems]
    assert not bad, f"{len(bad)} of {len(found)} {kind} figures with overlapping texts:\n" + "\n".join(lines)
