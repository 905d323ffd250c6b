"""Keep profiles/slurm consistent with the workflow it configures.

The real cluster check (.ci/slurm_check.sh) needs root and minutes; these checks catch
the cheap mistakes first. A GPU rule renamed in the workflow, or a new one, silently
loses its GPU request (set-resources for an unknown rule is ignored), and a status
check delay above MinJobAge / 3 makes the SLURM plugin go back to sacct, which hangs
on clusters without accounting.
"""

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE = yaml.safe_load((REPO_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
# SLURM's default MinJobAge: how long squeue still shows a finished job.
SLURM_DEFAULT_MIN_JOB_AGE_S = 300

RULE_HEADER = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.MULTILINE)
GPU_RESOURCE = re.compile(r"^\s+gpu\s*=", re.MULTILINE)

STAND_IN_FILES = [REPO_ROOT / "tests" / "cluster" / "Snakefile"]
WORKFLOW_RULE_FILES = sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))


def rules_declaring_gpu(snakemake_files):
    """Names of the rules whose body sets a ``gpu`` resource.

    Each rule's body runs from its header to the next rule header, which is all the
    structure needed to find ``gpu=`` lines without importing the workflow.
    """
    gpu_rules = set()
    for snakemake_file in snakemake_files:
        text = snakemake_file.read_text()
        headers = list(RULE_HEADER.finditer(text))
        for header, next_header in zip(headers, [*headers[1:], None]):
            body_end = next_header.start() if next_header else len(text)
            if GPU_RESOURCE.search(text, header.end(), body_end):
                gpu_rules.add(header.group(1))
    return gpu_rules


def profile_gpu_rules():
    """Rules the profile asks a GPU for, as .ci/slurm_check.sh reads them."""
    set_resources = PROFILE.get("set-resources") or {}
    return {rule for rule, resources in set_resources.items() if int(resources.get("gpu", 0)) >= 1}


@pytest.mark.skipif(not WORKFLOW_RULE_FILES, reason="workflow rules not written yet")
def test_profile_requests_gpu_for_exactly_the_workflow_gpu_rules():
    assert profile_gpu_rules() == rules_declaring_gpu(WORKFLOW_RULE_FILES)


def test_stand_in_gpu_rules_are_profile_gpu_rules():
    stand_in_gpu_rules = rules_declaring_gpu(STAND_IN_FILES)
    assert stand_in_gpu_rules == {"train", "adv_train", "robustness", "attribute"}
    assert stand_in_gpu_rules <= profile_gpu_rules()


def test_status_queries_stay_on_squeue():
    assert PROFILE["slurm-status-command"] == "squeue"
    assert 3 * PROFILE["slurm-init-seconds-before-status-checks"] <= SLURM_DEFAULT_MIN_JOB_AGE_S
