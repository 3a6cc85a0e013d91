"""Kernel distance (KD; KID on Inception features): the unbiased squared MMD with the cubic
polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets, with its std.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
>>> abs(polynomial_mmd(x, y)) < 0.05
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None, coef: float = 1.0
) -> np.ndarray:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef) ** degree


def polynomial_mmd(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
) -> float:
    """Unbiased MMD^2 between two feature sets (sizes may differ)."""
    x, y = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"kernel distance needs at least 2 samples per side, got {n} and {m}")
    return _mmd_from_kernels(
        polynomial_kernel(x, x, degree=degree, gamma=gamma, coef=coef),
        polynomial_kernel(y, y, degree=degree, gamma=gamma, coef=coef),
        polynomial_kernel(x, y, degree=degree, gamma=gamma, coef=coef),
    )


def kernel_distance(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0) of :func:`polynomial_mmd` over ``subsets`` random
    subsets of ``min(subset_size, n_real, n_synthetic)`` samples drawn without replacement from
    each side. With ``subset_size`` at least both set sizes and equal sizes, one subset is exact."""
    x, y = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    size = min(subset_size, len(x), len(y))
    if size >= len(x) and size >= len(y):
        value = polynomial_mmd(x, y, degree=degree, gamma=gamma, coef=coef)
        return value, 0.0
    rng = np.random.default_rng(seed)
    draws = [
        (rng.choice(len(x), size, replace=False), rng.choice(len(y), size, replace=False))
        for _ in range(subsets)
    ]
    if max(len(x), len(y)) <= _FULL_KERNEL_MAX:
        # every subset's kernel matrices are blocks of the full ones: compute those once
        k_xx = polynomial_kernel(x, x, degree=degree, gamma=gamma, coef=coef)
        k_yy = polynomial_kernel(y, y, degree=degree, gamma=gamma, coef=coef)
        k_xy = polynomial_kernel(x, y, degree=degree, gamma=gamma, coef=coef)
        values = [
            _mmd_from_kernels(k_xx[np.ix_(i, i)], k_yy[np.ix_(j, j)], k_xy[np.ix_(i, j)])
            for i, j in draws
        ]
    else:
        values = [
            polynomial_mmd(x[i], y[j], degree=degree, gamma=gamma, coef=coef) for i, j in draws
        ]
    return float(np.mean(values)), float(np.std(values))


#: above this many samples per side, subsets' kernels are computed one subset at a time
_FULL_KERNEL_MAX = 4096


def _mmd_from_kernels(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    n, m = len(k_xx), len(k_yy)
    xx = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


@dataclass
class KernelDistance:
    """Streaming container for :func:`kernel_distance` (KD needs every feature row, so the rows
    are kept). ``compute()`` returns ``(mean, std)``."""

    subsets: int = 100
    subset_size: int = 1000
    seed: int = 0
    higher_is_better = False
    real: list[np.ndarray] = field(default_factory=list)
    synthetic: list[np.ndarray] = field(default_factory=list)

    def update(self, features: np.ndarray, *, real: bool) -> None:
        (self.real if real else self.synthetic).append(np.asarray(features, np.float64))

    def compute(self) -> tuple[float, float]:
        return kernel_distance(
            np.concatenate(self.real),
            np.concatenate(self.synthetic),
            subsets=self.subsets,
            subset_size=self.subset_size,
            seed=self.seed,
        )

    def reset(self, *, real: bool = True) -> None:
        if real:
            self.real = []
        self.synthetic = []
