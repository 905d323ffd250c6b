"""Seeding: deterministic kernels are requested without paying for torch.compile's inductor."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_python(script: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


STATE = (
    "import json, sys, torch; "
    "print(json.dumps({'on': torch.are_deterministic_algorithms_enabled(), "
    "'warn_only': torch.is_deterministic_algorithms_warn_only_enabled(), "
    "'inductor_loaded': 'torch._inductor.config' in sys.modules, "
    "'inductor_flag': sys.modules['torch._inductor.config'].deterministic "
    "if 'torch._inductor.config' in sys.modules else None}))"
)


def test_seeding_turns_on_deterministic_kernels_without_loading_inductor():
    state = run_python("from scrobin.runtime import seed_everything; seed_everything(3); " + STATE)
    assert state == {"on": True, "warn_only": True, "inductor_loaded": False, "inductor_flag": None}


def test_with_inductor_already_loaded_its_flag_is_set_too():
    state = run_python(
        "import torch._inductor.config; from scrobin.runtime import seed_everything; seed_everything(3); " + STATE
    )
    assert state == {"on": True, "warn_only": True, "inductor_loaded": True, "inductor_flag": True}


def test_without_seeding_the_flags_are_off():
    # The control: the flags above are seed_everything's doing, not torch's defaults.
    state = run_python(STATE)
    assert state == {"on": False, "warn_only": False, "inductor_loaded": False, "inductor_flag": None}
