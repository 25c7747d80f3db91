"""xaugcol: explain why jet and lepton taggers decide as they do.

The data flow: ``xaugcol.sources`` write NanoAOD-style ROOT files (toy, Pythia 8) or a fileset names CMS files;
the coffea processors (``xaugcol.processors``) turn them into jet tables; taggers are trained on the tables
(``xaugcol.training``) and explained (``xaugcol.explain``: LRP, gradients, occlusion, activation patterns) into
hist histograms; the figures and the report are drawn from those (``xaugcol.report``). A study configuration runs
the whole chain (``xaugcol.workflow``).

The public API, importable from here (each name is loaded on first use, so ``import xaugcol`` stays light)::

    import xaugcol
    xaugcol.run_toy("out/toy", 2000, seed=1)                                   # or run_pythia
    xaugcol.run_processing(xaugcol.load_fileset("out/toy/fileset.json"), "out/proc")
    xaugcol.Study.from_dict({...}).run()                                       # train tagger ensembles
    xaugcol.run_relevance("out/proc", ["out/taggers/dnn"], "out/rel", xaugcol.ExplainOptions(rules=("epsilon",)))
    ensemble = xaugcol.Ensemble.load("out/taggers/dnn")                         # a trained tagger
    result = xaugcol.LRP(model, "epsilon")(*inputs)                            # LRP on any supported model
    xaugcol.run_workflow(xaugcol.Workflow.load("configs/zz_vs_qcd.yaml"), "out/zz")  # a whole study
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module that defines it
_API = {
    # generating samples
    "run_toy": "xaugcol.sources.toy",
    "ToyConfig": "xaugcol.sources.toy",
    "run_pythia": "xaugcol.sources.pythia",
    # processing into jet tables
    "load_fileset": "xaugcol.processing.coffea_runner",
    "run_processing": "xaugcol.coffea_runs",
    "Execution": "xaugcol.processing.coffea_runner",
    "ProcessingConfig": "xaugcol.processing.jet_table",
    "EFPConfig": "xaugcol.features.efp.columns",
    "read_tables": "xaugcol.processing.table_io",
    # training
    "Study": "xaugcol.training.study",
    "ModelConfig": "xaugcol.models.registry",
    "build_model": "xaugcol.models.registry",
    "import_weaver": "xaugcol.models.weaver",
    "WeaverImport": "xaugcol.models.weaver",
    # loading and explaining trained taggers
    "Ensemble": "xaugcol.explain.ensemble",
    "run_relevance": "xaugcol.coffea_runs",
    "ExplainOptions": "xaugcol.explain.options",
    "method_specs": "xaugcol.explain.methods",
    "LRP": "xaugcol.explain.lrp",
    "Composite": "xaugcol.explain.lrp",
    # studies and reports
    "Workflow": "xaugcol.workflow.config",
    "run_workflow": "xaugcol.workflow.run_workflow",
    "build_report": "xaugcol.report.build",
    # errors
    "XaugcolError": "xaugcol.errors",
    "UsageError": "xaugcol.errors",
    "InputDataError": "xaugcol.errors",
    "ModelFilesError": "xaugcol.errors",
    "OutputFolderError": "xaugcol.errors",
    "OutputWriteError": "xaugcol.errors",
    "ClusterError": "xaugcol.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # loaded once
        return value
    raise AttributeError(f"module 'xaugcol' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
