"""Adam without torch.optim's optimiser object: the same update, without loading torch.compile.

``torch.optim.Optimizer`` imports ``torch._dynamo`` when it is built and at every ``step`` (both
are wrapped so that torch.compile can trace or skip them). That import costs about 1 CPU s, more
than the work of a small job: training, adversarial training, activation maximization and the
stability metrics (18 jobs of the default run) each paid it. scrobin never compiles a model, so
:class:`Adam` keeps the optimiser state itself and calls torch's own Adam update
(``torch.optim.adam.adam``, the functional API ``torch.optim.Adam.step`` calls) with the same
arguments ``torch.optim.Adam`` passes by default; the result is bit-identical
(``tests/test_adam.py`` compares them step by step).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam


class Adam:
    """Adam (Kingma & Ba 2015) with L2 weight decay, as ``torch.optim.Adam(params, lr, weight_decay=...)``.

    Parameters
    ----------
    params
        Tensors to optimise (leaf tensors with ``requires_grad``); their ``.grad`` is read by
        :meth:`step`.
    lr
        Step size.
    betas, eps
        Adam's moment decay rates and denominator term (torch's defaults 0.9, 0.999, 1e-8).
    weight_decay
        L2 penalty added to the gradient (``torch.optim.Adam``'s, not AdamW's decoupled decay).

    Raises
    ------
    ValueError
        When ``params`` is empty.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("Adam got no parameters to optimise")
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # The state torch.optim.Adam creates lazily at the first step, created here.
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        self.state_steps = [torch.tensor(0.0, dtype=step_dtype) for _ in self.params]
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        """Drop every gradient (``zero_grad(set_to_none=True)``, torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        with_grad = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not with_grad:
            return
        adam(
            [self.params[i] for i in with_grad],
            [self.params[i].grad for i in with_grad],
            [self.exp_avgs[i] for i in with_grad],
            [self.exp_avg_sqs[i] for i in with_grad],
            [],
            [self.state_steps[i] for i in with_grad],
            foreach=None,
            capturable=False,
            differentiable=False,
            fused=None,
            grad_scale=None,
            found_inf=None,
            has_complex=any(torch.is_complex(self.params[i]) for i in with_grad),
            decoupled_weight_decay=False,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.lr,
            weight_decay=self.weight_decay,
            eps=self.eps,
            maximize=False,
        )
