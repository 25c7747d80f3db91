"""Plain HTCondor jobs: one job per group of files, each running ``xaugcol process`` on its group; and the merge
of what they send back into one processing output, the same as a local ``xaugcol process`` writes.

``prepare_jobs`` writes a submission folder::

    job.sub             submit description: common commands, then one block (group, input files) per job
    job.sh              the job script (bash)
    groups/<group>.json the sub-fileset of each job
    xaugcol.whl         xaugcol at the recorded commit (git archive + pip wheel, with the compiled extension)
    provenance.json     the commit, the configuration, the groups; copied into every job's output
    jobs.json           what ``merge_outputs`` expects back
    logs/, outputs/     filled by HTCondor
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import string
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import uproot

from xaugcol.atomic import atomic_path, make_dirs, remove, write_json, writing
from xaugcol.condor.config import SubmitConfig
from xaugcol.condor.provenance import build_wheel, clean_commit
from xaugcol.errors import InputDataError
from xaugcol.output_folder import empty_locked_folder, is_empty
from xaugcol.paths import NotRegularFileError, check_regular, plain_name, read_json, read_text, under
from xaugcol.processing.coffea_runner import load_fileset, screen_fileset
from xaugcol.processing.process_fileset import HISTOGRAMS, REPORT
from xaugcol.processing.table_io import JETS_DIR
from xaugcol.quoting import quoted

TEMPLATES = Path(__file__).parent / "templates"
JOBS = "jobs.json"
PROVENANCE = "provenance.json"
WHEEL = "xaugcol.whl"


class _Template(string.Template):
    delimiter = "@"  # the templates are bash and submit language, full of '$'


def _render(name: str, **values) -> str:
    return _Template(read_text(TEMPLATES / name, "a job template")).substitute(**values)


def file_groups(fileset: dict, files_per_job: int) -> dict[str, dict]:
    """Split a fileset into groups of at most ``files_per_job`` files of one dataset.

    Parameters
    ----------
    fileset : dict
        A fileset as ``coffea_runner.load_fileset`` returns it.
    files_per_job : int
        The most files in one group.

    Returns
    -------
    dict of str to dict
        ``{group_0000: sub-fileset, ...}``, numbered in order; each sub-fileset holds one dataset with its
        ``files`` (path to tree) and ``metadata``.
    """
    groups: dict[str, dict] = {}
    for dataset, entry in fileset.items():
        files = list(entry["files"].items())
        for start in range(0, len(files), files_per_job):
            name = f"group_{len(groups):04d}"
            groups[name] = {
                dataset: {"files": dict(files[start : start + files_per_job]), "metadata": entry["metadata"]}
            }
    return groups


def prepare_jobs(config: SubmitConfig, out: str | Path, repo: str | Path) -> dict:
    """Write the submission folder ``out`` for ``config``; refuses a checkout with uncommitted changes.

    The fileset is loaded and every input file screened first; on any error the folder is emptied again.

    Parameters
    ----------
    config : SubmitConfig
        The submission.
    out : str or Path
        The submission folder; it must be empty (or absent).
    repo : str or Path
        The git checkout of xaugcol whose HEAD the jobs run (built into ``xaugcol.whl``).

    Returns
    -------
    dict
        The contents of ``jobs.json``: ``commit``, ``config`` and ``groups`` (per group its ``dataset`` and
        ``files``).

    Raises
    ------
    DirtyCheckoutError
        The checkout has uncommitted changes, before anything is written.
    FileExistsError
        ``out`` is not empty.
    ValueError
        With ``transfer_inputs``, two files of one group have the same name.
    """
    commit = clean_commit(repo)  # first: nothing is written for a dirty checkout
    fileset = load_fileset(config.fileset)
    screen_fileset(fileset, skip_bad_files=False)  # an unreadable input is named now, not in a job hours later
    out = Path(out)
    if not is_empty(out):
        raise FileExistsError(f"submission folder {out} is not empty")
    groups = file_groups(fileset, config.files_per_job)
    # every group's sandbox names checked before anything is written
    job_groups = {
        name: _local_names(group, name) if config.transfer_inputs else group for name, group in groups.items()
    }
    try:
        return _write_submission(config, out, repo, commit, groups, job_groups)
    except BaseException:
        empty_locked_folder(out)  # the folder was empty: everything in it but its lock is this run's
        raise


def _write_submission(config: SubmitConfig, out: Path, repo, commit: str, groups: dict, job_groups: dict) -> dict:
    for sub in ("groups", "logs", "outputs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    build_wheel(repo, commit, out / WHEEL)

    blocks = []
    for name, group in job_groups.items():
        inputs = [WHEEL, PROVENANCE, f"groups/{name}.json"]
        if config.tarball:
            inputs.append(config.tarball)
        if config.transfer_inputs:
            inputs += list(next(iter(groups[name].values()))["files"])
        write_json(out / "groups" / f"{name}.json", group)
        blocks.append(f"group                   = {name}\ntransfer_input_files    = {', '.join(inputs)}\nqueue\n")
    site = []
    if config.container:
        site.append(f'+SingularityImage       = "{config.container}"')
    if config.x509_proxy:
        site.append("use_x509userproxy       = true")
    site += [f"{key:<23} = {value}" for key, value in config.extra.items()]

    environment = list(config.setup)
    python = "python3"
    if config.tarball:
        environment.insert(0, f'tar -xzf "{Path(config.tarball).name}"  # the packed venv, as env/')
        python = "$PWD/env/bin/python"
    options = (" --skip-bad-files" if config.skip_bad_files else "") + "".join(
        f" {shlex.quote(o)}" for o in config.process_options
    )
    values = dict(
        commit=commit,
        cpus=config.cpus,
        chunksize=config.chunksize,
        python=python,
        executor="futures" if config.cpus > 1 else "iterative",
        options=options,
        environment="\n".join(environment) or "# environment: the worker's own python3",
        memory_mb=config.memory_mb,
        disk_kb=config.disk_kb,
        site="\n".join(site),
        jobs="\n".join(blocks),
    )
    _write(out / "job.sh", _render("job.sh", **values), executable=True)
    _write(out / "job.sub", _render("job.sub", **values))
    jobs = {
        "commit": commit,
        "config": _config_record(config),
        "groups": {
            name: {"dataset": next(iter(g)), "files": list(next(iter(g.values()))["files"])}
            for name, g in groups.items()
        },
    }
    write_json(out / PROVENANCE, {"commit": commit, "repository": str(Path(repo).resolve()), "config": jobs["config"]})
    write_json(out / JOBS, jobs)
    return jobs


def _local_names(group: dict, name: str) -> dict:
    """The group's fileset as the job sees it when the files are transferred: basenames in the sandbox."""
    ((dataset, entry),) = group.items()
    names = [Path(p).name for p in entry["files"]]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: files with the same name cannot be transferred into one sandbox: {names}")
    return {dataset: {"files": {Path(p).name: t for p, t in entry["files"].items()}, "metadata": entry["metadata"]}}


def _config_record(config: SubmitConfig) -> dict:
    record = {k: getattr(config, k) for k in config.__dataclass_fields__}
    return json.loads(json.dumps({**record, "fileset": str(config.fileset)}))


def _write(path: Path, text: str, executable: bool = False) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
        if executable:
            tmp.chmod(0o755)


def merge_outputs(submission: str | Path, out: str | Path) -> dict:
    """Join the jobs' outputs (``outputs/out_<group>.tar.gz``) into one processing output ``out``.

    Jet tables side by side, histograms and counts summed, skipped files and chunks listed, the commit recorded.
    Every group's output must be there (the missing ones are named: resubmit them), come from the recorded commit,
    have processed exactly its group's files, and hold exactly the jet tables its report lists, with the rows the
    report gives (a planted or altered table is refused); a job's output tarball may hold regular files and
    folders only (a link is refused before anything is unpacked). ``out`` appears complete or not at all.

    Parameters
    ----------
    submission : str or Path
        The submission folder ``prepare_jobs`` wrote, with the jobs' outputs under ``outputs/``.
    out : str or Path
        The merged processing output; it must be empty (or absent).

    Returns
    -------
    dict
        The merged report, as written to ``out/report.json``.

    Raises
    ------
    FileNotFoundError
        A group's output is missing.
    FileExistsError
        ``out`` is not empty, or one chunk came back from two jobs.
    InputDataError
        A job's output is incomplete, cannot be unpacked, ran another commit or processed other files.
    NotRegularFileError
        A job's output tarball is not a regular file or holds a link.
    ValueError
        A job's tables differ from its report, or the jobs ran with different processing configurations.
    """
    submission, out = Path(submission), Path(out)
    jobs = read_json(submission / JOBS, "the submission's jobs.json")
    missing = [
        g for g in jobs["groups"] if not (submission / "outputs" / f"out_{plain_name(g, 'job group')}.tar.gz").exists()
    ]
    if missing:
        raise FileNotFoundError(f"{submission}/outputs: no output from {len(missing)} job(s): {', '.join(missing)}")
    for leftover in out.glob(".merging-*"):  # of a merge that was killed (this one holds the folder's lock)
        remove(leftover)
    if not is_empty(out):
        raise FileExistsError(f"{out} is not empty: merge into a new folder")
    reports: list[dict] = []
    hists: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=make_dirs(out), prefix=".merging-") as work:
        merged, scratch = Path(work) / "merged", make_dirs(Path(work) / "scratch")
        make_dirs(merged / JETS_DIR)
        for group, expected in jobs["groups"].items():
            _unpack(submission / "outputs" / f"out_{group}.tar.gz", group, scratch)
            folder = Path(scratch) / f"out_{group}"
            reports.append(_checked_job_output(folder, group, expected, jobs["commit"]))
            for name in reports[-1]["tables"]:
                target = under(merged / JETS_DIR, name)
                if target.exists():
                    raise FileExistsError(f"job {group}: chunk {target.name} came back twice")
                make_dirs(target.parent)
                shutil.move(folder / JETS_DIR / name, target)
            with uproot.open(folder / HISTOGRAMS) as f:
                for key, obj in f.items(filter_classname="TH1*"):
                    key = key.split(";")[0]
                    h = obj.to_hist()
                    hists[key] = hists[key] + h if key in hists else h
            shutil.rmtree(folder)
        with atomic_path(merged / HISTOGRAMS) as tmp:
            with uproot.recreate(tmp) as f:
                for key, h in sorted(hists.items()):
                    f[key] = h
        report = _merge_reports(reports, jobs)
        write_json(merged / REPORT, report)
        write_json(merged / PROVENANCE, {"commit": jobs["commit"], "jobs": len(jobs["groups"])})
        # every check passed and everything is written: move it into place, the report (the completion mark) last
        for name in (JETS_DIR, HISTOGRAMS, PROVENANCE, REPORT):
            with writing(out / name):
                os.replace(merged / name, out / name)
    return report


def _unpack(tarball: Path, group: str, scratch: Path) -> None:
    """A job's output tarball unpacked into ``scratch``: a regular file (a FIFO would block), holding regular
    files and folders only: no link (``_without_links``, checked before anything is unpacked), and no absolute
    paths, '..' or special files (tarfile's "data" filter)."""
    check_regular(tarball, "a job's output")
    try:
        with tarfile.open(tarball) as tar:
            members = _without_links(tarball, tar.getmembers())
            tar.extractall(scratch, members=members, filter="data")
    except tarfile.TarError as err:
        raise InputDataError(f"job {group}: its output {tarball} cannot be unpacked: {err}") from None


def _without_links(tarball: Path, members: list[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """``members`` if none is a symbolic or hard link; else NotRegularFileError naming the first. The "data"
    filter lets links through that stay inside the unpacked folder, but a linked jet table would be moved into
    the merged output as a link, resolving outside it."""
    for member in members:
        if member.issym() or member.islnk():
            kind = "a symbolic link" if member.issym() else "a hard link"
            raise NotRegularFileError(
                f"{tarball}: member {quoted(member.name)} is {kind} to "
                f"{quoted(member.linkname)}: a job's output may hold only regular files and "
                "folders"
            )
    return members


def _checked_job_output(folder: Path, group: str, expected: dict, commit: str) -> dict:
    """The report of one job's output, after checking that it is what the submission asked for."""
    try:
        provenance = read_json(folder / PROVENANCE, "a job's provenance.json")
        report = read_json(folder / REPORT, "a job's report.json")
    except (OSError, ValueError) as err:
        raise InputDataError(f"job {group}: its output is incomplete: {err}") from None
    if provenance.get("commit") != commit:
        raise InputDataError(f"job {group} ran commit {provenance.get('commit')}, not the submitted {commit}")
    done = sorted(Path(p).name for p in report.get("files", {})) + sorted(
        Path(s["file"]).name for s in report.get("skipped_files", [])
    )
    if sorted(done) != sorted(Path(p).name for p in expected["files"]):
        raise InputDataError(
            f"job {group} processed {sorted(done)}, not its group's files "
            f"{sorted(Path(p).name for p in expected['files'])}"
        )
    tables = report.get("tables")
    if not isinstance(tables, dict):
        raise InputDataError(f"job {group}: its report lists no jet tables (a job of an older xaugcol?)")
    present = (
        {p.relative_to(folder / JETS_DIR).as_posix() for p in (folder / JETS_DIR).rglob("*.parquet")}
        if (folder / JETS_DIR).is_dir()
        else set()
    )
    planted, lost = sorted(present - set(tables)), sorted(set(tables) - present)
    if planted or lost:
        raise ValueError(
            f"job {group}: its jet tables differ from its report: "
            + "; ".join(
                f"{what}: {', '.join(names)}"
                for what, names in (("not in the report", planted), ("missing", lost))
                if names
            )
        )
    for name, rows in tables.items():
        found = pq.read_metadata(folder / JETS_DIR / name).num_rows
        if found != rows:
            raise ValueError(f"job {group}: jet table {name} has {found} rows, its report says {rows}")
    kept = sum(c["jets_kept"] for c in report["counts"].values())
    if kept != sum(tables.values()):
        raise ValueError(f"job {group}: its tables hold {sum(tables.values())} jets, its counts {kept}")
    return report


def _merge_reports(reports: list[dict], jobs: dict) -> dict:
    configs = {json.dumps(r["config"], sort_keys=True) for r in reports}
    if len(configs) != 1:
        raise ValueError("the jobs ran with different processing configurations")
    counts: dict = defaultdict(lambda: defaultdict(int))
    unavailable: dict = defaultdict(set)
    merged = {
        "config": reports[0]["config"],
        "executor": "condor",
        "workers": len(reports),
        "chunksize": reports[0]["chunksize"],
        "files": {},
        "skipped_files": [],
        "skipped_chunks": [],
        "chunks_from_checkpoints": 0,
        "tables": {},
        "removed_stale_tables": [],
        "outputs": reports[0]["outputs"],
        "versions": reports[0]["versions"],
        "commit": jobs["commit"],
        "jobs": len(reports),
    }
    labels: dict = {}
    unlisted: list = []
    backends: set = set()
    for r in reports:
        merged["files"].update(r["files"])
        merged["tables"].update(r["tables"])
        # as a local run records them: the labels check each table, the backends say how they were made
        for dataset, label in (r.get("labels") or {}).items():
            if labels.setdefault(dataset, label) != label:
                raise ValueError(f"the jobs gave dataset {dataset!r} the labels {labels[dataset]!r} and {label!r}")
        unlisted += r.get("unlisted_tables", [])
        backends |= set(r.get("substructure_backends", []))
        merged["skipped_files"] += r["skipped_files"]
        merged["skipped_chunks"] += r.get("skipped_chunks", [])
        for dataset, c in r["counts"].items():
            for key, value in c.items():
                counts[dataset][key] += value
        for dataset, cols in r["unavailable_columns"].items():
            unavailable[dataset] |= set(cols)
    datasets = sorted({g["dataset"] for g in jobs["groups"].values()})
    merged["counts"] = {d: dict(counts[d]) for d in datasets}
    merged["unavailable_columns"] = {d: sorted(unavailable[d]) for d in datasets}
    merged["labels"] = {d: labels[d] for d in datasets if d in labels}
    merged["unlisted_tables"] = sorted(unlisted)
    merged["substructure_backends"] = sorted(backends)
    return merged
