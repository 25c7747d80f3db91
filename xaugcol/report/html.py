"""One static HTML page per study (``index.html``): configuration, metrics, ranking, reduced sets, figures.

Plain HTML with relative links to the PNG figures (and their PDFs): it opens from disk, from a web server or in a
CI artefact. Every text from the configuration or the data is escaped.
"""

from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path
from typing import Any

import yaml

from xaugcol.atomic import atomic_path
from xaugcol.explain.agreement import comparison_rule
from xaugcol.paths import read_json
from xaugcol.training.domain import CHANCE_FACTOR, WARN_FRACTION

SECTIONS = {
    "inputs": "Input distributions",
    "performance": "Performance",
    "relevance": "Mean normalised relevance",
    "profiles": "Relevance profiles",
    "pairs": "The two most relevant XAUG variables",
    "heatmaps": "Image heat maps",
    "faithfulness": "Faithfulness: input-perturbation curves",
    "occlusion": "Feature occlusion against LRP",
    "activations": "Neuron-activation patterns",
    "edges": "The relevance of ParticleNet's edges",
    "examples": "Example jets",
    "mapping": "Guided search in the space of EFPs",
}
METRICS = (
    ("auc", "AUC"),
    ("sig_eff_at_bkg_0.01", "sig. eff. at 1 % bkg."),
    ("sig_eff_at_bkg_0.1", "sig. eff. at 10 % bkg."),
)
TOP_FEATURES = 10
SCORE_FEATURES = 5  # per class, in the occlusion section

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; }
figure { display: inline-block; margin: 0.5em; width: 540px; vertical-align: top; }
figure img { width: 100%; border: 1px solid #ddd; cursor: zoom-in; }
figcaption { font-size: 0.9em; line-height: 1.35; }
nav.toc { background: #f6f6f6; padding: 0.5em 1.5em; display: inline-block; }
nav.toc li { margin: 0.15em 0; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def heading(title: str, level: int = 2) -> str:
    """A section heading with an anchor; level-2 headings make the report's table of contents.

    Parameters
    ----------
    title : str
        The heading's text (escaped); its anchor is the text in lower case, other characters as hyphens.
    level : int, default 2
        The heading's level (``<h2>``, ``<h3>``, ...).

    Returns
    -------
    str
        The heading, ``<h<level> id='<slug>'>``.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
    return f"<h{level} id='{slug}'>{escape(title)}</h{level}>"


def table_of_contents(sections: list[str]) -> str:
    """A list of links to the level-2 headings of ``sections`` (empty without any).

    Parameters
    ----------
    sections : list of str
        The page's sections, HTML.

    Returns
    -------
    str
        The ``<nav>`` with an ordered list of links; ``""`` without level-2 headings.
    """
    entries = re.findall(r"<h2 id='([^']+)'>(.*?)</h2>", "\n".join(sections))
    if not entries:
        return ""
    return (
        "<nav class='toc'><strong>Contents</strong><ol>"
        + "".join(f"<li><a href='#{slug}'>{title}</a></li>" for slug, title in entries)
        + "</ol></nav>"
    )


def _pm(stat: dict, digits: int = 4) -> str:
    if stat.get("mean") is None:  # a class with no jets (signal and background in real data)
        return "-"
    return f"{stat['mean']:.{digits}f} &plusmn; {stat['std']:.{digits}f}"


def metrics_table(taggers: dict) -> str:
    """The metrics of each tagger: members, and each of ``METRICS`` as mean and spread over the members.

    Parameters
    ----------
    taggers : dict
        Tagger name -> ensemble folder (its ``metrics.json``).

    Returns
    -------
    str
        The HTML table, one row per tagger.
    """
    rows = ["<tr><th>tagger</th><th>members</th>" + "".join(f"<th>{escape(t)}</th>" for _, t in METRICS) + "</tr>"]
    for name, folder in taggers.items():
        summary = read_json(Path(folder) / "metrics.json", "an ensemble's metrics.json")
        if "summary" not in summary:  # a tagger imported from elsewhere (xaugcol import-weaver): no test here
            rows.append(
                f"<tr><td class='name'>{escape(name)}</td><td>1</td>"
                f"<td colspan='{len(METRICS)}'>imported ({escape(str(summary.get('imported_from', '?')))}): "
                "not trained or tested here</td></tr>"
            )
            continue
        s = summary["summary"]
        rows.append(
            f"<tr><td class='name'>{escape(name)}</td><td>{len(summary['seeds'])}</td>"
            + "".join(f"<td>{_pm(s[k])}</td>" for k, _ in METRICS)
            + "</tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def ranking_table(relevance: dict, tagger: str, rule: str) -> str:
    """The ``TOP_FEATURES`` most relevant inputs of ``tagger`` under ``rule``, with their relevance per class.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.
    tagger : str
        The tagger's name.
    rule : str
        The explanation method's name.

    Returns
    -------
    str
        The HTML table: rank, input, and the mean normalised relevance (with its spread over the members) for
        all jets and each class with values.
    """
    s = relevance["relevance"][tagger][rule]
    classes = [
        c
        for c in ("all", "signal", "background", "data")
        if c in s["classes"] and any(v["mean"] is not None for v in s["classes"][c].values())
    ]
    rows = [
        "<tr><th>rank</th><th>input</th>"
        + "".join(f"<th>{'all jets' if c == 'all' else c}</th>" for c in classes)
        + "</tr>"
    ]
    for i, f in enumerate(s["ranking"][:TOP_FEATURES], 1):
        cells = "".join(f"<td>{_pm(s['classes'][c][f], 3)}</td>" for c in classes)
        rows.append(f"<tr><td>{i}</td><td class='name'>{escape(f)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def reduced_table(rows: list[dict]) -> str:
    """The metrics of the taggers retrained on their k most relevant XAUG variables, one row per k.

    Parameters
    ----------
    rows : list of dict
        The reduced sets' rows (``reduced.json``): ``k``, ``variables`` and each of ``METRICS`` (mean, std).

    Returns
    -------
    str
        The HTML table.
    """
    out = [
        "<tr><th>k</th><th>variables (added in ranking order)</th>"
        + "".join(f"<th>{escape(t)}</th>" for _, t in METRICS)
        + "</tr>"
    ]
    for r in rows:
        out.append(
            f"<tr><td>{r['k']}</td><td class='name'>{escape(', '.join(r['variables']))}</td>"
            + "".join(f"<td>{_pm(r[k])}</td>" for k, _ in METRICS)
            + "</tr>"
        )
    return "<table>" + "".join(out) + "</table>"


def counts_table(relevance: dict) -> str:
    """Per tagger of relevance.json: the jets explained, those skipped, and the bias share under each rule.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The HTML table; the bias share is the part of the relevance the biases absorbed.
    """
    rules = relevance["config"]["rules"]
    rows = [
        "<tr><th>tagger</th><th>jets explained</th><th>skipped (NaN/inf)</th>"
        + "".join(f"<th>bias share, {escape(r)}</th>" for r in rules)
        + "</tr>"
    ]
    for name, per_dataset in relevance["counts"].items():
        selected = sum(c["jets_selected"] for c in per_dataset.values())
        skipped = sum(c["skipped_nonfinite_input"] for c in per_dataset.values())
        absorbed = relevance["absorbed_fraction"][name]
        cells = "".join(f"<td>{absorbed[r]:.1%}</td>" if absorbed[r] is not None else "<td>-</td>" for r in rules)
        rows.append(f"<tr><td class='name'>{escape(name)}</td><td>{selected}</td><td>{skipped}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def outside_table(relevance: dict) -> str:
    """Per tagger, the share of explained jets outside the range of its training jets, overall and per column.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        A level-3 heading, the explanation and the table (the five columns with most jets outside); ``""``
        without ``outside_training_range``.
    """
    outside = relevance.get("outside_training_range") or {}
    if not outside:
        return ""
    rows = [
        "<tr><th>tagger</th><th>outside the training range</th><th>chance</th><th>by column (largest first)</th></tr>"
    ]
    for name, f in outside.items():
        worst = sorted(((c, v) for c, v in f["by_column"].items() if v > 0), key=lambda cv: -cv[1])[:5]
        detail = ", ".join(f"{escape(c)} {v:.1%}" for c, v in worst) or "-"
        flag = " <strong>(extrapolating)</strong>" if f["flagged"] else ""
        rows.append(
            f"<tr><td class='name'>{escape(name)}</td><td>{f['fraction']:.1%}{flag}</td>"
            f"<td>{f['chance']:.1%}</td><td class='name'>{detail}</td></tr>"
        )
    return (
        heading("Jets outside the training range", 3)
        + "<p>A jet whose pt, eta, mass or any scaled input lies outside the range of the tagger's training jets "
        "asks it to extrapolate, and its decisions and relevance there describe an extrapolation. Chance: at "
        "most the share that jets drawn from the training distribution would put outside (2 C / (N + 1) for C "
        f"columns and N training jets); a tagger is flagged above {CHANCE_FACTOR:g} times that and above "
        f"{WARN_FRACTION:.0%}.</p><table>" + "".join(rows) + "</table>"
    )


def faithfulness_table(relevance: dict) -> str:
    """Per tagger and method, the faithfulness score and reverse gap, and the most faithful method.

    The scores are ``xaugcol.explain.faithfulness``'s; the most faithful method has the highest mean score.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and the HTML table; ``""`` without faithfulness curves.
    """
    curves = relevance.get("faithfulness") or {}
    if not curves:
        return ""
    rules = relevance["config"]["rules"]
    rows = ["<tr><th>tagger</th>" + "".join(f"<th>{escape(r)}</th>" for r in rules) + "<th>most faithful</th></tr>"]
    for name, per_rule in curves.items():
        cells = "".join(
            f"<td>{_pm(per_rule[r]['score'], 2)} / {per_rule[r]['reverse_gap']['mean']:+.2f}</td>"
            if r in per_rule
            else "<td>-</td>"
            for r in rules
        )
        best = max(per_rule, key=lambda r: per_rule[r]["score"]["mean"])
        rows.append(f"<tr><td class='name'>{escape(name)}</td>{cells}<td class='name'>{escape(best)}</td></tr>")
    steps = relevance["config"].get("faithfulness_steps")
    return (
        f"<p>Input perturbation in {steps} steps: each jet loses its units (pixels, particles, XAUG variables) "
        "most relevant first, least relevant first, or in a fixed random order (removed pixels become empty, "
        "particles padding, XAUG variables their training mean), and the tagger's decision margin (the sign "
        "of its logit before removal times its logit, averaged over jets) is followed. Score: the area "
        "between the random and the most-relevant-first margin curves over the removed fraction, relative "
        "to the margin before removal (mean &plusmn; spread over members); after the slash the reverse gap "
        "(least-relevant-first minus random). A faithful method has a large positive score and a positive "
        "gap; near zero or negative, removing what it calls relevant hurts the tagger no more than chance."
        "</p><table>" + "".join(rows) + "</table>"
    )


def occlusion_tables(relevance: dict) -> str:
    """Per tagger: the most harmful occlusions, the multi-feature masking and the features acting like a bias.

    The masking is at Roy and Neubauer's (ICHEP 2022) thresholds (``xaugcol.explain.occlusion``,
    ``xaugcol.explain.agreement``); also the largest shares of the output score per class.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and, per tagger, its tables folded under a line with its AUC; ``""`` without
        occlusion tables.
    """
    tables = relevance.get("occlusion") or {}
    if not tables:
        return ""
    parts = [
        "<p>Each input feature set to zero after scaling in every jet (a track or vertex feature in all "
        "tracks or vertices, an image block, an XAUG variable), as Roy and Neubauer do: dAUC = (AUC<sub>0</sub> "
        "&minus; AUC) &times; 100 and the same for the area under the precision-recall curve, mean &plusmn; "
        "spread over the ensemble members. Then Roy and Neubauer's multi-feature masking: at each threshold "
        "every feature whose dAUC lies below it is masked, all together. Per tagger (unfold): the "
        f"{TOP_FEATURES} most harmful occlusions, the masking, the largest shares of the output score and the "
        "features acting like a bias.</p>"
    ]
    for name, t in tables.items():
        own = []
        rows = ["<tr><th>feature</th><th>kind</th><th>dAUC &times; 100</th><th>dAUPRC &times; 100</th></tr>"]
        rows += [
            f"<tr><td class='name'>{escape(r['feature'])}</td><td class='name'>{escape(r['kind'])}</td>"
            f"<td>{_pm(r['dauc'], 3)}</td><td>{_pm(r['dauprc'], 3)}</td></tr>"
            for r in t["features"][:TOP_FEATURES]
        ]
        own.append("<table>" + "".join(rows) + "</table>")
        if t.get("thresholds"):
            kinds = list(t["thresholds"][0]["dropped"])
            head = "".join(f"<th>{escape(k)} dropped</th>" for k in kinds)
            rows = [
                f"<tr><th>dAUC &times; 100 below</th>{head}<th>AUC, all dropped masked</th>"
                "<th>dAUC &times; 100</th></tr>"
            ]
            rows += [
                f"<tr><td>{r['threshold']:g}</td>"
                + "".join(f"<td>{r['dropped'][k]} / {r['of'][k]}</td>" for k in kinds)
                + f"<td>{_pm(r['auc'])}</td><td>{_pm(r['dauc'], 3)}</td></tr>"
                for r in t["thresholds"]
            ]
            own.append("<table>" + "".join(rows) + "</table>")
        own.append(_score_ranking(relevance, name))
        flagged = {rule: f for rule, f in (t.get("bias_like") or {}).items() if f}
        if flagged:
            items = "; ".join(
                f"{escape(rule)}: "
                + ", ".join(
                    f"{escape(f['feature'])} (relevance rank {f['relevance_rank']}, dAUC {f['dauc']:.4f}, class "
                    f"distance {f['class_distance']:.3f})"
                    for f in fs
                )
                for rule, fs in flagged.items()
            )
            own.append(
                f"<p><b>Acting like a bias</b> (ranked high by the method, no AUC lost when occluded, "
                f"distributed alike in both classes): {items}.</p>"
            )
        parts.append(folded(f"{escape(name)}: AUC {_pm(t['auc'])}, {t['jets']} jets", "".join(own)))
    return "\n".join(parts)


def _score_ranking(relevance: dict, tagger: str) -> str:
    """The features carrying most of the output score per class under the method compared with occlusion."""
    rule = comparison_rule(relevance["config"]["rules"])
    score = ((relevance.get("relevance") or {}).get(tagger) or {}).get(rule, {}).get("score")
    if not score:
        return ""
    items = "; ".join(
        f"{cls}: " + ", ".join(f"{escape(f)} {score['classes'][cls][f]['mean']:.3f}" for f in ranked[:SCORE_FEATURES])
        for cls, ranked in score["ranking"].items()
        if cls in ("signal", "background")
    )
    return f"<p>{escape(rule)}'s relevance normalised by the output score, the largest shares per class: {items}.</p>"


def activations_table(relevance: dict) -> str:
    """Per tagger, the sparsity of its neuron-activation patterns (``xaugcol.explain.activations``).

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and the HTML table (neurons, the share quiet in both classes, the quietest layer);
        ``""`` without activation patterns.
    """
    naps = relevance.get("activations") or {}
    if not naps:
        return ""
    rows = [
        "<tr><th>tagger</th><th>neurons</th><th>quiet in both classes (RNA &lt; 0.2)</th><th>quietest layer</th></tr>"
    ]
    for name, p in naps.items():
        quietest = max(p["layers"], key=lambda k: p["layers"][k]["sparsity"])
        rows.append(
            f"<tr><td class='name'>{escape(name)}</td><td>{p['neurons']}</td><td>{_pm(p['sparsity'], 3)}"
            f"</td><td class='name'>{escape(quietest)} ({p['layers'][quietest]['sparsity']:.0%})</td></tr>"
        )
    return (
        "<p>Relative neural activity of each ReLU neuron, RNA = its activation summed over the jets of a "
        "class over its layer's most active neuron's; the share of neurons below 0.2 in both classes "
        "(mean &plusmn; spread over members) measures how much of the network its decisions use.</p><table>"
        + "".join(rows)
        + "</table>"
    )


def sanity_table(relevance: dict) -> str:
    """Per tagger and method, the model-randomisation check (``xaugcol.explain.sanity``).

    The rank correlation with the trained tagger's relevance after the output layer and after every layer is
    re-initialised.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and the HTML table; ``""`` without the check.
    """
    sanity = relevance.get("sanity") or {}
    if not sanity:
        return ""
    rules = relevance["config"]["rules"]
    rows = [
        "<tr><th>tagger</th><th>jets</th>"
        + "".join(f"<th>{escape(r)}: output layer</th><th>{escape(r)}: all layers</th>" for r in rules)
        + "</tr>"
    ]
    for name, check in sanity.items():
        cells = ""
        for r in rules:
            steps = check["methods"].get(r)
            if not steps:
                cells += "<td>-</td><td>-</td>"
                continue
            cells += "".join(f"<td>{s['spearman']:+.2f} ({s['spearman_abs']:+.2f})</td>" for s in (steps[0], steps[-1]))
        rows.append(f"<tr><td class='name'>{escape(name)}</td><td>{check['jets']}</td>{cells}</tr>")
    return (
        "<p>The first member's layers re-initialised from the output down (Adebayo et al. 2018): the mean "
        "over jets of Spearman's rank correlation between the relevance and the trained tagger's, signed "
        "and, in brackets, of |relevance|, over the input values present in each jet; after the output "
        "layer alone and after every layer. An explanation of the decision changes as the weights that "
        "made it are destroyed (correlation well below 1); one that stays near 1 shows the input, not the "
        "tagger.</p><table>" + "".join(rows) + "</table>"
    )


def counts_text(relevance: dict) -> str:
    """How many jets each tagger explained and its bias share per rule.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and ``counts_table``.
    """
    return (
        f"<p>Jets explained ({escape(relevance['config']['split'])} split, per member) and the bias share "
        f"&Sigma;|logit &minus; &Sigma;R<sub>inputs</sub>| / &Sigma;|logit|: the part of the explained logit "
        f"that biases and stabilisers took instead of the inputs. Above 100 % the inputs' relevance and the "
        f"biases' cancel in part.</p>" + counts_table(relevance)
    )


def ranking_tables(relevance: dict) -> str:
    """Per tagger (folded), its inputs ranked by mean normalised relevance under each rule.

    Parameters
    ----------
    relevance : dict
        A relevance output's ``relevance.json``.

    Returns
    -------
    str
        The explanation and, per tagger, its ``ranking_table`` per rule folded under its top three inputs.
    """
    parts = [
        "<p>Per jet, every relevance is divided by the largest absolute one; per input the absolute "
        "normalised relevance is summed (over pixels, over particles) and averaged over jets. "
        f"Errors: standard deviation over the ensemble members. Per tagger (unfold): the {TOP_FEATURES} "
        "highest-ranked inputs under each rule.</p>"
    ]
    for name in relevance["relevance"]:
        rules = relevance["config"]["rules"]
        tables = "".join(f"<h4>LRP {escape(rule)}</h4>" + ranking_table(relevance, name, rule) for rule in rules)
        top = relevance["relevance"][name][comparison_rule(rules)]["ranking"][:3]
        parts.append(folded(f"{escape(name)}: {escape(', '.join(top))}, ...", tables))
    return "\n".join(parts)


def _gain_text(e: dict) -> str:
    if e["gain"] is None:
        return "- (no signal above the threshold)"
    return f"{e['gain']:+.1%} &plusmn; {e['error']:.1%}" if e["error"] is not None else f"{e['gain']:+.1%}"


def gain_section(gain: dict) -> str:
    """The XAUG gain per tagger, pT bin and background efficiency (``xaugcol.training.gain``).

    Parameters
    ----------
    gain : dict
        The gain stage's ``xaug_gain.json``: ``config`` and ``gains`` (model -> ``bins``).

    Returns
    -------
    str
        A heading, the explanation and the HTML table; ``""`` without gains.
    """
    gains = gain.get("gains") or {}
    if not gains:
        return ""
    rows = [
        "<tr><th>tagger</th><th>jet pT [GeV]</th><th>signal / background test jets</th><th>bkg. eff.</th>"
        "<th>sig. eff. without XAUG</th><th>with XAUG</th><th>gain</th><th>bkg. jets above</th></tr>"
    ]
    for model, g in gains.items():
        for b in g["bins"]:
            lo, hi = b["pt"]
            span = "all" if lo == float("-inf") else f"{lo:g} - {hi:g}"
            for e in b["efficiencies"]:
                rows.append(
                    f"<tr><td class='name'>{escape(model)}</td><td>{span}</td>"
                    f"<td>{b['jets']['signal']} / {b['jets']['background']}</td>"
                    f"<td>{e['background_efficiency']:g}</td><td>{_pm(e['base'], 3)}</td>"
                    f"<td>{_pm(e['xaug'], 3)}</td><td>{_gain_text(e)}</td>"
                    f"<td>{e['background_above']:.0f}</td></tr>"
                )
    c = gain["config"]
    return (
        heading("What the XAUG variables add")
        + "<p>Signal efficiency at fixed background efficiency of each tagger without and with the XAUG "
        "variables joined before its head (mean &plusmn; spread over the ensemble members), on the test jets "
        "as the taggers were trained (selection and weights, e.g. matched pT spectra); gain = with / "
        "without &minus; 1, its error the training spread (members' error of the mean) and a bootstrap of "
        f"the test jets ({c['bootstrap']} resamplings) in quadrature. Bkg. jets above: background test jets "
        "above the threshold (the statistics a small efficiency rests on).</p><table>" + "".join(rows) + "</table>"
    )


def reduced_section(tagger: str, rule: str, rows: list[dict]) -> str:
    """The section of the reduced XAUG sets (``reduced_table``); empty without rows.

    Parameters
    ----------
    tagger : str
        The retrained tagger's name.
    rule : str
        The method whose ranking chose the variables.
    rows : list of dict
        The reduced sets' rows (``reduced.json``).

    Returns
    -------
    str
        A heading, a sentence and the table; ``""`` without rows.
    """
    if not rows:
        return ""
    return (
        heading("Reduced XAUG sets") + f"<p>The {escape(tagger)} retrained on its k most relevant XAUG variables "
        f"({escape(rule)} ranking).</p>" + reduced_table(rows)
    )


RETRAININGS = {
    "reduced_scratch": "reduced features, from scratch",
    "reduced_preloaded": "reduced features, preloaded",
    "without_bias_like": "without the bias-like features, preloaded",
    "squeezed": "squeezed, from scratch",
}


def interpret_section(result: dict) -> str:
    """The retrainings after occlusion (``xaugcol.training.pruning``) against the baseline.

    Parameters
    ----------
    result : dict
        The interpret stage's ``interpret.json``.

    Returns
    -------
    str
        A heading, the explanation (with the squeezed model's inference time and sparsity) and the table;
        ``""`` without retrainings.
    """
    runs = result.get("runs") or {}
    if not runs:
        return ""

    def reached(r: dict[str, Any]) -> str:
        if r["epochs_to_baseline"] is None:
            return "never"
        return (
            f"{r['reached_baseline']}/{len(r['members'])}: {_pm(r['epochs_to_baseline'], 1)} epochs, "
            f"{_pm(r['seconds_to_baseline'], 0)} s"
        )

    rows = [
        "<tr><th>retraining</th><th>features masked</th><th>parameters</th><th>AUC</th><th>sig. eff. at 1 % "
        "bkg.</th><th>fidelity</th><th>reached the baseline's val. AUC</th></tr>",
        f"<tr><td class='name'>baseline {escape(result['tagger'])}</td><td>0</td>"
        f"<td>{result['baseline']['parameters']}</td><td>{_pm(result['baseline']['auc'])}</td><td>-</td>"
        f"<td>1</td><td>-</td></tr>",
    ]
    for name, r in runs.items():
        rows.append(
            f"<tr><td class='name'>{escape(RETRAININGS.get(name, name))}</td><td>{len(r['masked'])}</td>"
            f"<td>{r['parameters']}</td><td>{_pm(r['summary']['auc'])}</td>"
            f"<td>{_pm(r['summary']['sig_eff_at_bkg_0.01'], 3)}</td><td>{_pm(r['fidelity'], 4)}</td>"
            f"<td>{reached(r)}</td></tr>"
        )
    text = (
        f"<p>{escape(result['tagger'])} retrained: on the features whose occlusion dAUC is at least "
        f"{result['prune_below']:g} (the {len(result['dropped'])} others held at zero), from scratch and with "
        f"the baseline's weights preloaded; without the features flagged as acting like a bias "
        f"({escape(', '.join(result['flagged'])) or 'none flagged'}); and squeezed. Fidelity: 1 &minus; mean "
        f"|y<sub>baseline</sub> &minus; y<sub>retrained</sub>| on the test jets. The last column: members whose "
        f"validation AUC reached the baseline's (within 0.001), and after how many epochs and training "
        f"seconds.</p>"
    )
    squeezed = result.get("squeezed")
    if squeezed:
        mine, theirs = squeezed["activations"], squeezed.get("baseline_activations")
        text += (
            f"<p>Squeezed model: inference time {squeezed['inference_time_ratio']:.2f} of the baseline's; "
            f"neurons quiet (RNA &lt; 0.2) in both classes {_pm(mine['sparsity'], 3)}"
            + (f" against {_pm(theirs['sparsity'], 3)} in the baseline" if theirs else "")
            + ".</p>"
        )
    return heading("Retraining after occlusion") + text + "<table>" + "".join(rows) + "</table>"


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def mapping_section(result: dict, figures: dict) -> str:
    """Faucett, Thaler and Whiteson's (arXiv:2010.11998) table of the guided search.

    The base, each EFP added (its graph drawn, kappa, beta), AUC and ADO[black box] per step, the black box
    last; before it, every method of ``methods.json`` against the black box.

    Parameters
    ----------
    result : dict
        The search's ``guided.json``, with the methods table (``methods.json``) under ``"methods"`` where there
        is one.
    figures : dict
        ``figures.json``: the search's figure (``mapping``) and the EFP graphs' pictures (``efp_graphs``).

    Returns
    -------
    str
        A heading, the search's figure, the methods table and the search's table.
    """
    pictures = {Path(item["stem"]).name: item["stem"] for item in figures.get("efp_graphs") or []}
    bb = result["black_box"]
    rows = [
        "<tr><th>step</th><th>observables</th><th>graph</th><th>&kappa;</th><th>&beta;</th><th>AUC</th>"
        "<th>ADO[black box]</th><th>pairs ordered differently (selection split)</th></tr>"
    ]
    for r in result["rows"]:
        stem = pictures.get(f"efp_graph_{r['graph']}") if r["graph"] else None
        picture = f"<img src='{escape(stem)}.png' alt='{escape(r['graph'])}' style='height:3em'>" if stem else ""
        what = f"base: {', '.join(result['base'])}" if r["added"] is None else f"+ {r['added']}"
        fraction = f"{r['disagreement_fraction']:.3f}" if "disagreement_fraction" in r else "-"
        rows.append(
            f"<tr><td>{r['step']}</td><td class='name'>{escape(what)}</td><td>{picture}</td>"
            f"<td>{_number(r['kappa'])}</td><td>{_number(r['beta'])}</td><td>{_pm(r['auc'])}</td>"
            f"<td>{r['ado_black_box']:.4f}</td><td>{fraction}</td></tr>"
        )
    rows.append(
        f"<tr><td></td><td class='name'>black box: {escape(bb['name'])}</td><td></td><td></td><td></td>"
        f"<td>{_pm(bb['auc'])}</td><td>1</td><td></td></tr>"
    )
    methods = ""
    if result.get("methods"):
        lines = ["<tr><th>method</th><th>AUC</th><th>ADO[black box]</th></tr>"]
        for r in result["methods"]["rows"]:
            what = f"{r['method']} alone" if r["kind"] == "observable" else r["method"]
            lines.append(
                f"<tr><td class='name'>{escape(what)}</td><td>{_pm(r['auc'])}</td>"
                f"<td>{r['ado_black_box']:.4f}</td></tr>"
            )
        methods = (
            "<p>Every method against the black box (test split; a single observable signed on the "
            "selection split):</p><table>" + "".join(lines) + "</table>"
        )
    return (
        heading("Mapping onto energy-flow polynomials")
        + figures_of(figures, "mapping")
        + methods
        + f"<p>High-level model: {escape(result['high_level'].upper())} over {len(result['seeds'])} seed(s); "
        f"{result['candidates']} candidate EFP columns; EFPs chosen on the {escape(result['select_split'])} "
        f"split, AUC and ADO on the test split. Stopped: {escape(result['stopped'])}.</p>"
        "<table>" + "".join(rows) + "</table>"
    )


def figure(item: dict) -> str:
    """One figure: the thumbnail opens the full-size PNG; a PDF link (for papers) where one was drawn.

    Parameters
    ----------
    item : dict
        An entry of ``figures.json``: ``stem``, ``caption``, ``formats``.

    Returns
    -------
    str
        The ``<figure>`` with its caption.
    """
    stem = escape(item["stem"])
    pdf = f" <a href='{stem}.pdf'>PDF</a>" if "pdf" in item.get("formats", ("png",)) else ""
    return (
        f"<figure><a href='{stem}.png' target='_blank'><img src='{stem}.png' loading='lazy' "
        f"alt='{escape(item['caption'])}'></a><figcaption>{escape(item['caption'])}{pdf}</figcaption></figure>"
    )


def figures_of(figures: dict, section: str) -> str:
    """Every figure of one figure section (``SECTIONS``), in drawing order.

    Parameters
    ----------
    figures : dict
        ``figures.json``: section -> figures.
    section : str
        The section.

    Returns
    -------
    str
        The figures, one per line; ``""`` without any.
    """
    return "\n".join(figure(item) for item in figures.get(section) or [])


def figure_sections(figures: dict) -> str:
    """Every figure section with its heading (the figures alone, as ``xaugcol report`` drew them).

    Parameters
    ----------
    figures : dict
        ``figures.json``: section -> figures.

    Returns
    -------
    str
        The sections with figures, in ``SECTIONS`` order.
    """
    return "\n".join(
        heading(title) + figures_of(figures, section) for section, title in SECTIONS.items() if figures.get(section)
    )


def folded(summary: str, body: str) -> str:
    """A long table folded under a one-line summary (``summary`` is HTML, already escaped).

    Parameters
    ----------
    summary : str
        The line shown, HTML.
    body : str
        What unfolds, HTML.

    Returns
    -------
    str
        A ``<details>`` element; ``""`` without a body.
    """
    return f"<details><summary>{summary}</summary>{body}</details>" if body else ""


def _topic(title: str, figures: dict, section: str | None, body: str = "") -> str:
    """One section of the report: its figures first, then what explains and tabulates them."""
    shown = figures_of(figures, section) if section else ""
    return heading(title) + shown + body if shown or body else ""


def report_sections(figures: dict, taggers: dict, relevance: dict | None = None, gain: dict | None = None) -> str:
    """The report's body: a summary, then one section per topic, its figures first and its tables below.

    The summary gives the best tagger, what the XAUG variables add and the inputs that matter most, with the
    ROC curves and that tagger's ranking; the per-tagger tables are folded.

    Parameters
    ----------
    figures : dict
        ``figures.json``: section -> figures.
    taggers : dict
        Tagger name -> ensemble folder.
    relevance : dict, optional
        A relevance output's ``relevance.json``; None: no relevance sections.
    gain : dict, optional
        The gain stage's ``xaug_gain.json``; None: no gain section.

    Returns
    -------
    str
        The sections, HTML; a section with neither figures nor tables is left out.
    """
    parts = [
        summary_section(figures, taggers, relevance, gain),
        _topic("Performance", figures, "performance", metrics_table(taggers) if taggers else ""),
        gain_section(gain) if gain else "",
    ]
    if relevance is not None:
        parts += [
            _topic("Which inputs matter: mean normalised relevance", figures, "relevance", ranking_tables(relevance)),
            _topic("Feature occlusion", figures, "occlusion", occlusion_tables(relevance)),
            _topic("Faithfulness", figures, "faithfulness", faithfulness_table(relevance)),
            _topic("Sanity check: model-parameter randomisation", figures, None, sanity_table(relevance)),
            _topic("Neuron-activation patterns", figures, "activations", activations_table(relevance)),
            _topic(SECTIONS["edges"], figures, "edges"),
        ]
    parts += [
        _topic(SECTIONS["profiles"], figures, "profiles"),
        _topic(SECTIONS["pairs"], figures, "pairs"),
        _topic(SECTIONS["heatmaps"], figures, "heatmaps"),
        _topic(SECTIONS["examples"], figures, "examples"),
    ]
    if relevance is not None:
        parts.append(_topic("Explained jets", figures, None, counts_text(relevance) + outside_table(relevance)))
    parts.append(_topic(SECTIONS["inputs"], figures, "inputs"))
    return "\n".join(p for p in parts if p)


def summary_section(figures: dict, taggers: dict, relevance: dict | None, gain: dict | None) -> str:
    """The report's opening: the best tagger, what the XAUG variables add, the inputs that matter most.

    Parameters
    ----------
    figures : dict
        ``figures.json``: section -> figures.
    taggers : dict
        Tagger name -> ensemble folder; the best is the one of highest mean AUC.
    relevance : dict or None
        A relevance output's ``relevance.json``; the inputs are those of the best explained tagger.
    gain : dict or None
        The gain stage's ``xaug_gain.json``; without it, the AUC of each tagger with and without XAUG.

    Returns
    -------
    str
        A heading, a list of sentences, the ROC curves and the tagger's relevance ranking; ``""`` with nothing
        to say.
    """
    lines: list[str] = []
    shown: list[dict[str, Any]] = []
    summaries = {name: _summary(folder) for name, folder in taggers.items()}
    aucs = {name: summary for name, summary in summaries.items() if summary is not None}  # trained here
    if aucs:
        best = max(aucs, key=lambda n: aucs[n]["auc"]["mean"])
        eff = aucs[best].get("sig_eff_at_bkg_0.01")
        lines.append(
            f"The best tagger is <b>{escape(best)}</b>: AUC {_pm(aucs[best]['auc'])}"
            + (f", signal efficiency {_pm(eff, 3)} at 1 % background" if eff else "")
            + f" (mean &plusmn; spread over its members; {len(aucs)} taggers compared)."
        )
        shown += (figures.get("performance") or [])[:1]
    xaug = _xaug_sentence(gain, aucs)
    if xaug:
        lines.append(xaug)
    if relevance is not None and relevance.get("relevance"):
        scored = [n for n in relevance["relevance"] if n in aucs]
        tagger = max(scored, key=lambda n: aucs[n]["auc"]["mean"]) if scored else next(iter(relevance["relevance"]))
        rule = comparison_rule(relevance["config"]["rules"])
        ranking = relevance["relevance"][tagger][rule]["ranking"][:5]
        lines.append(
            f"The inputs that matter most to {escape(tagger)} (LRP {escape(rule)}, mean normalised relevance): "
            + ", ".join(escape(f) for f in ranking)
            + "."
        )
        shown += [i for i in figures.get("relevance") or [] if i["stem"].endswith(f"relevance_{tagger}_{rule}")]
    if not lines:
        return ""
    return (
        heading("Summary")
        + "<ul>"
        + "".join(f"<li>{line}</li>" for line in lines)
        + "</ul>"
        + "\n".join(figure(item) for item in shown)
    )


def _summary(folder: str | Path) -> dict | None:
    """An ensemble's test summary; None for a tagger imported from elsewhere (no ``summary``)."""
    return read_json(Path(folder) / "metrics.json", "an ensemble's metrics.json").get("summary")


def _xaug_sentence(gain: dict | None, aucs: dict) -> str:
    """What the XAUG variables add: the measured gain at 1 % background (or the nearest efficiency measured), or
    else the AUC of each tagger trained with them against without."""
    if gain and gain.get("gains"):
        parts = []
        for model, g in gain["gains"].items():
            efficiencies = g["bins"][0]["efficiencies"]
            e = min(efficiencies, key=lambda e: abs(math.log(e["background_efficiency"] / 0.01)))
            parts.append(f"{escape(model)} {_gain_text(e)} at {e['background_efficiency']:g} background")
        return "Signal efficiency gained by joining the XAUG variables: " + "; ".join(parts) + "."
    pairs = [(n, f"{n}_xaug") for n in aucs if f"{n}_xaug" in aucs]
    if not pairs:
        return ""
    return (
        "AUC without &rarr; with the XAUG variables: "
        + "; ".join(f"{escape(a)} {aucs[a]['auc']['mean']:.4f} &rarr; {aucs[b]['auc']['mean']:.4f}" for a, b in pairs)
        + "."
    )


def write_report(out: str | Path, title: str, raw_config: dict, sections: list[str], timings: dict) -> Path:
    """Write ``index.html`` in ``out``: the stages' sections in study order, the configuration and the timings.

    Parameters
    ----------
    out : str or Path
        The report's folder (it must exist).
    title : str
        The page's title.
    raw_config : dict
        The configuration shown as YAML at the end.
    sections : list of str
        The sections, HTML; empty ones are left out.
    timings : dict
        Seconds per stage (or drawing step), shown at the end.

    Returns
    -------
    Path
        The page, written atomically.
    """
    out = Path(out)
    sections = [s for s in sections if s] + [
        heading("Configuration") + "<pre>" + escape(yaml.safe_dump(raw_config, sort_keys=False)) + "</pre>"
    ]
    parts = [
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        table_of_contents(sections),
        *sections,
    ]
    parts.append("<p>Stage timings (s): " + escape(", ".join(f"{k} {v}" for k, v in timings.items())) + "</p>")
    parts.append("</body></html>\n")
    path = out / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    return path
