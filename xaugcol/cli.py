"""The ``xaugcol`` command line.

    xaugcol generate toy --jets N --seed S --out DIR [--config toy.yaml] [--overwrite]
    xaugcol generate pythia --process zz|hbb|qcd|prompt_mu|nonprompt_mu|...[,..] --events N --seed S --workers W
                            --out DIR [--pthat-min X] [--pileup MU] [--flat-pthat] [--process-card card.yaml]
                            [--overwrite]

    xaugcol process FILESET.json --out DIR [--executor iterative|futures|dask|dask-local] [--workers N]
                    [--scheduler tcp://HOST:PORT] [--chunksize N] [--remote-timeout S] [--connect-timeout S]
                    [--worker-timeout S] [--min-pt X] [--skip-bad-files] [--n-particles N] [--n-tracks N]
                    [--n-vertices N] [--image-pixels N] [--max-constituents N]
                    [--overwrite | --resume]

    xaugcol train --data DIR --model cnn2d|cnn1d|lstm|dnn|in [--xaug | --no-xaug] [--seeds K] --out DIR
                  [--epochs N] [--batch-size N] [--learning-rate X] [--patience N] [--msd-window]
                  [--matched-signal] [--overwrite]
    xaugcol train --config study.yaml [--overwrite]

    xaugcol explain FILESET.json --taggers DIR [DIR ...] --out DIR [--rules epsilon,alpha1beta0] [--split test]
                    [--executor iterative|futures|dask|dask-local] [--workers N] [--scheduler tcp://HOST:PORT]
                    [--chunksize N] [--remote-timeout S] [--connect-timeout S] [--worker-timeout S]
                    [--skip-bad-files] [--overwrite | --resume]

    xaugcol condor pack --out environment.tar.gz [--venv DIR] [--overwrite]
    xaugcol condor prepare --config condor/submit.yaml --out SUBMISSION [--repo CHECKOUT]
    xaugcol condor merge SUBMISSION --out DIR

    xaugcol report FOLDER [FOLDER ...] --out DIR [--sample TEXT] [--examples N] [--workers N] [--pdf] [--overwrite]

    xaugcol demo --out DIR [--jets N] [--epochs N] [--seeds K] [--top-k K] [--overwrite | --resume]
    xaugcol study --config configs/zz_vs_qcd.yaml --out DIR [--overwrite | --resume]

A bad argument (also: an output folder another run is writing, a fileset listing one file twice) gets a one-line
error on stderr and exit code 2; bad input data (an unreadable file, a missing branch), an output that cannot be
written (no space, read-only) or a Dask cluster that cannot be reached or lost its workers, a one-line error naming
it and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from xaugcol.console import say
from xaugcol.errors import ClusterError, OutputFolderError, OutputWriteError, UsageError, XaugcolError, as_usage_error
from xaugcol.limits import (
    MAX_CONSTITUENTS,
    MAX_EXAMPLES,
    MAX_FAITHFULNESS_STEPS,
    MAX_MU,
    MAX_PYTHIA_EVENTS,
    MAX_SANITY_JETS,
    MAX_SEEDS,
    MAX_TOY_JETS,
    MAX_WORKERS,
    number,
)
from xaugcol.output_folder import locked_output
from xaugcol.processing.executors import DEFAULT_CHUNKSIZE, EXECUTORS, Timeouts, check_executor, check_scheduler
from xaugcol.sources.processes import BUILTIN as BUILTIN_PROCESSES

EXIT_USAGE = 2
EXIT_DATA = 1


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default (where it has one that a flag does not already say)."""

    def _get_help_string(self, action):
        text = action.help or ""
        unset = action.default is None or action.default == argparse.SUPPRESS
        if "default" in text or unset or isinstance(action.default, bool) or action.nargs == 0:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # argparse prints usage + error; we want one line
        raise UsageError(message)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, got 0")
    return value


def _int_in(minimum: int, maximum: int):
    """An argparse type: an integer ``minimum``..``maximum`` (``maximum``: a limit of ``xaugcol.limits``)."""

    def parse(text: str) -> int:
        value = _non_negative_int(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {minimum}..{number(maximum)} (xaugcol's limit), got {value}")
        return value

    return parse


def _number(text: str, strictly_positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 if strictly_positive else value >= 0):  # NaN fails both
        raise argparse.ArgumentTypeError(f"must be {'>' if strictly_positive else '>='} 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    return _number(text, strictly_positive=False)


def _positive_float(text: str) -> float:
    return _number(text, strictly_positive=True)


def _float_in(minimum: float, maximum: float):
    """An argparse type: a number ``minimum``..``maximum``."""

    def parse(text: str) -> float:
        value = _number(text, strictly_positive=False)
        if not minimum <= value <= maximum or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {minimum:g}..{maximum:g}, got {text}")
        return value

    return parse


class _Version(argparse.Action):
    """``--version``: the package version and which substructure backend computes the XAUG variables."""

    def __call__(self, parser, namespace, values, option_string=None):
        import xaugcol
        from xaugcol.jets.backend import CITATION, describe_backend

        print(f"xaugcol {xaugcol.__version__}; substructure: {describe_backend()}\n{CITATION}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``xaugcol`` argument parser, with every command and its options (module docstring).

    The commands are ``generate`` (``toy``, ``pythia``), ``process``, ``train``, ``explain``, ``demo``, ``study``,
    ``report``, ``import-weaver`` and ``condor`` (``pack``, ``prepare``, ``merge``); the chosen one is the parsed
    namespace's ``command`` (and ``source`` or ``condor`` for the subcommands). Every option's help ends with its
    default.

    Returns
    -------
    argparse.ArgumentParser
        The parser; a bad argument raises ``UsageError`` (one line) instead of printing the usage and exiting.
    """
    parser = _Parser(prog="xaugcol", description="Explain why jet taggers decide as they do.")
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="print the version and the active substructure backend, then exit"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="no progress bars or stage lines: errors and the final summary only",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="also the warnings of the libraries underneath (FastJet banner, coffea, ONNX export)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="generate events into NanoAOD-style ROOT files plus a coffea fileset")
    gsub = gen.add_subparsers(dest="source", required=True, parser_class=_Parser)

    toy = gsub.add_parser("toy", help="toy two-prong (signal) and one-prong-like (background) jets")
    toy.add_argument("--jets", type=_int_in(0, MAX_TOY_JETS), default=10_000, help="jets per class")
    toy.add_argument("--seed", type=_non_negative_int, default=1, help="random seed (same seed, same files)")
    toy.add_argument("--out", type=Path, required=True, help="output folder (ROOT files and fileset.json)")
    toy.add_argument("--config", type=Path, help="YAML file overriding toy parameters (see README)")
    toy.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")

    py = gsub.add_parser(
        "pythia", help="Pythia 8 events at 13 TeV: AK8 jets from fastjet, or leptons with their calorimeter cells"
    )
    py.add_argument(
        "--process",
        required=True,
        help=f"process name(s), comma-separated: {', '.join(BUILTIN_PROCESSES)}, or from --process-card",
    )
    py.add_argument("--events", type=_int_in(1, MAX_PYTHIA_EVENTS), default=1000, help="events per process")
    py.add_argument(
        "--seed",
        type=_non_negative_int,
        default=1,
        help="random seed (each worker seeds Pythia from it: same seed, same events)",
    )
    py.add_argument("--workers", type=_int_in(1, MAX_WORKERS), default=1, help="generator processes")
    py.add_argument("--out", type=Path, required=True, help="output folder (ROOT files and fileset.json)")
    py.add_argument(
        "--pthat-min",
        type=_positive_float,
        default=None,
        help="PhaseSpace:pTHatMin in GeV for every process (default: each process's own; jets 200)",
    )
    py.add_argument(
        "--pileup",
        type=_float_in(0.0, MAX_MU),
        default=None,
        metavar="MU",
        help="mean number of overlaid minimum-bias interactions per event (0: none; default: each "
        "process's own, 50 for prompt_mu / nonprompt_mu, 0 for the others)",
    )
    py.add_argument(
        "--tracker",
        choices=("simple", "cms_like"),
        default="simple",
        help="what the jet processes' tracks are seen with: the simple tracker, or the CMS-like one (V0 "
        "decays and veto, charged-hadron subtraction of --pileup, track efficiency, fake tracks, "
        "CMS-like SV errors, covariance terms)",
    )
    py.add_argument("--flat-pthat", action="store_true", help="flat pT-hat spectrum, weights in genWeight")
    py.add_argument("--process-card", type=Path, help="YAML card adding processes")
    py.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")

    proc = sub.add_parser("process", help="XAUG variables, particle lists and jet images into jet tables")
    proc.add_argument("fileset", type=Path, help="coffea fileset JSON (as every generator writes)")
    proc.add_argument("--out", type=Path, required=True, help="output folder (jet tables, histograms, report)")
    proc.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        default="iterative",
        help="dask: an existing cluster (--scheduler); dask-local: a cluster of --workers processes",
    )
    proc.add_argument("--scheduler", help="Dask scheduler address, tcp://HOST:PORT (executor dask)")
    proc.add_argument(
        "--workers", type=_int_in(1, MAX_WORKERS), default=1, help="processes of the futures / dask-local executor"
    )
    proc.add_argument("--chunksize", type=_positive_int, default=DEFAULT_CHUNKSIZE, help="events per chunk")
    _timeout_options(proc)
    proc.add_argument("--min-pt", type=_non_negative_float, default=0.0, help="minimum recomputed jet pt (GeV)")
    proc.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip unreadable files and failing chunks, list them (and why) in the report",
    )
    proc.add_argument("--n-particles", type=_positive_int, default=50, help="particle-list length (padded)")
    proc.add_argument("--n-tracks", type=_positive_int, default=60, help="track-list length (padded)")
    proc.add_argument("--n-vertices", type=_positive_int, default=5, help="secondary-vertex-list length (padded)")
    proc.add_argument("--image-pixels", type=_positive_int, default=37, help="jet image size (pixels per side)")
    proc.add_argument(
        "--max-constituents",
        type=_positive_int,
        default=MAX_CONSTITUENTS,
        help="skip (and count) jets with more linked candidates: their substructure costs O(N^3)",
    )
    _output_options(proc, "jet tables")

    tr = sub.add_parser("train", help="train a tagger ensemble on jet tables (or a whole study from --config)")
    tr.add_argument("--config", type=Path, help="study YAML (several taggers); replaces the options below")
    tr.add_argument("--data", type=Path, help="processing output folder (or its jets/ folder)")
    tr.add_argument(
        "--model",
        help="tagger (xaugcol.models.registry.MODELS): cnn2d, cnn1d, lstm, dnn, in, calo_cnn, efn, pfn, particlenet",
    )
    tr.add_argument(
        "--xaug",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="join the XAUG variables before the final dense layers (dnn: always)",
    )
    # defaults None: an option given beside --config is refused, not silently dropped (TRAIN_DEFAULTS fill them)
    tr.add_argument("--seeds", type=_int_in(1, MAX_SEEDS), help="ensemble size K (seeds 0..K-1) (default: 1)")
    tr.add_argument("--out", type=Path, help="output folder of the ensemble (or of the study's taggers)")
    tr.add_argument("--epochs", type=_positive_int, help="maximum epochs (default: 20)")
    tr.add_argument("--batch-size", type=_positive_int, help="jets per mini-batch (default: 256)")
    tr.add_argument("--learning-rate", type=_positive_float, help="Adam learning rate (default: 0.001)")
    tr.add_argument(
        "--patience", type=_positive_int, help="epochs without a better validation loss before stopping (default: 3)"
    )
    tr.add_argument("--msd-window", action="store_true", default=None, help="only jets with 50 < mSD < 150 GeV")
    tr.add_argument(
        "--matched-signal",
        action="store_true",
        default=None,
        help="signal = only label-1 jets containing their generated boson (Pythia truth)",
    )
    tr.add_argument(
        "--processes",
        type=_int_in(1, MAX_WORKERS),
        help="members trained side by side, each in a process with the cores shared evenly (default: 1)",
    )
    tr.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")

    ex = sub.add_parser(
        "explain", help="explain tagger ensembles on the jet tables of a processing run, into relevance histograms"
    )
    ex.add_argument(
        "jets",
        type=Path,
        help="a 'xaugcol process' output folder (or its jets/): its jet tables are read, nothing is recomputed",
    )
    ex.add_argument("--taggers", type=Path, nargs="+", required=True, help="tagger or ensemble folders")
    ex.add_argument("--out", type=Path, required=True, help="output folder")
    ex.add_argument(
        "--rules",
        default="epsilon,alpha1beta0",
        help="explanation methods, comma-separated: LRP presets and gradient_x_input",
    )
    ex.add_argument(
        "--methods",
        type=Path,
        metavar="YAML",
        help="more explanation methods from a YAML file: a list of names or mappings such as "
        "{name: mine, composite: {default: epsilon, layers: {conv: {rule: gamma, gamma: 0.25}}}}",
    )
    ex.add_argument(
        "--split",
        default="test",
        choices=["test", "val", "train", "all"],
        help="explain jets of this split only (test: jets no member trained on)",
    )
    ex.add_argument(
        "--faithfulness-steps",
        type=_int_in(0, MAX_FAITHFULNESS_STEPS),
        default=0,
        metavar="N",
        help="input-perturbation curves: remove each jet's pixels / particles / XAUG variables in N "
        "steps, in relevance, random and reverse order, and track the AUC (0: none)",
    )
    ex.add_argument(
        "--faithfulness-fraction",
        type=float,
        default=1.0,
        metavar="F",
        help="make the perturbation curves on this fraction of the explained jets (hash-chosen)",
    )
    ex.add_argument(
        "--sanity-jets",
        type=_int_in(0, MAX_SANITY_JETS),
        default=0,
        metavar="N",
        help="model-randomisation check of each ensemble's first member on N jets per class (0: none)",
    )
    ex.add_argument(
        "--occlusion-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="occlude each input feature (set to zero after scaling) on this fraction of the explained "
        "jets (hash-chosen) and rank the features by the AUC lost, then mask the least needed "
        "together at Roy and Neubauer's (ICHEP 2022) thresholds (0: none)",
    )
    ex.add_argument(
        "--activations", action="store_true", help="record the neuron-activation patterns of the taggers' ReLUs"
    )
    ex.add_argument(
        "--edges", action="store_true", help="the relevance of a graph network's kNN edges (ParticleNet; LRP methods)"
    )
    ex.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        default="iterative",
        help="dask: an existing cluster (--scheduler); dask-local: a cluster of --workers processes",
    )
    ex.add_argument("--scheduler", help="Dask scheduler address, tcp://HOST:PORT (executor dask)")
    ex.add_argument(
        "--workers", type=_int_in(1, MAX_WORKERS), default=1, help="processes of the futures / dask-local executor"
    )
    ex.add_argument("--chunksize", type=_positive_int, default=DEFAULT_CHUNKSIZE, help="jets per chunk")
    _timeout_options(ex)
    ex.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip unreadable files and failing chunks, list them (and why) in relevance.json",
    )
    _output_options(ex, "outputs")

    demo = sub.add_parser(
        "demo", help="the whole chain on toy jets: generation to HTML report (about 2 min on 2 cores)"
    )
    demo.add_argument("--out", type=Path, required=True, help="output folder (index.html is the report)")
    demo.add_argument("--jets", type=_int_in(1, MAX_TOY_JETS), default=3000, help="toy jets per class")
    demo.add_argument("--epochs", type=_positive_int, default=6, help="maximum training epochs")
    demo.add_argument("--seeds", type=_int_in(1, MAX_SEEDS), default=3, help="ensemble size")
    demo.add_argument("--top-k", type=_positive_int, help="reduced sets k = 1..K (default: all XAUG variables)")
    demo.add_argument("--workers", type=_int_in(1, MAX_WORKERS), default=2, help="processes of the futures executor")
    _add_resume(demo)

    st = sub.add_parser("study", help="the whole chain from a study configuration (e.g. configs/zz_vs_qcd.yaml)")
    st.add_argument("--config", type=Path, required=True, help="study YAML (see configs/)")
    st.add_argument("--out", type=Path, required=True, help="output folder (index.html is the report)")
    st.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting of the study file, KEY a dotted path, VALUE YAML (repeatable): "
        "--set source.events=2000 --set 'source.tracker={v0_decays: true}'",
    )
    _add_resume(st)

    rp = sub.add_parser(
        "report",
        help="figures and the HTML report of outputs made by hand (process, train, explain), as a study draws them",
    )
    rp.add_argument(
        "folders",
        type=Path,
        nargs="+",
        help="processing, tagger-ensemble and relevance output folders; a relevance output alone is "
        "enough (it names its jet tables and taggers)",
    )
    rp.add_argument("--out", type=Path, required=True, help="output folder (index.html and figures/)")
    rp.add_argument("--sample", help="the sample written above the figures (default: the dataset names)")
    rp.add_argument(
        "--examples",
        type=_int_in(0, MAX_EXAMPLES),
        default=2,
        help="example jets per class drawn with their relevance (0: none)",
    )
    rp.add_argument("--workers", type=_int_in(1, MAX_WORKERS), default=2, help="processes drawing the figures")
    rp.add_argument("--pdf", action="store_true", help="every figure also as PDF (for papers; PNG only is faster)")
    rp.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")

    wv = sub.add_parser(
        "import-weaver",
        help="a ParticleNet trained by weaver-core as a tagger folder, to explain on the jet tables",
    )
    wv.add_argument("state", type=Path, help="the weights weaver-core saved (a state dict, e.g. *_best_epoch_state.pt)")
    wv.add_argument(
        "--data-config",
        type=Path,
        required=True,
        help="its data configuration (the .auto.yaml weaver-core wrote beside the training holds the standardisation)",
    )
    wv.add_argument("--neighbours", type=_int_in(1, 64), required=True, help="k of its EdgeConv blocks (conv_params)")
    wv.add_argument("--signal", required=True, help="the label whose score is the signal's (labels.value)")
    wv.add_argument("--background", required=True, help="the label the signal is told from")
    wv.add_argument(
        "--inputs",
        action="append",
        default=[],
        metavar="NAME=FEATURE",
        help="read the model's input NAME as the particle (or vertex) feature FEATURE (repeatable), beside the known "
        "names",
    )
    wv.add_argument(
        "--particles", type=_int_in(1, 4096), default=50, help="particle slots per jet of the jet tables to explain"
    )
    wv.add_argument(
        "--vertices",
        type=_int_in(1, 4096),
        default=5,
        help="secondary-vertex slots per jet of the jet tables (a ParticleNetTagger's second list)",
    )
    wv.add_argument("--out", type=Path, required=True, help="the tagger folder to write (new or empty)")

    co = sub.add_parser("condor", help="HTCondor: pack the environment, prepare plain jobs, merge their outputs")
    cs = co.add_subparsers(dest="condor", required=True)
    pk = cs.add_parser("pack", help="pack a virtual environment (default: this one) for the jobs")
    pk.add_argument("--out", type=Path, required=True, help="the tar.gz to write")
    pk.add_argument("--venv", type=Path, help="the venv to pack (default: the running one)")
    pk.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    pr = cs.add_parser("prepare", help="write a submission folder: one job per file group (condor_submit job.sub)")
    pr.add_argument("--config", type=Path, required=True, help="submit YAML (see condor/submit.yaml)")
    pr.add_argument("--out", type=Path, required=True, help="the submission folder (new or empty)")
    pr.add_argument("--repo", type=Path, help="the xaugcol checkout to ship (default: this one)")
    mg = cs.add_parser("merge", help="join the jobs' outputs into one processing output")
    mg.add_argument("submission", type=Path, help="the submission folder")
    mg.add_argument("--out", type=Path, required=True, help="the merged processing output folder (new or empty)")
    return parser


def _timeout_options(parser) -> None:
    t = Timeouts()
    parser.add_argument(
        "--remote-timeout",
        type=_positive_float,
        default=t.remote,
        help="seconds a remote (root://, https://) file may take to answer",
    )
    parser.add_argument(
        "--connect-timeout", type=_positive_float, default=t.connect, help="seconds to reach the Dask scheduler"
    )
    parser.add_argument(
        "--worker-timeout",
        type=_positive_float,
        default=t.workers,
        help="seconds a Dask cluster may be without any worker before the run stops",
    )


def _timeouts(args) -> Timeouts:
    return Timeouts(args.remote_timeout, args.connect_timeout, args.worker_timeout)


def _add_resume(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    group.add_argument("--resume", action="store_true", help="reuse the stages an earlier run completed")


def _generate_toy(args) -> None:
    from xaugcol.sources.toy import ToyConfig, run_toy

    cfg = ToyConfig()
    if args.config is not None:
        with as_usage_error():
            cfg = ToyConfig.load(args.config)
    with locked_output(args.out, args.overwrite) as out:
        fileset = run_toy(out, args.jets, args.seed, cfg, progress=True)
    _report(out, fileset)


def _generate_pythia(args) -> None:
    from xaugcol.sources.process_card import load_processes
    from xaugcol.sources.pythia import run_pythia

    with as_usage_error():
        known = load_processes(args.process_card)
    names = [n.strip() for n in args.process.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise UsageError(
            f"unknown process {', '.join(unknown) or repr(args.process)}; known: {', '.join(sorted(known))}"
        )
    from xaugcol.output_folder import refuse_non_empty
    from xaugcol.sources.pythia import check_processes

    refuse_non_empty(args.out, args.overwrite)  # before the settings check, which takes a moment per process
    from xaugcol.sources.jet_detector import PRESETS

    tracker = PRESETS[args.tracker]
    # nothing written if one fails
    check_processes([known[n] for n in names], args.pthat_min, args.flat_pthat, tracker)
    with locked_output(args.out, args.overwrite) as out:
        fileset = run_pythia(
            out,
            [known[n] for n in names],
            args.events,
            args.seed,
            args.workers,
            args.pthat_min,
            args.flat_pthat,
            progress=True,
            pileup=args.pileup,
            tracker=tracker,
        )
    _report(out, fileset)


def _output_options(parser, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--overwrite",
        action="store_true",
        help=f"write into a non-empty output folder (its earlier {what} are replaced)",
    )
    group.add_argument(
        "--resume", action="store_true", help="continue an interrupted run into the same folder, with the same settings"
    )


@contextlib.contextmanager
def _claimed_output(args, inputs: list[tuple[str, Path]]):
    """The locked output folder of a process / explain run, after checking that none of ``inputs`` lies inside
    it: reused by --resume and --overwrite. An interrupted run that finished no chunk has nothing to resume: a
    plain run starts again over it. The run itself removes what it replaces, and only what it wrote."""
    from xaugcol.output_folder import is_empty
    from xaugcol.paths import refuse_inputs_inside
    from xaugcol.processing.checkpoints import CHECKPOINTS, MANIFEST

    refuse_inputs_inside(args.out, inputs)
    checkpoints = args.out / CHECKPOINTS
    interrupted = (checkpoints / MANIFEST).exists()
    if interrupted and any(checkpoints.rglob("*.npz")) and not (args.resume or args.overwrite):
        raise UsageError(
            f"{args.out} holds an interrupted run: continue it with --resume (same settings), or "
            "start again with --overwrite"
        )
    if args.resume and not interrupted and not is_empty(args.out):  # --resume is no --overwrite
        raise UsageError(
            f"{args.out} holds no interrupted run to resume (no {CHECKPOINTS}/{MANIFEST}) but other "
            "files: start again with --overwrite, or write to another folder"
        )
    with locked_output(args.out, args.overwrite or args.resume or interrupted) as out:
        yield out


def _print_skipped(result) -> None:
    for bad in result.skipped_files:
        print(f"skipped file: {bad['reason']}")
    for c in result.skipped_chunks:
        print(f"skipped chunk: {c['file']} entries {c['entrystart']}-{c['entrystop']}: {c['reason']}")


def _process(args) -> None:
    from xaugcol.coffea_runs import run_processing
    from xaugcol.config_models import validated
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.processing.settings import ProcessingConfig, processing_settings

    with as_usage_error():
        fileset = load_fileset(args.fileset)
        config = validated(ProcessingConfig, processing_settings(args), "processing settings", sep=".")
        config.check_chunk(args.chunksize)
        check_executor(args.executor, args.scheduler)
        check_scheduler(args.scheduler, args.connect_timeout)  # before --out is made: a failure leaves nothing
    with _claimed_output(args, [("the fileset", args.fileset)]) as out:
        result = run_processing(
            fileset,
            out,
            args.executor,
            args.workers,
            args.chunksize,
            config,
            args.skip_bad_files,
            progress=True,
            scheduler=args.scheduler,
            resume=args.resume,
            timeouts=_timeouts(args),
            overwrite=args.overwrite,
        )
    for name, c in result.counts.items():
        skipped = {k.removeprefix("skipped_"): v for k, v in c.items() if k.startswith("skipped_") and v}
        extra = f", skipped {skipped}" if skipped else ""
        missing = f"; unavailable: {', '.join(result.unavailable[name])}" if result.unavailable[name] else ""
        print(f"{name}: {c['events']} events, {c['jets_kept']}/{c['jets_seen']} jets kept{extra}{missing}")
    if result.report["chunks_from_checkpoints"]:
        print(f"resumed: {result.report['chunks_from_checkpoints']} chunk(s) taken from the interrupted run")
    _print_skipped(result)
    print(f"jet tables: {out / 'jets'}; histograms: {out / 'histograms.root'}; report: {out / 'report.json'}")
    from xaugcol.jets.backend import CITATION

    say(f"substructure: {', '.join(result.report['substructure_backends'])} backend; please cite {CITATION}")


TRAIN_DEFAULTS = {
    "seeds": 1,
    "epochs": 20,
    "batch_size": 256,
    "learning_rate": 1e-3,
    "patience": 3,
    "msd_window": False,
    "matched_signal": False,
    "processes": 1,
}  # as TrainConfig's


def _train(args) -> None:
    from xaugcol.training.study import Study, tagger_name

    given = [name for name in ("data", "model", "xaug", "out", *TRAIN_DEFAULTS) if getattr(args, name) is not None]
    with as_usage_error():
        if args.config is not None:
            if given:  # the study file says all of it: a second value would be dropped without a word
                raise UsageError(
                    f"--config {args.config} gives the data, output and settings of the training: "
                    f"--{given[0].replace('_', '-')} cannot be given beside it (edit the study file)"
                )
            study = Study.load(args.config)
        else:
            missing = [f"--{n}" for n in ("data", "model", "out") if getattr(args, n) is None]
            if missing:
                raise UsageError(f"train needs {', '.join(missing)} (or --config study.yaml)")
            from xaugcol.models.registry import MODELS

            options = {
                name: default if getattr(args, name) is None else getattr(args, name)
                for name, default in TRAIN_DEFAULTS.items()
            }
            reads_xaug = args.model in MODELS and "xaug" in MODELS[args.model].input_kinds
            tagger = {"model": args.model, "xaug": reads_xaug if args.xaug is None else args.xaug}
            study = Study.from_dict(
                {
                    "data": str(args.data),
                    "out": str(args.out),
                    "seeds": options.pop("seeds"),
                    "training": options,
                    "taggers": [tagger],
                },
                "train",
            )
    if not study.data.is_dir():
        raise UsageError(f"no jet tables at {study.data}")
    study.check()  # before the output folder is made: a training that cannot start leaves nothing behind
    with locked_output(study.out, args.overwrite):
        results = study.run(progress=True)
    for config, result in zip(study.taggers, results.values()):
        s = result["summary"]
        print(
            f"{tagger_name(config)}: AUC {s['auc']['mean']:.4f} +- {s['auc']['std']:.4f}, "
            f"sig. eff. at 1 % bkg {s['sig_eff_at_bkg_0.01']['mean']:.3f} +- {s['sig_eff_at_bkg_0.01']['std']:.3f},"
            f" at 10 % bkg {s['sig_eff_at_bkg_0.1']['mean']:.3f} +- {s['sig_eff_at_bkg_0.1']['std']:.3f} "
            f"({len(study.seeds)} seed(s))"
        )
    print(f"taggers: {study.out}")


def _method_entries(path: Path) -> list:
    """Explanation methods from a YAML file: a list of entries, or one mapping (``xaugcol.explain.methods``)."""
    from xaugcol.config_models import read_yaml

    with as_usage_error():
        data = read_yaml(path, "methods file")
    entries = data if isinstance(data, list) else [data]
    if not entries or not all(isinstance(e, (str, dict)) for e in entries):
        raise UsageError(f"methods file {path}: expected a list of method names or mappings")
    return entries


def _explain_options(args, rules: list) -> dict:
    """The ``ExplainOptions`` fields ``xaugcol explain`` was given (its defaults are the model's: tests/test_cli.py)."""
    return {
        "rules": rules,
        "split": args.split,
        "faithfulness_steps": args.faithfulness_steps,
        "faithfulness_fraction": args.faithfulness_fraction,
        "sanity_jets": args.sanity_jets,
        "occlusion_fraction": args.occlusion_fraction,
        "activations": args.activations,
        "edges": args.edges,
    }


def _explain(args) -> None:
    from xaugcol.coffea_runs import run_relevance
    from xaugcol.config_models import validated
    from xaugcol.explain.ensemble import Ensemble
    from xaugcol.explain.options import ExplainOptions
    from xaugcol.processing.table_fileset import listed_tables

    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if args.methods is not None:
        rules += _method_entries(args.methods)
    with as_usage_error():  # what was asked for, checked before --out is made: a refusal leaves nothing behind
        options = validated(ExplainOptions, _explain_options(args, rules), "explain")
        for tagger in args.taggers:  # unreadable or unsafe tagger folders, and a processing that is unfinished or
            Ensemble.load(tagger)  # being written
        listed_tables(args.jets)
        check_scheduler(args.scheduler, args.connect_timeout)
    inputs = [("the jet tables", args.jets), *[("the tagger", t) for t in args.taggers]]
    with _claimed_output(args, inputs) as out:
        if args.overwrite:
            from xaugcol.processing.checkpoints import remove_checkpoints

            remove_checkpoints(out)
        result = run_relevance(
            args.jets,
            args.taggers,
            out,
            options,
            executor=args.executor,
            workers=args.workers,
            chunksize=args.chunksize,
            skip_bad_files=args.skip_bad_files,
            progress=True,
            scheduler=args.scheduler,
            resume=args.resume,
            timeouts=_timeouts(args),
        )
    for name, per_rule in result.summary.items():
        jets = sum(c["jets_selected"] for c in result.counts[name].values())
        for rule, s in per_rule.items():
            top = ", ".join(f"{f} {s['classes']['all'][f]['mean']:.3f}" for f in s["ranking"][:5])
            print(f"{name} ({jets} jets), {rule}: {top}")
    _print_skipped(result)
    print(f"relevance histograms: {out / 'relevance.root'}; summary: {out / 'relevance.json'}")
    _warn_outside_training_range(out / "relevance.json")


def _warn_outside_training_range(relevance_json: Path) -> None:
    import json

    from xaugcol.training.domain import describe

    for tagger, fractions in json.loads(relevance_json.read_text()).get("outside_training_range", {}).items():
        text = describe(tagger, fractions)
        if text:
            print(text, file=sys.stderr)


def _workflow(args) -> None:
    from xaugcol.workflow.config import Workflow
    from xaugcol.workflow.demo import demo_config
    from xaugcol.workflow.run_workflow import run_workflow

    with as_usage_error():
        if args.command == "demo":
            wf = demo_config(args.jets, args.epochs, args.seeds, args.top_k, args.workers)
        else:
            wf = Workflow.load(args.config, args.set)
    out = args.out
    result = run_workflow(wf, out, overwrite=args.overwrite, resume=args.resume)
    print(f"open {result['report']}")


def _report_command(args) -> None:
    from xaugcol.report.build import build_report

    page = build_report(args.folders, args.out, args.sample, args.examples, args.workers, args.overwrite, pdf=args.pdf)
    print(f"open {page}")


def _report(out: Path, fileset: dict) -> None:
    for name, entry in fileset.items():
        meta = entry["metadata"]
        print(f"{name}: {meta['n_events']} events, label {meta['label']}, {len(entry['files'])} file(s)")
    print(f"fileset: {out / 'fileset.json'}")


def _import_weaver(args) -> None:
    from xaugcol.models.weaver import WeaverImport, import_weaver

    pairs = [item.partition("=") for item in args.inputs]
    if any(not name or not sep or not feature for name, sep, feature in pairs):
        raise UsageError(f"--inputs takes NAME=FEATURE, got {args.inputs}")
    with as_usage_error("import-weaver: "):
        options = WeaverImport(
            state=args.state,
            data_config=args.data_config,
            neighbours=args.neighbours,
            signal=args.signal,
            background=args.background,
            inputs={name: feature for name, _, feature in pairs},
            particles=args.particles,
            vertices=args.vertices,
            out=args.out,
        )
    folder = import_weaver(options)
    say(f"tagger folder: {folder} (explain it: xaugcol explain TABLES --taggers {folder} --out ...)")


def _condor(args) -> None:
    try:
        if args.condor == "pack":
            from xaugcol.condor.environment import pack_environment

            path = pack_environment(args.out, args.venv, args.overwrite)
            print(f"environment: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
        elif args.condor == "prepare":
            from xaugcol.condor.config import SubmitConfig
            from xaugcol.condor.jobs import prepare_jobs
            from xaugcol.output_folder import refuse_non_empty

            repo = args.repo or Path(__file__).resolve().parents[1]
            refuse_non_empty(args.out, False, "condor prepare writes a new submission: choose a new or empty folder")
            with locked_output(args.out, overwrite=False):
                jobs = prepare_jobs(SubmitConfig.load(args.config), args.out, repo)
            print(f"{len(jobs['groups'])} job(s) at commit {jobs['commit']}: cd {args.out} && condor_submit job.sub")
        else:
            from xaugcol.condor.jobs import merge_outputs
            from xaugcol.output_folder import refuse_non_empty

            refuse_non_empty(args.out, False, "condor merge writes a new folder: choose a new or empty one")
            with locked_output(args.out, overwrite=False):
                report = merge_outputs(args.submission, args.out)
            for name, c in report["counts"].items():
                print(f"{name}: {c['events']} events, {c['jets_kept']}/{c['jets_seen']} jets kept")
            print(f"merged {report['jobs']} job(s) into {args.out}")
    except XaugcolError:
        raise
    except (ValueError, FileExistsError, FileNotFoundError) as err:  # a submission's settings and folders
        raise UsageError(str(err)) from None


def _finished_chunks(args) -> int:
    """The chunks a stopped process / explain run left checkpointed for --resume (0 for other commands)."""
    from xaugcol.processing.checkpoints import CHECKPOINTS

    if getattr(args, "command", None) not in ("process", "explain"):
        return 0
    return len(list((args.out / CHECKPOINTS).rglob("*.npz")))


def _resumable(args) -> str:
    """What a stopped process / explain run left for --resume."""
    done = _finished_chunks(args)
    return f" ({done} finished chunk(s) checkpointed in {args.out}: --resume continues the run)" if done else ""


EXIT_INTERRUPTED = 130  # as a shell reports a command ended by SIGINT


def _interrupted(args, argv: list[str]) -> str:
    """One line for Ctrl-C: what stopped, what is kept, and the command that continues."""
    command = getattr(args, "command", None)
    if command is None:
        return "interrupted"
    out = getattr(args, "out", None)
    again = " ".join(shlex.quote(a) for a in ["xaugcol", *argv])
    resume = " ".join(shlex.quote(a) for a in ["xaugcol", *(a for a in argv if a != "--overwrite")]) + (
        "" if "--resume" in argv else " --resume"
    )
    if command in ("process", "explain"):
        done = _finished_chunks(args)
        if not done:
            return f"interrupted: {command} finished no chunk; run it again: {again}"
        return f"interrupted: {command} kept {done} finished chunk(s) checkpointed in {out}; continue with: {resume}"
    if command in ("demo", "study"):
        return f"interrupted: the stages the {command} completed are kept in {out}; continue with: {resume}"
    if command == "train":
        where = out or "the study's output folder"
        return (
            f"interrupted: the ensemble(s) in {where} are incomplete (no metrics.json) and will not be "
            f"explained; train again with: {again if '--overwrite' in argv else again + ' --overwrite'}"
        )
    from xaugcol.output_folder import is_empty

    if out is not None and not is_empty(out) and "--overwrite" not in argv:
        again += " --overwrite"
    return (
        f"interrupted: {command} stopped; what it wrote is whole (every file appears complete or not at all); "
        f"run it again: {again}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one ``xaugcol`` command (the ``xaugcol`` console script).

    Errors of the project (``XaugcolError``) are printed as one line on stderr; any other exception is a bug and
    keeps its traceback.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 on success, ``EXIT_USAGE`` (2) for a bad argument or an output folder that cannot be used,
        ``EXIT_DATA`` (1) for bad input data, an output that cannot be written or a lost cluster, and
        ``EXIT_INTERRUPTED`` (130) for Ctrl-C, after a line saying what is kept and the command that continues.
    """
    from xaugcol.console import set_verbosity, whole_lines_when_redirected

    args = None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command in ("process", "train", "explain", "demo", "study"):
            from xaugcol.allocator import reuse_freed_memory

            reuse_freed_memory()  # tagger passes reuse their freed tensors (xaugcol.allocator)
        set_verbosity(1 - args.quiet + args.verbose)
        whole_lines_when_redirected()
        if args.command == "process":
            _process(args)
        elif args.command == "train":
            _train(args)
        elif args.command == "explain":
            _explain(args)
        elif args.command in ("demo", "study"):
            _workflow(args)
        elif args.command == "condor":
            _condor(args)
        elif args.command == "report":
            _report_command(args)
        elif args.command == "import-weaver":
            _import_weaver(args)
        else:
            {"toy": _generate_toy, "pythia": _generate_pythia}[args.source](args)
    except KeyboardInterrupt:
        print(f"xaugcol: {_interrupted(args, argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except XaugcolError as err:  # by class (xaugcol.errors); anything else is a bug and keeps its traceback
        resumable = isinstance(err, (OutputWriteError, ClusterError))
        print(f"xaugcol: error: {err}{_resumable(args) if resumable else ''}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, (UsageError, OutputFolderError)) and not resumable else EXIT_DATA
    return 0


if __name__ == "__main__":
    sys.exit(main())
