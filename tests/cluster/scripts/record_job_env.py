"""Record what the batch system gave this job, for ``check_job_env.py`` to judge.

Runs as a Snakemake ``script:`` so it executes under the same interpreter the
cluster job used (``sys.executable``), which is what the real workflow's scripts do.
"""

import json
import os
import sys

job_env = {
    "rule": snakemake.rule,  # noqa: F821 (injected by Snakemake)
    "gpu_resource": int(snakemake.resources.get("gpu", 0)),  # noqa: F821
    "python": sys.executable,
    "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
}
with open(snakemake.output.record, "w") as record_file:  # noqa: F821
    json.dump(job_env, record_file, indent=1)
