"""The rule scripts' frame: limit_threads keeps a job within its threads; run_rule ends a finished job at once, with its outputs and log complete."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def threads_seen_by_torch(script: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def test_limit_threads_before_the_imports_sizes_torch_to_the_job():
    # As a rule script does it: first the limit, then the stage's imports.
    script = "from scrobin.entrypoint import limit_threads; limit_threads(1); import torch; print(torch.get_num_threads())"
    assert threads_seen_by_torch(script) == 1


def test_limit_threads_after_torch_is_loaded_still_applies():
    script = "import torch; from scrobin.entrypoint import limit_threads; limit_threads(3); print(torch.get_num_threads())"
    assert threads_seen_by_torch(script) == 3


def test_without_the_limit_torch_takes_what_the_environment_says():
    # The control: the limit above is what changed the count, not the test's environment
    # (torch does not start more threads than cores).
    assert threads_seen_by_torch("import torch; print(torch.get_num_threads())") == min(2, os.cpu_count())


RULE_SCRIPT = """
import sys
from types import SimpleNamespace
from scrobin.entrypoint import run_rule

def job(snakemake, log):
    import anndata as ad, numpy as np, pandas as pd, torch
    from scrobin.errors import ScrobinError
    if snakemake.params.fail:
        raise ScrobinError("dataset 'x': no cells left; lower min_cells_per_type")
    import art  # configures logging (logging.config.dictConfig), which closes every handler
    log.info("writing %d rows", 3)
    pd.DataFrame({"gene": ["a", "b", "c"], "score": [1.0, 2.0, 3.0]}).to_csv(snakemake.output[0], sep="\\t", index=False)
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(snakemake.output[1], compression="gzip")
    torch.save({"weight": torch.ones(2)}, snakemake.output[2])
    sys.stdout.write("unflushed on stdout")

snakemake = SimpleNamespace(rule="demo", log=[sys.argv[1]], output=sys.argv[2:5], params=SimpleNamespace(fail=sys.argv[5] == "fail"),
                            wildcards={"ds": "tiny", "seed": "1"})
run_rule(snakemake, job)
sys.stdout.write("never reached")
"""


def run_script(tmp_path, outcome: str) -> tuple[subprocess.CompletedProcess, list[Path]]:
    paths = [tmp_path / name for name in ("demo.log", "table.tsv", "cells.h5ad", "model.pt")]
    result = subprocess.run(
        [sys.executable, "-c", RULE_SCRIPT, *map(str, paths), outcome], capture_output=True, text=True,
        cwd=REPO, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    return result, paths


def test_a_finished_job_ends_its_process_with_every_output_and_the_log_complete(tmp_path):
    import anndata as ad
    import pandas as pd
    import torch

    result, (log, table, cells, model) = run_script(tmp_path, "ok")
    assert result.returncode == 0, result.stderr
    # The process ended inside run_rule, after flushing what the job had written.
    assert result.stdout == "unflushed on stdout"
    # Each line names the rule and the job's wildcards: parallel jobs share one console.
    assert "scrobin.rule.demo[ds=tiny,seed=1] INFO writing 3 rows" in log.read_text()
    # The job's own CPU and peak memory, imports (torch, anndata) included.
    usage = re.search(r"job process: ([0-9.]+) CPU s \(user ([0-9.]+), system ([0-9.]+)\), peak memory ([0-9]+) MB",
                      log.read_text())
    assert usage, log.read_text()
    cpu, user, system, peak_mb = map(float, usage.groups())
    assert cpu > 0.2 and abs(cpu - user - system) < 0.011
    assert 50 < peak_mb < 4000
    assert pd.read_csv(table, sep="\t")["score"].tolist() == [1.0, 2.0, 3.0]
    assert ad.read_h5ad(cells).X.sum() == 6
    assert torch.load(model)["weight"].tolist() == [1.0, 1.0]


def test_a_job_with_an_input_error_exits_1_with_one_line(tmp_path):
    result, (log, table, *_) = run_script(tmp_path, "fail")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "scrobin: dataset 'x': no cells left; lower min_cells_per_type"
    assert "no cells left" in log.read_text()
    assert "job process:" not in log.read_text()
    assert not table.exists()
