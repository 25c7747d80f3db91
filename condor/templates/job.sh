#!/bin/bash
# xaugcol HTCondor job, written by `xaugcol condor prepare`: xaugcol at commit @{commit}.
# HTCondor runs it in the job's sandbox as `job.sh GROUP`, with xaugcol.whl, provenance.json and GROUP.json
# transferred in (plus the environment and input files when configured); it leaves out_GROUP.tar.gz: the
# processing output of the group's files, with provenance.json.
set -euo pipefail
group="$1"
echo "xaugcol job ${group} on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ), commit @{commit}"
@{environment}
"@{python}" -m zipfile -e xaugcol.whl xaugcol_src  # the recorded commit, ahead of any installed xaugcol
export PYTHONPATH="$PWD/xaugcol_src${PYTHONPATH:+:$PYTHONPATH}"
"@{python}" -c 'import xaugcol; print("xaugcol from", xaugcol.__file__)'
export OMP_NUM_THREADS=@{cpus}
out="out_${group}"
"@{python}" -m xaugcol.cli process "${group}.json" --out "$out" --executor @{executor} --workers @{cpus} \
    --chunksize @{chunksize}@{options}
cp provenance.json "$out/provenance.json"
tar -czf "$out.tar.gz" "$out"
