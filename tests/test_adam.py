"""scrobin.adam.Adam: torch.optim.Adam's update, bit for bit, without loading torch.compile."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from scrobin.adam import Adam

REPO = Path(__file__).resolve().parent.parent


def _train(make_optimiser, steps: int = 6) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
    # The last layer's bias gets no gradient at some steps: both optimisers must skip it alike.
    optimiser = make_optimiser(model.parameters())
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        x = torch.randn(11, 7, generator=generator)
        y = torch.randint(0, 3, (11,), generator=generator)
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if step % 2:
            model[2].bias.grad = None
        optimiser.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_updates_equal_torch_optim_adam_bit_for_bit(weight_decay):
    ours = _train(lambda params: Adam(params, lr=0.05, weight_decay=weight_decay))
    torchs = _train(lambda params: torch.optim.Adam(params, lr=0.05, weight_decay=weight_decay))
    untrained = _train(lambda params: Adam(params, lr=0.05, weight_decay=weight_decay), steps=0)
    for mine, theirs, start in zip(ours, torchs, untrained):
        assert torch.equal(mine, theirs)
        assert not torch.equal(mine, start)  # the parameters did move


def test_no_parameters_is_an_error():
    with pytest.raises(ValueError, match="no parameters"):
        Adam([], lr=0.1)


def test_training_with_it_does_not_load_torch_compile():
    script = (
        "import json, sys, torch\n"
        "from scrobin.adam import Adam\n"
        "w = torch.zeros(3, requires_grad=True)\n"
        "optimiser = Adam([w], lr=0.1)\n"
        "for _ in range(3):\n"
        "    optimiser.zero_grad(); ((w - 1) ** 2).sum().backward(); optimiser.step()\n"
        "control = 'torch._dynamo' in sys.modules\n"
        "torch.optim.Adam([w], lr=0.1)\n"
        "print(json.dumps({'moved': float(w.sum()) > 0, 'dynamo_before': control,"
        " 'dynamo_after_torch_optim': 'torch._dynamo' in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    # The control shows the import this avoids still happens with torch.optim.
    assert state == {"moved": True, "dynamo_before": False, "dynamo_after_torch_optim": True}
