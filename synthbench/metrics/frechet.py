"""Fréchet distance between Gaussians fitted to two feature sets (FID when the features are
Inception pool features; FD with any other extractor).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> metric = FrechetDistance()
>>> metric.update(rng.normal(size=(5000, 8)), real=True)
>>> metric.update(rng.normal(size=(5000, 8)) + 1.0, real=False)
>>> 7.5 < metric.compute() < 8.5  # ||mean difference||^2 = 8, plus a small estimation bias
True

The standard definition: squared, on the features given (pool features, never logits), never
square-rooted. Sufficient statistics (count, sum, sum of outer products, float64) stream, so the
value does not depend on batching and is never an average over batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric PSD matrix ``S1^(1/2) S2 S1^(1/2)`` (similar to ``S1 S2``), which stays real and
    stable when the covariances are rank-deficient (fewer samples than feature dimensions).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"frechet_distance: shapes disagree: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / {s2.shape}"
        )
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(_drop_noise(w))) @ v.T
    middle = root1 @ s2 @ root1
    trace_sqrt = float(np.sqrt(_drop_noise(np.linalg.eigvalsh((middle + middle.T) / 2))).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def frechet_distance_of_features(real: np.ndarray, synthetic: np.ndarray) -> float:
    """The same value from the feature rows themselves. With centred rows X (n x d) and Y
    (m x d), ``tr((S1 S2)^(1/2))`` is the nuclear norm of ``X Y^T / sqrt((n-1)(m-1))``, an
    n x m matrix: exact, and far cheaper than d x d eigen-decompositions when there are fewer
    samples than feature dimensions (2048-d Inception features of a few hundred images)."""
    x, y = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"need at least 2 samples per side, got {n} and {m}")
    if min(n, m) >= x.shape[1]:
        return frechet_distance(*_mean_cov(x), *_mean_cov(y))
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mu1, y - mu2
    trace1 = float((xc * xc).sum()) / (n - 1)
    trace2 = float((yc * yc).sum()) / (m - 1)
    singular = np.linalg.svd(xc @ yc.T, compute_uv=False) / np.sqrt((n - 1) * (m - 1))
    diff = mu1 - mu2
    return float(diff @ diff + trace1 + trace2 - 2.0 * singular.sum())


def _mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stats = GaussianStats.of(x)
    return stats.mean, stats.cov


def _drop_noise(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues at rounding level (negative, or below d * eps * largest) set to 0: the square
    roots of such noise would otherwise add up to a visible bias for singular covariances."""
    tol = (
        len(eigenvalues) * np.finfo(np.float64).eps * max(float(eigenvalues.max(initial=0.0)), 0.0)
    )
    return np.where(eigenvalues > tol, eigenvalues, 0.0)


@dataclass
class GaussianStats:
    """Streaming mean and covariance (unbiased, n - 1) of feature rows, in float64."""

    n: int = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None

    def update(self, features: np.ndarray) -> None:
        x = np.asarray(features, np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be (n, d), got shape {x.shape}")
        if self.total is None:
            self.total = np.zeros(x.shape[1])
            self.outer = np.zeros((x.shape[1], x.shape[1]))
        elif x.shape[1] != len(self.total):
            raise ValueError(f"feature width changed from {len(self.total)} to {x.shape[1]}")
        self.n += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        self._check()
        return self.total / self.n  # type: ignore[operator]

    @property
    def cov(self) -> np.ndarray:
        self._check()
        mu = self.mean
        return (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)  # type: ignore[operator]

    def _check(self) -> None:
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, have {self.n}")

    @classmethod
    def of(cls, features: np.ndarray) -> GaussianStats:
        stats = cls()
        stats.update(features)
        return stats


@dataclass
class FrechetDistance:
    """Streaming Fréchet distance: ``update(features, real=...)`` any number of times, then
    ``compute()``. ``reset()`` clears both sides; ``reset(real=False)`` keeps the reference."""

    higher_is_better = False
    real: GaussianStats = field(default_factory=GaussianStats)
    synthetic: GaussianStats = field(default_factory=GaussianStats)

    def update(self, features: np.ndarray, *, real: bool) -> None:
        (self.real if real else self.synthetic).update(features)

    def compute(self) -> float:
        return frechet_distance(
            self.real.mean, self.real.cov, self.synthetic.mean, self.synthetic.cov
        )

    def reset(self, *, real: bool = True) -> None:
        if real:
            self.real = GaussianStats()
        self.synthetic = GaussianStats()
