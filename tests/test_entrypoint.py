"""run_rule's neighbour limit_threads: a rule job's numpy and torch stay within the job's threads."""

import os
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
