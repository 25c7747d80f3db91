"""Dask workers as HTCondor jobs: dask-jobqueue's ``HTCondorCluster`` configured from the submit configuration.

    from xaugcol.condor.cluster import htcondor_cluster
    cluster = htcondor_cluster(SubmitConfig.load("condor/submit.yaml"))
    cluster.scale(jobs=10)
    with Client(cluster) as client:
        run_processing(fileset, out, executor="dask", client=client)

The prologue prepares each job as the plain jobs do: unpack the shipped environment (or run the site's setup),
put xaugcol at the recorded commit (a wheel) on PYTHONPATH. Workers need the input files (xrootd or a shared filesystem)
and a shared output folder for the jet tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaugcol.condor.config import SubmitConfig

if TYPE_CHECKING:
    from dask_jobqueue import HTCondorCluster


def worker_prologue(config: SubmitConfig, wheel: str | None = None) -> list[str]:
    """Shell lines run in each job before the Dask worker starts.

    Parameters
    ----------
    config : SubmitConfig
        The submission: its environment tarball and setup lines.
    wheel : str, optional
        xaugcol at a recorded commit, as ``condor.provenance.build_wheel`` writes it (transferred with the job).

    Returns
    -------
    list of str
        Unpack the tarball and put its ``env/bin`` on PATH, the setup lines, unpack the wheel onto PYTHONPATH,
        then ``OMP_NUM_THREADS=1``.
    """
    lines = []
    if config.tarball:
        lines += [f'tar -xzf "{Path(config.tarball).name}"', 'export PATH="$PWD/env/bin:$PATH"']
    lines += list(config.setup)
    if wheel:
        lines += [
            f'python3 -m zipfile -e "{Path(wheel).name}" xaugcol_src',
            'export PYTHONPATH="$PWD/xaugcol_src${PYTHONPATH:+:$PYTHONPATH}"',
        ]
    lines.append("export OMP_NUM_THREADS=1")  # one single-threaded Dask worker process per core
    return lines


def htcondor_cluster(config: SubmitConfig, wheel: str | None = None, **kwargs: Any) -> HTCondorCluster:
    """A dask-jobqueue ``HTCondorCluster`` configured from the submit configuration.

    Its jobs have the configured cores (one single-threaded worker process each), memory and disk, the prologue
    above, the environment tarball and source transferred, and the site's extra submit commands. Needs the
    ``condor`` extra (dask-jobqueue).

    Parameters
    ----------
    config : SubmitConfig
        The submission: resources, environment, container, proxy and extra submit commands.
    wheel : str, optional
        xaugcol at a recorded commit (``condor.provenance.build_wheel``), transferred to every job.
    **kwargs : Any
        Passed to ``HTCondorCluster`` (e.g. ``scheduler_options``).

    Returns
    -------
    dask_jobqueue.HTCondorCluster
        The cluster, with no jobs yet (``cluster.scale``).

    Raises
    ------
    ImportError
        dask-jobqueue is not installed.
    """
    try:
        from dask_jobqueue import HTCondorCluster
    except ImportError:
        raise ImportError("the HTCondor Dask cluster needs dask-jobqueue: pip install 'xaugcol[condor]'") from None
    transfer = [f for f in (wheel, config.tarball) if f]
    submit = {"should_transfer_files": "YES", "when_to_transfer_output": "ON_EXIT_OR_EVICT", **config.extra}
    if transfer:
        submit["transfer_input_files"] = ", ".join(transfer)
    if config.container:
        submit["+SingularityImage"] = f'"{config.container}"'
    if config.x509_proxy:
        submit["use_x509userproxy"] = "true"
    # sizes in binary units, as HTCondor reads them in the plain jobs' submit file
    return HTCondorCluster(
        cores=config.cpus,
        processes=config.cpus,
        memory=f"{config.memory_mb}MiB",
        disk=f"{config.disk_kb}KiB",
        job_script_prologue=worker_prologue(config, wheel),
        job_extra_directives=submit,
        python="python3",
        **kwargs,
    )
