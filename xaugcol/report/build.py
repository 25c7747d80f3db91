"""``xaugcol report``: the figures and the HTML report of outputs made by hand (``process``, ``train``,
``explain``), the same as a study's.

The folders are recognised by what they hold: a processing output (``report.json`` and ``jets/``), a tagger
ensemble (``metrics.json`` listing its members) or a folder of ensembles, a relevance output (``relevance.json``).
A relevance output names the jet tables and the taggers it explained, so it alone is enough. Every file of
these folders is read only when it is a regular file (``xaugcol.paths``): a FIFO is refused, naming it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from xaugcol.errors import InputDataError, ModelFilesError, UsageError
from xaugcol.output_folder import locked_output, read_lock
from xaugcol.paths import NotRegularFileError, read_json, refuse_inputs_inside, under
from xaugcol.report import html
from xaugcol.report.figures import ReportInputs, draw_figures, explained_folder, figure_jobs

RELEVANCE, PROCESSING, METRICS = "relevance.json", "report.json", "metrics.json"


def report_inputs(folders: list[str | Path], sample: str | None = None, examples: int = 2) -> ReportInputs:
    """What ``folders`` hold, completed from a relevance output's record of its jet tables and taggers.

    Parameters
    ----------
    folders : list of str or Path
        Processing outputs, tagger ensembles (or folders of them) and relevance outputs; at most one processing
        and one relevance output.
    sample : str, optional
        The sample's label above every figure; default: the processing output's datasets (``a vs b``), or
        ``jets``.
    examples : int, default 2
        Example jets per class drawn with their relevance (0: none).

    Returns
    -------
    ReportInputs
        The processing output (given, or the relevance output's jet tables), the taggers by folder name (and
        those the relevance output explained), the relevance output, the sample and ``examples``.

    Raises
    ------
    UsageError
        A folder of no known kind, two processing or relevance outputs, two taggers of one name (or a tagger
        given under a name the relevance output gives another ensemble), or nothing to report.
    InputDataError
        A relevance output whose record lacks what the report reads (``relevance_record``).
    """
    processed: Path | None = None
    relevance: Path | None = None
    taggers: dict[str, Path] = {}
    for folder in map(Path, folders):
        if (folder / RELEVANCE).is_file():
            relevance = _one(relevance, folder, "relevance output")
        elif (folder / PROCESSING).is_file() and (folder / "jets").is_dir():
            processed = _one(processed, folder, "processing output")
        elif _is_ensemble(folder):
            _add_tagger(taggers, folder)
        elif folder.is_dir() and any(_is_ensemble(f) for f in folder.iterdir()):
            for ensemble in sorted(f for f in folder.iterdir() if _is_ensemble(f)):
                _add_tagger(taggers, ensemble)
        else:
            raise UsageError(
                f"{folder}: neither a processing output (report.json, jets/), a tagger ensemble "
                f"(metrics.json), a folder of ensembles nor a relevance output (relevance.json)"
            )
    if relevance is not None:
        record = relevance_record(relevance)
        processed = processed or Path(record["config"]["jets"])
        for name, info in record["taggers"].items():
            explained = explained_folder(info["members"][0]["folder"])
            if name in taggers and taggers[name].resolve() != explained.resolve():
                raise UsageError(
                    f"tagger {name!r}: {taggers[name]} is not the ensemble {relevance} explained "
                    f"under that name ({explained}): give one of them"
                )
            taggers.setdefault(name, explained)
    if processed is None and relevance is None and not taggers:
        raise UsageError("nothing to report: give processing, tagger or relevance folders")
    return ReportInputs(processed, taggers, relevance, sample or _sample(processed), examples)


def build_report(
    folders: list[str | Path],
    out: str | Path,
    sample: str | None = None,
    examples: int = 2,
    workers: int = 2,
    overwrite: bool = False,
    title: str | None = None,
    pdf: bool = False,
) -> Path:
    """Draw the figures of ``folders`` and write their HTML report.

    Parameters
    ----------
    folders : list of str or Path
        Processing outputs, tagger ensembles (or folders of them) and relevance outputs (``report_inputs``).
    out : str or Path
        The report's folder: figures into ``out/figures`` (PNG; with ``pdf`` also PDF), the page ``out/index.html``.
    sample : str, optional
        The sample's label above every figure; default: the processing output's datasets.
    examples : int
        Example jets per class drawn with their relevance (0: none).
    workers : int
        Processes drawing the figures.
    overwrite : bool
        Replace an existing report in ``out``.
    title : str, optional
        The page's title.
    pdf : bool
        Also write every figure as PDF.

    Returns
    -------
    Path
        The page (``index.html``).
    """
    inputs = report_inputs(folders, sample, examples)
    refuse_inputs_inside(
        out,
        [("the folder", f) for f in folders]
        + [("the processing output", inputs.processed)]
        + [(f"the tagger {name}", folder) for name, folder in inputs.taggers.items()],
    )
    if inputs.relevance is not None:
        _check_explained_taggers(Path(inputs.relevance))
    with contextlib.ExitStack() as reading, locked_output(out, overwrite) as out:
        # what the report reads is not rewritten while it draws (as training and explaining hold their inputs)
        for folder in {
            Path(f).resolve()
            for f in [inputs.processed, inputs.relevance, *inputs.taggers.values()]
            if f is not None and Path(f).is_dir()
        }:
            reading.enter_context(read_lock(folder))
        started = time.perf_counter()
        # never via a link; stems relative to the resolved folder (``under`` resolves: a relative --out, or one
        # whose parent is a link, names the same folder)
        figures = draw_figures(figure_jobs(inputs), under(out, "figures"), Path(out).resolve(), workers, pdf)
        drawn = time.perf_counter() - started
        record = relevance_record(Path(inputs.relevance)) if inputs.relevance is not None else None
        try:
            sections = [html.report_sections(figures, inputs.taggers, record)]
        except (KeyError, TypeError, ValueError, IndexError) as err:
            if record is None or inputs.relevance is None:  # a record is read from the relevance output
                raise
            raise InputDataError(
                f"{Path(inputs.relevance) / RELEVANCE}: not a relevance record xaugcol explain "
                f"wrote ({type(err).__name__}: {err})"
            ) from None
        described = {
            "processing": str(inputs.processed) if inputs.processed else None,
            "taggers": {n: str(f) for n, f in inputs.taggers.items()},
            "relevance": str(inputs.relevance) if inputs.relevance else None,
            "sample": inputs.sample,
        }
        return html.write_report(
            out, title or f"xaugcol report: {inputs.sample}", described, sections, {"figures": round(drawn, 1)}
        )


def relevance_record(relevance: Path) -> dict[str, Any]:
    """A relevance output's ``relevance.json``, checked to hold what a report reads first.

    That is: the jet tables (``config.jets``) and each tagger's members (``taggers.<name>.members``, a non-empty
    list of ``{seed, folder}``).

    Parameters
    ----------
    relevance : Path
        The relevance output folder.

    Returns
    -------
    dict
        The record, as read.

    Raises
    ------
    InputDataError
        When the record lacks any of that, naming the file.
    """
    path = Path(relevance) / RELEVANCE
    record = read_json(path, "a relevance output's relevance.json")

    def bad(what: str) -> InputDataError:
        return InputDataError(f"{path}: not a relevance record xaugcol explain wrote ({what})")

    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise bad("no 'config' mapping")
    if not isinstance(record["config"].get("jets"), str):
        raise bad("'config.jets' must name the jet tables' folder")
    taggers = record.get("taggers")
    if not isinstance(taggers, dict) or not taggers:
        raise bad("'taggers' must map tagger names to their members")
    for name, info in taggers.items():
        members = info.get("members") if isinstance(info, dict) else None
        if not (
            isinstance(members, list)
            and members
            and all(
                isinstance(m, dict) and isinstance(m.get("folder"), str) and isinstance(m.get("seed"), int)
                for m in members
            )
        ):
            raise bad(f"tagger {name!r}: 'members' must list {{seed, folder}} entries")
    return record


def _check_explained_taggers(relevance: Path) -> None:
    """A relevance output shows the taggers as they were explained: a member whose files changed since (a tagger
    trained again into the same folder) would put its new metrics beside its old relevance. Refused, naming it."""
    from xaugcol.models.folder import folder_digest

    record = relevance_record(relevance)
    for name, info in record["taggers"].items():
        explained = info.get("digests") or {}  # relevance outputs written before digests were recorded: unchecked
        for member in info.get("members", []):
            expected = explained.get(f"seed_{member['seed']}")
            if not Path(member["folder"]).is_dir():
                raise ModelFilesError(
                    f"tagger {name}: {member['folder']}, which {relevance} explained, is not there "
                    "(a relative path is read from the current folder)"
                )
            if expected is not None and folder_digest(member["folder"]) != expected:
                raise ModelFilesError(
                    f"tagger {name}: {member['folder']} changed since {relevance} explained it: "
                    "explain it again, or report its training without that relevance output"
                )


def _one(current: Path | None, folder: Path, what: str) -> Path:
    """``folder``, the one folder of its kind (``what``); a ``UsageError`` when ``current`` was given already."""
    if current is not None:
        raise UsageError(f"two {what}s given ({current} and {folder}): a report shows one")
    return folder


def _add_tagger(taggers: dict[str, Path], folder: Path) -> None:
    """A tagger is named by its folder: two folders of one name would show as one, the other dropped."""
    if folder.name in taggers and taggers[folder.name].resolve() != folder.resolve():
        raise UsageError(
            f"two taggers named {folder.name!r} ({taggers[folder.name]} and {folder}): tagger names "
            "must be unique; rename one folder"
        )
    taggers[folder.name] = folder


def _is_ensemble(folder: Path) -> bool:
    """Whether ``folder`` holds an ensemble's ``metrics.json``; one that is not a regular file is refused
    (``NotRegularFileError``), not taken for a folder of another kind."""
    try:
        return "members" in read_json(folder / METRICS, "an ensemble's metrics.json")
    except NotRegularFileError:
        raise
    except (OSError, ValueError):
        return False


def _sample(processed: Path | None) -> str:
    """The datasets of a processing output, as the sample label (a study names its source instead)."""
    if processed is None or not (Path(processed) / PROCESSING).is_file():
        return "jets"
    counts = read_json(Path(processed) / PROCESSING, "a processing output's report.json").get("counts", {})
    return " vs ".join(counts) or "jets"
