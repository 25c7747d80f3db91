"""One static HTML page per study (``index.html``): configuration, metrics, ranking, reduced sets, figures.

Plain HTML with relative links to the PNG figures (and their PDFs): it opens from disk, from a web server or in a
CI artefact. Every text from the configuration or the data is escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import yaml

from xaugcol.atomic import atomic_path

SECTIONS = {
    "inputs": "Input distributions",
    "performance": "Performance",
    "relevance": "Mean normalised relevance",
    "profiles": "Relevance profiles",
    "pairs": "The two most relevant XAUG variables",
    "heatmaps": "Image heat maps",
    "examples": "Example jets",
}
METRICS = (("auc", "AUC"), ("sig_eff_at_bkg_0.01", "sig. eff. at 1 % bkg."), ("sig_eff_at_bkg_0.1", "sig. eff. at 10 % bkg."))
TOP_FEATURES = 10

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; }
figure { display: inline-block; margin: 0.5em; max-width: 560px; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def _pm(stat: dict, digits: int = 4) -> str:
    return f"{stat['mean']:.{digits}f} &plusmn; {stat['std']:.{digits}f}"


def metrics_table(taggers: dict) -> str:
    rows = ["<tr><th>tagger</th><th>members</th>" + "".join(f"<th>{escape(t)}</th>" for _, t in METRICS) + "</tr>"]
    for name, folder in taggers.items():
        summary = json.loads((Path(folder) / "metrics.json").read_text())
        s = summary["summary"]
        rows.append(f"<tr><td class='name'>{escape(name)}</td><td>{len(summary['seeds'])}</td>"
                    + "".join(f"<td>{_pm(s[k])}</td>" for k, _ in METRICS) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def ranking_table(relevance: dict, tagger: str, rule: str) -> str:
    s = relevance["relevance"][tagger][rule]
    rows = ["<tr><th>rank</th><th>input</th><th>all jets</th><th>signal</th><th>background</th></tr>"]
    for i, f in enumerate(s["ranking"][:TOP_FEATURES], 1):
        cells = "".join(f"<td>{_pm(s['classes'][c][f], 3)}</td>" for c in ("all", "signal", "background"))
        rows.append(f"<tr><td>{i}</td><td class='name'>{escape(f)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def reduced_table(rows: list[dict]) -> str:
    out = ["<tr><th>k</th><th>variables (added in ranking order)</th>"
           + "".join(f"<th>{escape(t)}</th>" for _, t in METRICS) + "</tr>"]
    for r in rows:
        out.append(f"<tr><td>{r['k']}</td><td class='name'>{escape(', '.join(r['variables']))}</td>"
                   + "".join(f"<td>{_pm(r[k])}</td>" for k, _ in METRICS) + "</tr>")
    return "<table>" + "".join(out) + "</table>"


def counts_table(relevance: dict) -> str:
    rules = relevance["config"]["rules"]
    rows = ["<tr><th>tagger</th><th>jets explained</th><th>skipped (NaN/inf)</th>"
            + "".join(f"<th>bias share, {escape(r)}</th>" for r in rules) + "</tr>"]
    for name, per_dataset in relevance["counts"].items():
        selected = sum(c["jets_selected"] for c in per_dataset.values())
        skipped = sum(c["skipped_nonfinite_input"] for c in per_dataset.values())
        absorbed = relevance["absorbed_fraction"][name]
        cells = "".join(f"<td>{absorbed[r]:.1%}</td>" if absorbed[r] is not None else "<td>-</td>" for r in rules)
        rows.append(f"<tr><td class='name'>{escape(name)}</td><td>{selected}</td><td>{skipped}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def taggers_section(taggers: dict) -> str:
    return "<h2>Taggers</h2>" + metrics_table(taggers)


def relevance_section(relevance: dict, taggers: dict) -> str:
    parts = [f"<p>Jets explained ({escape(relevance['config']['split'])} split, per member) and the bias share "
             f"&Sigma;|logit &minus; &Sigma;R<sub>inputs</sub>| / &Sigma;|logit|: the part of the explained logit "
             f"that biases and stabilisers took instead of the inputs. Above 100 % the inputs' relevance and the "
             f"biases' cancel in part.</p>" + counts_table(relevance),
             "<h2>Ranking by mean normalised relevance</h2>"
             "<p>Per jet, every relevance is divided by the largest absolute one; per input the absolute "
             "normalised relevance is summed (over pixels, over particles) and averaged over jets. "
             "Errors: standard deviation over the ensemble members.</p>"]
    for name in taggers:
        for rule in relevance["config"]["rules"]:
            parts.append(f"<h3>{escape(name)}, LRP {escape(rule)}</h3>" + ranking_table(relevance, name, rule))
    return "\n".join(parts)


def reduced_section(tagger: str, rule: str, rows: list[dict]) -> str:
    if not rows:
        return ""
    return (f"<h2>Reduced XAUG sets</h2><p>The {escape(tagger)} retrained on its k most relevant XAUG variables "
            f"({escape(rule)} ranking).</p>" + reduced_table(rows))


def figure_sections(figures: dict) -> str:
    parts = []
    for section, title in SECTIONS.items():
        items = figures.get(section) or []
        if not items:
            continue
        parts.append(f"<h2>{escape(title)}</h2>")
        for item in items:
            stem = item["stem"]
            parts.append(f"<figure><a href='{escape(stem)}.pdf'><img src='{escape(stem)}.png' "
                         f"alt='{escape(item['caption'])}'></a><figcaption>{escape(item['caption'])}"
                         f"</figcaption></figure>")
    return "\n".join(parts)


def write_report(out: Path, title: str, raw_config: dict, sections: list[str], timings: dict) -> Path:
    """``index.html`` in ``out``: the stages' sections in study order, the configuration and the timings."""
    out = Path(out)
    parts = [f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>{escape(title)}</h1>", *[s for s in sections if s]]
    parts.append("<h2>Configuration</h2><pre>" + escape(yaml.safe_dump(raw_config, sort_keys=False)) + "</pre>")
    parts.append("<p>Stage timings (s): " + escape(", ".join(f"{k} {v}" for k, v in timings.items())) + "</p>")
    parts.append("</body></html>\n")
    path = out / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    return path
