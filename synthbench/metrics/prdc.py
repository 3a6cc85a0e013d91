"""Precision and recall (Kynkäänniemi et al. 2019, k-NN manifolds) and density and coverage
(Naeem et al. 2020), from two feature sets.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(300, 8))
>>> scores = precision_recall_density_coverage(x, x + 0.0, k=5)
>>> scores["precision"], scores["coverage"]
(1.0, 1.0)

A real sample's manifold ball has the distance to its k-th nearest other real sample as radius.
Precision: share of synthetic samples inside some real ball. Recall: share of real samples
inside some synthetic ball. Density: mean number of real balls holding a synthetic sample, / k.
Coverage: share of real balls holding at least one synthetic sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: rows of the distance matrix computed at once, so memory stays bounded for large sets
_CHUNK = 2048


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances, (len(x), len(y)), float64."""
    from scipy.spatial.distance import cdist

    return cdist(np.asarray(x, np.float64), np.asarray(y, np.float64))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (the row itself excluded)."""
    x = np.asarray(features, np.float64)
    if len(x) <= k:
        raise ValueError(f"k-NN radii need more than k={k} samples, got {len(x)}")
    out = np.empty(len(x))
    for start in range(0, len(x), _CHUNK):
        d = pairwise_distances(x[start : start + _CHUNK], x)
        # index k of each sorted row: index 0 is the row itself (distance 0)
        out[start : start + _CHUNK] = np.partition(d, k, axis=1)[:, k]
    return out


def precision_recall_density_coverage(
    real: np.ndarray, synthetic: np.ndarray, *, k: int = 5
) -> dict[str, float]:
    """The four scores as a dict (see the module docstring)."""
    x, y = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    real_radii = knn_radii(x, k)
    synth_radii = knn_radii(y, k)
    # over chunks of synthetic rows, so memory is O(n_real x chunk), not O(n_real x n_synth)
    in_real_manifold = np.empty(len(y), bool)
    real_neighbours = np.empty(len(y))
    recalled = np.zeros(len(x), bool)
    nearest_synth = np.full(len(x), np.inf)
    for start in range(0, len(y), _CHUNK):
        stop = start + _CHUNK
        d = pairwise_distances(x, y[start:stop])  # (n_real, chunk)
        inside_real = d < real_radii[:, None]
        in_real_manifold[start:stop] = inside_real.any(axis=0)
        real_neighbours[start:stop] = inside_real.sum(axis=0)
        recalled |= (d < synth_radii[None, start:stop]).any(axis=1)
        np.minimum(nearest_synth, d.min(axis=1), out=nearest_synth)
    precision = float(in_real_manifold.mean())
    recall = float(recalled.mean())
    density = float(real_neighbours.mean() / k)
    coverage = float((nearest_synth < real_radii).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@dataclass
class PrecisionRecallDensityCoverage:
    """Streaming container: keeps the feature rows; ``compute()`` returns the four scores."""

    k: int = 5
    higher_is_better = True
    real: list[np.ndarray] = field(default_factory=list)
    synthetic: list[np.ndarray] = field(default_factory=list)

    def update(self, features: np.ndarray, *, real: bool) -> None:
        (self.real if real else self.synthetic).append(np.asarray(features, np.float64))

    def compute(self) -> dict[str, float]:
        return precision_recall_density_coverage(
            np.concatenate(self.real), np.concatenate(self.synthetic), k=self.k
        )

    def reset(self, *, real: bool = True) -> None:
        if real:
            self.real = []
        self.synthetic = []
