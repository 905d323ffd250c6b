"""The workflow deployed the way the Snakemake workflow catalog deploys it, and run.

Catalog users do not clone: ``snakedeploy deploy-workflow <repo> <dest> --tag <tag>`` copies
``config/`` and ``profiles/`` and writes a Snakefile that declares the workflow as a module
(``module scrobin: snakefile: github(...)``) and uses all its rules. Here snakedeploy deploys from a
local copy of the workflow, the module's snakefile is pointed at this checkout (what ``github(...)``
fetches), and the tiny DAG runs in the deployment folder with the scrobin package as installed,
with no path of the checkout on ``sys.path``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, WORKFLOW_TIMEOUT_S

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Path:
    """A snakedeploy deployment of the workflow, configured with the tiny test config."""
    from snakedeploy.deploy import deploy

    source = tmp_path_factory.mktemp("source")
    for folder in ("config", "profiles", "workflow"):
        shutil.copytree(REPO / folder, source / folder)
    destination = tmp_path_factory.mktemp("deployed")
    deploy(str(source), name="scrobin", tag=None, branch="main", dest_path=destination, force=True)
    snakefile = destination / "workflow" / "Snakefile"
    # snakedeploy declares a local source by a path relative to that source; github(...) would
    # fetch this checkout's workflow/Snakefile.
    text, count = re.subn(r'(snakefile:\s*)\n\s*"workflow/Snakefile"', rf'\1"{REPO / "workflow" / "Snakefile"}"',
                          snakefile.read_text())
    assert count == 1, snakefile.read_text()
    snakefile.write_text(text)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    # The simulated dataset alone: every rule but enrichment runs, in half the time of both.
    config["datasets"] = {"tiny": config["datasets"]["tiny"]}
    (destination / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    for spec in config["datasets"].values():
        for key in ("source", "markers"):
            if spec.get(key, "").startswith("tests/"):
                (destination / spec[key]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / spec[key], destination / spec[key])
    return destination


def test_the_deployed_module_runs_the_tiny_dag(deployment, finished_run):
    snakefile = (deployment / "workflow" / "Snakefile").read_text()
    assert "module scrobin:" in snakefile and "use rule * from scrobin" in snakefile
    assert (deployment / "profiles" / "slurm" / "config.yaml").exists()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=deployment, capture_output=True, text=True, timeout=WORKFLOW_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    # The module's results are the clone's: same tables from the same config.
    assert (deployment / "results" / "verdict.html").exists()
    for table in ("tiny/robustness/summary.tsv", "tiny/evaluation/recovery.tsv", "tiny/seed1/consensus/pgd.tsv"):
        deployed = pd.read_csv(deployment / "results" / table, sep="\t")
        cloned = pd.read_csv(finished_run / "results" / table, sep="\t")
        pd.testing.assert_frame_equal(deployed, cloned)
