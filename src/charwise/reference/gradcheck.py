"""Finite-difference gradient checks (central differences, float64)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relative_error(a: float, b: float) -> float:
    """|a - b| / max(|a| + |b|, tiny): 0 when equal, ~1 when unrelated."""
    return abs(a - b) / max(abs(a) + abs(b), 1e-12)


def grad_check(
    loss_fn: Callable[[], float],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    checks_per_param: int = 10,
    eps: float = 1e-5,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Compare `grads` with (loss(p + eps) - loss(p - eps)) / 2 eps at random entries of each
    parameter; loss_fn reads `params`, which is perturbed in place and restored.
    Returns the worst relative error per parameter."""
    rng = rng or np.random.default_rng(0)
    worst = {}
    for name, p in params.items():
        errs = []
        for _ in range(checks_per_param):
            i = tuple(int(rng.integers(s)) for s in p.shape)
            old = p[i]
            p[i] = old + eps
            up = loss_fn()
            p[i] = old - eps
            down = loss_fn()
            p[i] = old
            numeric = (up - down) / (2 * eps)
            if abs(numeric) < 1e-9 and abs(grads[name][i]) < 1e-9:
                errs.append(0.0)  # both zero: nothing to compare
            else:
                errs.append(relative_error(numeric, float(grads[name][i])))
        worst[name] = max(errs)
    return worst
