"""The command line: every option explained, --version, light commands that do not import torch; the figure label
of work outside the CMS collaboration."""

import argparse
import subprocess
import sys

from xaugcol.cli import build_parser, main


def _actions(parser, path=("xaugcol",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, path + (name,))
        else:
            yield path, action


def test_every_option_has_help():
    missing = [(" ".join(path), a.option_strings or a.dest) for path, a in _actions(build_parser())
               if not (a.help and a.help.strip())]
    assert missing == []


def test_help_shows_every_default_and_no_output_folder_is_silent():
    for path, sub in _subparsers(build_parser()):
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action.default, (int, float, str)) and not isinstance(action.default, bool) \
                    and action.default not in (argparse.SUPPRESS,) and action.option_strings:
                if action.dest in ("quiet", "verbose"):
                    continue
                assert f"(default: {action.default})" in " ".join(text.split()), (path, action.dest)
            if "--out" in action.option_strings:
                assert action.required or path == ("xaugcol", "train"), path  # train: --out or --config
    assert main(["demo"]) == 2 and main(["generate", "toy", "--jets", "5"]) == 2


def _subparsers(parser, path=("xaugcol",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, path + (name,))


def test_version_names_the_substructure_backend(capsys, substructure_extension):
    import xaugcol
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code in (0, None)
    printed = capsys.readouterr().out
    assert printed.startswith(f"xaugcol {xaugcol.__version__}; substructure: C++ extension")


def test_help_and_generate_do_not_import_torch(tmp_path):
    code = ("import sys\nfrom xaugcol.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch')\n")
    for args in (["--help"], ["train", "--help"], ["generate", "toy", "--jets", "20", "--out", str(tmp_path / "t")]):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
        assert done.stdout.strip().splitlines()[-1] == "no torch", (args, done.stderr[-2000:])
    # --help and generate --help load neither torch nor coffea (nor numpy, nor pydantic): they answer at once
    light = ("import sys\nfrom xaugcol.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'coffea', 'numpy', 'awkward', 'pydantic') if m in sys.modules))\n")
    for args in (["--help"], ["generate", "--help"], ["generate", "pythia", "--help"], ["--version"]):
        done = subprocess.run([sys.executable, "-c", light, *args], capture_output=True, text=True, timeout=300)
        heavy = done.stdout.strip().splitlines()[-1]
        assert heavy == ("[]" if args != ["--version"] else heavy), (args, heavy)
        assert "torch" not in heavy and "coffea" not in heavy, (args, heavy)
    assert (tmp_path / "t" / "fileset.json").exists()  # and generate did run


def test_figure_label_is_private_work_without_a_bold_cms():
    from xaugcol.plotting.style import EXPERIMENT_LABEL, figure, label

    fig, axes = figure()
    label(axes[0, 0], "toy jets")
    texts = [t for t in axes[0, 0].texts if t.get_text().strip()]
    assert [t.get_text() for t in texts] == ["Private work (CMS simulation)"] == [EXPERIMENT_LABEL]
    assert all(t.get_fontweight() in ("normal", 400) for t in texts)
    assert not any(t.get_text() == "CMS" for t in axes[0, 0].texts)
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_explain_has_one_set_of_defaults():
    """``xaugcol explain``, a study's ``explain`` section and the library share ExplainOptions' defaults (before,
    occlusion and activations were off on the command line and on in studies)."""
    from xaugcol.cli import _explain_options, build_parser
    from xaugcol.explain.options import ExplainOptions
    from xaugcol.workflow.config import Explain

    args = build_parser().parse_args(["explain", "proc", "--taggers", "t", "--out", "o"])
    assert ExplainOptions(**_explain_options(args, args.rules.split(","))) == ExplainOptions()
    study = Explain()
    assert {name: getattr(study, name) for name in ExplainOptions.model_fields} == dict(ExplainOptions())
    assert not (study.faithfulness_steps or study.sanity_jets or study.occlusion_fraction or study.activations)


def test_processing_has_one_set_of_defaults():
    """``xaugcol process``, a study's ``processing`` section and the library build the same ProcessingConfig when
    nothing is set: the sizes' defaults live in one place."""
    from xaugcol.cli import build_parser
    from xaugcol.features.images import ImageConfig
    from xaugcol.processing.jet_table import ProcessingConfig
    from xaugcol.workflow.config import Processing

    library = ProcessingConfig()
    args = build_parser().parse_args(["process", "fileset.json", "--out", "o"])
    study = Processing()
    for name in ("n_particles", "n_tracks", "n_vertices", "min_pt", "max_constituents"):
        assert getattr(args, name) == getattr(study, name) == getattr(library, name), name
    assert args.image_pixels == study.image_pixels == ImageConfig().n_pixels == library.image.n_pixels


def test_train_help_names_every_registered_tagger():
    from xaugcol.cli import build_parser
    from xaugcol.models.registry import MODELS, trainable_models

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    help_text = next(a.help for a in train._actions if "--model" in a.option_strings)
    imported = {"weaver-particlenet", "weaver-particlenet-tagger"}  # never trained here
    assert set(help_text.split(": ", 1)[1].split(", ")) == set(trainable_models()) == set(MODELS) - imported
