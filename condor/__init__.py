"""HTCondor submission for xaugcol.

Two routes, both on HTCondor's own tools:

* ``cluster.htcondor_cluster``: dask-jobqueue's ``HTCondorCluster`` (Dask workers run as HTCondor jobs); then
  ``xaugcol process/explain --executor dask --scheduler ADDRESS`` or ``run_processing(..., client=...)``.
* plain jobs (``jobs.prepare_jobs``): for sites without Dask, one job per group of files: a submit description,
  a job script, the file groups, the source at a recorded commit and the environment; ``jobs.merge_outputs``
  joins what the jobs send back into one processing output, as a local run writes it.
"""
