"""HTCondor submission. No HTCondor daemons run here, so the generated files are checked, and the plain jobs are run
the way HTCondor would run them: each in its own sandbox holding only its transfer_input_files, with its
arguments; the transfer_output_files are moved back by the remaps, and the merged output must equal a local run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from xaugcol.condor.config import SubmitConfig
from xaugcol.condor.environment import pack_environment
from xaugcol.condor.provenance import DirtyCheckoutError, clean_commit
from xaugcol.cli import main
from xaugcol.processing.coffea_runner import load_fileset
from xaugcol.coffea_runs import run_processing
from xaugcol.processing.table_io import read_tables
from xaugcol.sources.toy import run_toy

ROOT = Path(__file__).resolve().parents[1]


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A clean git checkout of the project's code as it is in this tree (which may itself be uncommitted)."""
    repo = tmp_path_factory.mktemp("checkout")
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
    for name in ("xaugcol", "processors", "condor"):  # the repository layout; setup.py installs the last two under xaugcol
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot")
    return repo


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    run_toy(out, 150, seed=12)  # one file per class: two jobs
    return out


def _parse_submit(text: str):
    """(common commands, one dict per queued job) of a submit description with per-job blocks."""
    common, jobs, block = {}, [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "queue":
            jobs.append({**common, **block})
            block = None
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a submit command: {line!r}"
        key, value = key.strip(), value.strip()
        if key == "group":
            block = {}
        (common if block is None else block)[key] = value
    assert block is None, "commands after the last queue"
    return common, jobs


def _expand(value: str, job: dict) -> str:
    return value.replace("$(group)", job["group"])


def _run_like_htcondor(submission: Path, job: dict, sandbox: Path, env: dict) -> subprocess.CompletedProcess:
    sandbox.mkdir()
    for item in _expand(job["transfer_input_files"], job).split(","):
        source = Path(item.strip())
        shutil.copy(source if source.is_absolute() else submission / source, sandbox / source.name)
    shutil.copy(submission / job["executable"], sandbox / job["executable"])
    done = subprocess.run(["/bin/bash", job["executable"], *_expand(job["arguments"], job).split()], cwd=sandbox,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    remap, = [r.split("=") for r in [job["transfer_output_remaps"].strip('"')]]
    produced = _expand(job["transfer_output_files"], job)
    assert _expand(remap[0], job).strip() == produced
    shutil.move(sandbox / produced, submission / _expand(remap[1], job).strip())
    return done


def test_submit_config_is_validated(tmp_path):
    good = {"fileset": "f.json", "resources": {"cpus": 2, "memory": "3GB", "disk": "2GB"}}
    c = SubmitConfig.from_dict(good, tmp_path)
    assert c.fileset == tmp_path / "f.json" and c.memory_mb == 3072 and c.disk_kb == 2 * 1024**2
    for bad, message in [({**good, "files_per_jobs": 2}, "unknown field.*files_per_jobs"),
                         ({**good, "resources": {"memory": "lots"}}, "resources: memory must be a size"),
                         ({**good, "files_per_job": 0}, "files_per_job must be a positive integer"),
                         ({**good, "extra": {"bad name": 1}}, "extra: 'bad name' is not a submit command"),
                         ({**good, "extra": {"+JobFlavour": "a\nqueue"}}, "line break"),
                         ({"resources": {}}, "'fileset'.*is required"),
                         ({**good, "environment": {"tarbal": "x"}}, "environment: unknown field")]:
        with pytest.raises(ValueError, match=message):
            SubmitConfig.from_dict(bad, tmp_path)
    example = SubmitConfig.load(ROOT / "condor" / "submit.yaml")  # the documented example is valid
    assert example.files_per_job == 2 and example.tarball == "environment.tar.gz"


def test_uncommitted_changes_are_refused(checkout, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(checkout, repo)
    head = _git(repo, "rev-parse", "HEAD").strip()
    assert clean_commit(repo) == head
    (repo / "xaugcol" / "__init__.py").write_text("# edited\n", encoding="utf-8")
    with pytest.raises(DirtyCheckoutError, match=r"uncommitted changes.*\n.*xaugcol/__init__.py"):
        clean_commit(repo)
    _git(repo, "checkout", "--", ".")
    (repo / "xaugcol" / "new_module.py").write_text("x = 1\n")
    with pytest.raises(DirtyCheckoutError, match="new_module.py"):
        clean_commit(repo)
    with pytest.raises(DirtyCheckoutError, match="not a git checkout"):
        clean_commit(tmp_path)


def test_plain_jobs_run_as_htcondor_would_and_merge_into_a_local_run(checkout, toy, tmp_path, capsys):
    config_path = tmp_path / "submit.yaml"
    config_path.write_text(f"fileset: {toy / 'fileset.json'}\nfiles_per_job: 1\nchunksize: 40\n"
                           "transfer_inputs: true\nresources: {cpus: 1, memory: 2GB, disk: 1GB}\n"
                           "extra: {'+JobFlavour': '\"espresso\"'}\n")
    submission = tmp_path / "submission"
    assert main(["condor", "prepare", "--config", str(config_path), "--out", str(submission),
                 "--repo", str(checkout)]) == 0
    head = _git(checkout, "rev-parse", "HEAD").strip()
    assert f"at commit {head}" in capsys.readouterr().out

    script = (submission / "job.sh").read_text()
    assert os.access(submission / "job.sh", os.X_OK) and head in script
    subprocess.run(["bash", "-n", str(submission / "job.sh")], check=True)  # valid bash
    common, jobs = _parse_submit((submission / "job.sub").read_text())
    assert common["request_cpus"] == "1" and common["request_memory"] == "2048"
    assert common["request_disk"] == str(1024**2) and common["+JobFlavour"] == '"espresso"'
    fileset = load_fileset(toy / "fileset.json")
    files = [f for entry in fileset.values() for f in entry["files"]]
    assert len(jobs) == len(files)  # one job per file group of one file
    shipped = sorted(f.strip() for j in jobs for f in j["transfer_input_files"].split(",") if f.strip() in files)
    assert shipped == sorted(files)  # every input file goes to exactly one job

    python_dir = str(Path(sys.executable).parent)  # the worker's python3: this environment
    env = {"PATH": f"{python_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    for job in jobs:
        done = _run_like_htcondor(submission, job, tmp_path / f"sandbox_{job['group']}", env)
        assert f"commit {head}" in done.stdout
        assert f"sandbox_{job['group']}/xaugcol_src/xaugcol" in done.stdout  # ran the shipped commit

    out = tmp_path / "merged"
    assert main(["condor", "merge", str(submission), "--out", str(out)]) == 0
    local = run_processing(fileset, tmp_path / "local", chunksize=40)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == local.counts and report["commit"] == head
    for key in ("labels", "unlisted_tables", "substructure_backends"):  # what a local run's report records
        assert report[key] == local.report[key], key
    assert report["labels"]
    assert json.loads((out / "provenance.json").read_text())["commit"] == head
    a, b = read_tables(out / "jets"), read_tables(tmp_path / "local" / "jets")
    assert len(a) == len(b) == 300
    for field in ("event", "msd", "tau21", "image"):
        assert np.array_equal(ak.to_numpy(a[field]), ak.to_numpy(b[field])), field
    with uproot.open(out / "histograms.root") as m, uproot.open(tmp_path / "local" / "histograms.root") as ref:
        keys = sorted(k for k, v in ref.items(filter_classname="TH1*"))
        assert keys == sorted(k for k, v in m.items(filter_classname="TH1*")) and keys
        for key in keys:
            assert np.array_equal(m[key].values(flow=True), ref[key].values(flow=True)), key

    # a lost job is named, not merged around
    (submission / "outputs" / f"out_{jobs[0]['group']}.tar.gz").unlink()
    assert main(["condor", "merge", str(submission), "--out", str(tmp_path / "again")]) == 2
    assert jobs[0]["group"] in capsys.readouterr().err


def test_pack_environment(tmp_path):
    venv = tmp_path / "venv"
    (venv / "lib" / "site-packages" / "pkg" / "__pycache__").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "site-packages" / "pkg" / "__init__.py").write_text("x = 1\n")
    (venv / "lib" / "site-packages" / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (venv / "bin").mkdir()
    os.symlink("/usr/bin/python3", venv / "bin" / "python")
    out = pack_environment(tmp_path / "env.tar.gz", venv)
    import tarfile

    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert tar.getmember("env/bin/python").issym()
    assert "env/lib/site-packages/pkg/__init__.py" in names and "env/pyvenv.cfg" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    with pytest.raises(ValueError, match="not a virtual environment"):
        pack_environment(tmp_path / "x.tar.gz", tmp_path / "venv" / "lib")


def test_dask_jobqueue_cluster_factory(tmp_path):
    pytest.importorskip("dask_jobqueue", reason="the condor extra (dask-jobqueue) is not installed")
    from xaugcol.condor.cluster import htcondor_cluster

    config = SubmitConfig.from_dict({
        "fileset": "f.json", "resources": {"cpus": 2, "memory": "4GB", "disk": "8GB"},
        "environment": {"tarball": "environment.tar.gz", "container": "/cvmfs/unpacked.cern.ch/img:latest"},
        "x509_proxy": True, "extra": {"+JobFlavour": '"workday"'}}, tmp_path)
    cluster = htcondor_cluster(config, wheel="xaugcol.whl", scheduler_options={"host": "127.0.0.1"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = {line.split("=")[0].strip(): line.split("=", 1)[1].strip() for line in script.splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["MY.DaskWorkerCores"] == "2" and lines["MY.DaskWorkerMemory"] == str(4 * 1024**3)
    assert lines["MY.DaskWorkerDisk"] == str(8 * 1024**3)
    assert lines["transfer_input_files"] == "xaugcol.whl, environment.tar.gz"
    assert lines["+SingularityImage"] == '"/cvmfs/unpacked.cern.ch/img:latest"'
    assert lines["use_x509userproxy"] == "true" and lines["+JobFlavour"] == '"workday"'
    # the prologue unpacks the environment, then the commit's wheel, before the worker starts
    arguments = lines["Arguments"]
    assert arguments.index("tar -xzf") < arguments.index("zipfile -e") < arguments.index("distributed.cli.dask_worker")
    assert "--nthreads 1" in arguments and "--nworkers 2" in arguments
