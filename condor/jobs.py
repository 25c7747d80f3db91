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
import shlex
import shutil
import string
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

import uproot

from condor.config import SubmitConfig
from condor.provenance import build_wheel, clean_commit
from xaugcol.atomic import atomic_path, write_json
from xaugcol.processing.run import HISTOGRAMS, REPORT, load_fileset, screen_fileset
from xaugcol.processing.table_io import JETS_DIR

TEMPLATES = Path(__file__).parent / "templates"
JOBS = "jobs.json"
PROVENANCE = "provenance.json"
WHEEL = "xaugcol.whl"


class _Template(string.Template):
    delimiter = "@"  # the templates are bash and submit language, full of '$'


def _render(name: str, **values) -> str:
    return _Template((TEMPLATES / name).read_text()).substitute(**values)


def file_groups(fileset: dict, files_per_job: int) -> dict[str, dict]:
    """Split a fileset into groups of at most ``files_per_job`` files of one dataset: {group: sub-fileset}."""
    groups = {}
    for dataset, entry in fileset.items():
        files = list(entry["files"].items())
        for start in range(0, len(files), files_per_job):
            name = f"group_{len(groups):04d}"
            groups[name] = {dataset: {"files": dict(files[start:start + files_per_job]),
                                      "metadata": entry["metadata"]}}
    return groups


def prepare_jobs(config: SubmitConfig, out: str | Path, repo: str | Path) -> dict:
    """Write the submission folder ``out`` for ``config``; refuses a checkout with uncommitted changes.
    Returns the contents of ``jobs.json``."""
    commit = clean_commit(repo)  # first: nothing is written for a dirty checkout
    fileset = load_fileset(config.fileset)
    screen_fileset(fileset, skip_bad_files=False)  # an unreadable input is named now, not in a job hours later
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"submission folder {out} is not empty")
    groups = file_groups(fileset, config.files_per_job)
    for sub in ("groups", "logs", "outputs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    build_wheel(repo, commit, out / WHEEL)

    blocks = []
    for name, group in groups.items():
        inputs = [WHEEL, PROVENANCE, f"groups/{name}.json"]
        if config.tarball:
            inputs.append(config.tarball)
        if config.transfer_inputs:
            group = _local_names(group, name)
            inputs += list(next(iter(groups[name].values()))["files"])
        write_json(out / "groups" / f"{name}.json", group)
        blocks.append(f"group                   = {name}\n"
                      f"transfer_input_files    = {', '.join(inputs)}\nqueue\n")
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
    options = (" --skip-bad-files" if config.skip_bad_files else "") + \
        "".join(f" {shlex.quote(o)}" for o in config.process_options)
    values = dict(commit=commit, cpus=config.cpus, chunksize=config.chunksize, python=python,
                  executor="futures" if config.cpus > 1 else "iterative", options=options,
                  environment="\n".join(environment) or "# environment: the worker's own python3",
                  memory_mb=config.memory_mb, disk_kb=config.disk_kb, site="\n".join(site), jobs="\n".join(blocks))
    _write(out / "job.sh", _render("job.sh", **values), executable=True)
    _write(out / "job.sub", _render("job.sub", **values))
    jobs = {"commit": commit, "config": _config_record(config),
            "groups": {name: {"dataset": next(iter(g)), "files": list(next(iter(g.values()))["files"])}
                       for name, g in groups.items()}}
    write_json(out / PROVENANCE, {"commit": commit, "repository": str(Path(repo).resolve()),
                                  "config": jobs["config"]})
    write_json(out / JOBS, jobs)
    return jobs


def _local_names(group: dict, name: str) -> dict:
    """The group's fileset as the job sees it when the files are transferred: basenames in the sandbox."""
    (dataset, entry), = group.items()
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
    """Join the jobs' outputs (``outputs/out_<group>.tar.gz``) into ``out``: jet tables side by side, histograms
    and counts summed, skipped files and chunks listed, the commit recorded. Every group's output must be there
    (the missing ones are named: resubmit them) and come from the recorded commit."""
    submission, out = Path(submission), Path(out)
    jobs = json.loads((submission / JOBS).read_text())
    missing = [g for g in jobs["groups"] if not (submission / "outputs" / f"out_{g}.tar.gz").exists()]
    if missing:
        raise FileNotFoundError(f"{submission}/outputs: no output from {len(missing)} job(s): {', '.join(missing)}")
    if (out / JETS_DIR).exists():
        raise FileExistsError(f"{out / JETS_DIR} exists: merge into a new folder")
    (out / JETS_DIR).mkdir(parents=True)
    reports, hists = [], {}
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        for group in jobs["groups"]:
            with tarfile.open(submission / "outputs" / f"out_{group}.tar.gz") as tar:
                tar.extractall(scratch, filter="data")  # no absolute paths, links or '..' from a job's tarball
            folder = Path(scratch) / f"out_{group}"
            commit = json.loads((folder / PROVENANCE).read_text())["commit"]
            if commit != jobs["commit"]:
                raise ValueError(f"job {group} ran commit {commit}, not the submitted {jobs['commit']}")
            reports.append(json.loads((folder / REPORT).read_text()))
            for table in sorted((folder / JETS_DIR).rglob("*.parquet")):
                target = out / JETS_DIR / table.relative_to(folder / JETS_DIR)
                if target.exists():
                    raise FileExistsError(f"job {group}: chunk {target.name} came back twice")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(table, target)
            with uproot.open(folder / HISTOGRAMS) as f:
                for key, obj in f.items(filter_classname="TH1*"):
                    key = key.split(";")[0]
                    h = obj.to_hist()
                    hists[key] = hists[key] + h if key in hists else h
            shutil.rmtree(folder)
    with atomic_path(out / HISTOGRAMS) as tmp:
        with uproot.recreate(tmp) as f:
            for key, h in sorted(hists.items()):
                f[key] = h
    report = _merge_reports(reports, jobs)
    write_json(out / REPORT, report)
    write_json(out / PROVENANCE, {"commit": jobs["commit"], "jobs": len(jobs["groups"])})
    return report


def _merge_reports(reports: list[dict], jobs: dict) -> dict:
    configs = {json.dumps(r["config"], sort_keys=True) for r in reports}
    if len(configs) != 1:
        raise ValueError("the jobs ran with different processing configurations")
    counts: dict = defaultdict(lambda: defaultdict(int))
    unavailable: dict = defaultdict(set)
    merged = {"config": reports[0]["config"], "executor": "condor", "workers": len(reports),
              "chunksize": reports[0]["chunksize"], "files": {}, "skipped_files": [], "skipped_chunks": [],
              "chunks_from_checkpoints": 0, "outputs": reports[0]["outputs"], "versions": reports[0]["versions"],
              "commit": jobs["commit"], "jobs": len(reports)}
    for r in reports:
        merged["files"].update(r["files"])
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
    return merged
