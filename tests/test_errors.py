"""One error model: every exception class of the toolkit sits under ``XaugcolError``, and the command line ends a run
by the error's class (usage: exit 2; data, model files, a cluster, a failed write: exit 1 with one line); anything
else is a bug and keeps its traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import xaugcol
import xaugcol.condor
import xaugcol.processors
from xaugcol import cli
from xaugcol.errors import (ClusterError, InputDataError, ModelFilesError, OutputFolderError, OutputWriteError,
                            UsageError, XaugcolError, as_usage_error)


def _modules(package):
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def test_every_exception_class_of_the_toolkit_is_an_xaugcol_error():
    """Walks every module of xaugcol, processors and condor: a new error class outside the hierarchy fails here
    (private ones, signals caught where they are raised, such as paths._DuplicateKey, aside)."""
    classes = {}
    for package in (xaugcol, xaugcol.processors, xaugcol.condor):
        for module in _modules(package):
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__ \
                        and not name.startswith("_"):
                    classes[f"{module.__name__}.{name}"] = obj
    assert len(classes) >= 20  # the walk found the toolkit's classes
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, XaugcolError))
    assert outside == []


def test_the_built_in_classes_are_kept():
    """Code that caught the built-in class an error had still catches it."""
    from xaugcol.atomic import OutputError
    from xaugcol.jets.constituents import MissingBranchError
    from xaugcol.output_folder import OutputLockedError
    from xaugcol.paths import NotRegularFileError
    from xaugcol.processing.coffea_runner import BadFileError
    from xaugcol.training.data import TrainingDataError

    assert issubclass(OutputError, OSError) and issubclass(OutputError, OutputWriteError)
    assert issubclass(NotRegularFileError, OSError) and issubclass(NotRegularFileError, InputDataError)
    assert issubclass(MissingBranchError, KeyError) and issubclass(BadFileError, RuntimeError)
    assert issubclass(TrainingDataError, ValueError) and issubclass(OutputLockedError, RuntimeError)


@pytest.mark.parametrize("error, code", [
    (UsageError("no such rule"), cli.EXIT_USAGE),
    (OutputFolderError("out holds another run"), cli.EXIT_USAGE),
    (InputDataError("jets.parquet: column pt missing"), cli.EXIT_DATA),
    (ModelFilesError("model.pt changed"), cli.EXIT_DATA),
    (OutputWriteError("disk full"), cli.EXIT_DATA),
    (ClusterError("no workers"), cli.EXIT_DATA),
])
def test_the_command_line_ends_a_run_by_the_errors_class(monkeypatch, tmp_path, capsys, error, code):
    import xaugcol.report.build

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(xaugcol.report.build, "build_report", fail)
    assert cli.main(["report", str(tmp_path), "--out", str(tmp_path / "r")]) == code
    err = capsys.readouterr().err
    assert err.startswith("xaugcol: error: ") and str(error) in err and "Traceback" not in err


@pytest.mark.parametrize("bug", [ValueError("a bug deep in the run"), KeyError("x"), RuntimeError("y")])
def test_any_other_exception_from_a_run_is_a_bug_with_its_traceback(monkeypatch, tmp_path, bug):
    """Before, seven command handlers turned any ValueError into a usage error (exit 2, no traceback)."""
    import xaugcol.report.build

    def fail(*args, **kwargs):
        raise bug

    monkeypatch.setattr(xaugcol.report.build, "build_report", fail)
    with pytest.raises(type(bug)):
        cli.main(["report", str(tmp_path), "--out", str(tmp_path / "r")])


def test_as_usage_error_turns_only_plain_value_errors():
    with pytest.raises(UsageError, match="study config: bad"):
        with as_usage_error("study config: "):
            raise ValueError("bad")
    with pytest.raises(InputDataError):  # the toolkit's own errors pass as they are
        with as_usage_error():
            raise InputDataError("table")
    with pytest.raises(TypeError):
        with as_usage_error():
            raise TypeError("a bug")
