"""Shared fixtures: small AnnData objects built in memory, and the session's one workflow run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

torch.set_num_threads(1)


def make_counts(n_cells: int = 120, n_genes: int = 40, n_types: int = 3, seed: int = 0, sparse: bool = True, base_rate: float = 3.0) -> ad.AnnData:
    """Raw counts where each type over-expresses its own block of genes."""
    rng = np.random.default_rng(seed)
    types = np.repeat(np.arange(n_types), n_cells // n_types)
    rates = np.full((n_cells, n_genes), base_rate)
    block = n_genes // n_types
    for t in range(n_types):
        rates[types == t, t * block:(t + 1) * block] *= 4
    counts = rng.poisson(rates).astype(np.float32)
    adata = ad.AnnData(
        X=sp.csr_matrix(counts) if sparse else counts,
        obs=pd.DataFrame({"cell_type": pd.Categorical([f"type_{t}" for t in types])}, index=[f"cell{i}" for i in range(len(types))]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )
    return adata


@pytest.fixture
def counts_adata() -> ad.AnnData:
    return make_counts()


@pytest.fixture
def prepare_params() -> dict:
    from scrobin.config import validate_config

    return validate_config({"datasets": {"d": {"source": "simulate"}}})["prepare"]


REPO = Path(__file__).resolve().parent.parent
TEST_CONFIG = REPO / "config" / "test.yaml"
# The whole tiny DAG; on a busy 2-core machine it has taken over 15 minutes.
WORKFLOW_TIMEOUT_S = 2400


def snakemake(workdir: Path, *args: str, config: Path | None = None, timeout: int = WORKFLOW_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the workflow's Snakemake on ``workdir`` (targets or options in ``args``)."""
    command = [
        sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config or TEST_CONFIG), "--cores", "2",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A completed run of config/test.yaml, shared by the workflow, rerun and report tests.

    Tests may read it and copy it, never change it: the DAG runs once per session.
    """
    workdir = tmp_path_factory.mktemp("workflow")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
