"""Device choice and seeding: the two things every torch stage must agree on."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from scrobin.errors import ScrobinError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """Map the config's ``device`` to a torch device.

    ``auto`` picks CUDA when a GPU is visible, so one config serves a laptop and a GPU node.
    Asking for ``cuda`` on a machine without one is an input error, not a silent CPU fallback.
    """
    if device not in DEVICE_CHOICES:
        raise ScrobinError(f"device '{device}' is unknown: use one of {', '.join(DEVICE_CHOICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ScrobinError("device 'cuda' was requested but no GPU is visible: set device: auto or cpu")
    return torch.device(device)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and torch, and return a numpy Generator for explicit use.

    Deterministic algorithms are requested where torch offers them without erroring, so CPU runs
    repeat bit for bit given the seed.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    use_deterministic_algorithms()
    return np.random.default_rng(seed)


def use_deterministic_algorithms(mode: bool = True, warn_only: bool = True) -> None:
    """Ask torch for deterministic kernels (``mode``), warning (not erroring) where it has none.

    ``torch.use_deterministic_algorithms`` also sets the flag of torch.compile's inductor, whose
    import costs about 1.1 s of CPU: more than most of our jobs' work. scrobin never compiles a
    model, so the flag is set on torch's core directly unless inductor is already loaded (then the
    public call costs nothing and keeps a compiled model deterministic too).
    """
    set_core_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_core_flag is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        set_core_flag(mode, warn_only=warn_only)


@contextmanager
def preserved_random_state(device: torch.device | None = None) -> Iterator[None]:
    """Run a block that seeds or draws from the global generators, and give the caller's back.

    :func:`seed_everything` (every ``compute_attributions`` call runs it, since captum draws from
    the global generators) reseeds Python's, numpy's and torch's generators and asks for
    deterministic algorithms. A library function that calls it many times restores all four on
    exit, so the caller's random stream and settings are as they were. With a CUDA ``device``
    its generator is kept too (forking CUDA's generators otherwise would initialise CUDA).
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda_devices = []
    if device is not None and device.type == "cuda":
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    try:
        with torch.random.fork_rng(devices=cuda_devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        use_deterministic_algorithms(deterministic, warn_only)
