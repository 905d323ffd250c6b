"""Fail the stand-in workflow unless every job got what its resources asked for.

A job whose ``gpu`` resource is at least 1 must see a GPU (``CUDA_VISIBLE_DEVICES``
set by SLURM's gres plugin); a job with ``gpu=0`` must not. Every job must have run
inside a SLURM allocation and under the same Python as this job, which is the
interpreter the submitting Snakemake passed to the cluster.
"""

import json
import sys

job_envs = []
for record_path in snakemake.input.records:  # noqa: F821 (injected by Snakemake)
    with open(record_path) as record_file:
        job_envs.append(json.load(record_file))

problems = []
for job_env in job_envs:
    rule = job_env["rule"]
    if not job_env["slurm_job_id"]:
        problems.append(f"{rule}: ran outside SLURM (no SLURM_JOB_ID)")
    if job_env["python"] != sys.executable:
        problems.append(f"{rule}: ran under {job_env['python']}, not {sys.executable}")
    sees_gpu = bool(job_env["cuda_visible_devices"])
    if job_env["gpu_resource"] >= 1 and not sees_gpu:
        problems.append(f"{rule}: gpu={job_env['gpu_resource']} but no GPU visible")
    if job_env["gpu_resource"] == 0 and sees_gpu:
        problems.append(f"{rule}: gpu=0 but sees GPU {job_env['cuda_visible_devices']}")

if problems:
    sys.exit("job environment check failed:\n" + "\n".join(problems))
with open(snakemake.output[0], "w") as report_file:  # noqa: F821
    for job_env in job_envs:
        report_file.write(json.dumps(job_env, sort_keys=True) + "\n")
