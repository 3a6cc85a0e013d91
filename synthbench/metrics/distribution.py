"""Distribution metrics on extractor features (registry entries ``fd``, ``kd``, ``prdc``) and
the Inception-style score from the domain classifier (``is``).

>>> from synthbench.registry import metrics  # doctest: +SKIP
>>> metrics.get("fd")().score(ctx, synthetic)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synthbench.metrics.base import EvalContext, FeatureMetric, QualityMetric, Score
from synthbench.metrics.frechet import frechet_distance_of_features
from synthbench.metrics.kernel import kernel_distance
from synthbench.metrics.prdc import precision_recall_density_coverage

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


class FD(FeatureMetric):
    """Fréchet distance (FID with the ``inception`` extractor): lower is better."""

    name = "fd"
    higher_is_better = False

    def compute(
        self, real: np.ndarray, synthetic: np.ndarray, ctx: EvalContext
    ) -> list[tuple[str, float, bool | None]]:
        return [("fd", frechet_distance_of_features(real, synthetic), False)]


class KD(FeatureMetric):
    """Kernel distance (KID with ``inception``) over random subsets, and its std over subsets."""

    name = "kd"
    higher_is_better = False
    subsets = 100
    subset_size = 1000

    def compute(
        self, real: np.ndarray, synthetic: np.ndarray, ctx: EvalContext
    ) -> list[tuple[str, float, bool | None]]:
        mean, std = kernel_distance(
            real, synthetic, subsets=self.subsets, subset_size=self.subset_size, seed=ctx.seed
        )
        return [("kd", mean, False), ("kd_std", std, None)]


class PRDC(FeatureMetric):
    """Precision, recall, density and coverage with k = 5 nearest neighbours."""

    name = "prdc"
    higher_is_better = True
    k = 5

    def compute(
        self, real: np.ndarray, synthetic: np.ndarray, ctx: EvalContext
    ) -> list[tuple[str, float, bool | None]]:
        k = min(self.k, len(real) - 1, len(synthetic) - 1)
        scores = precision_recall_density_coverage(real, synthetic, k=k)
        return [(name, value, True) for name, value in scores.items()]


def inception_score(probabilities: np.ndarray, *, splits: int = 10) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) || p(y)))``, mean and std over ``splits`` consecutive chunks (the
    usual protocol); ``splits`` drops to ``n // 2`` for small sets."""
    p = np.asarray(probabilities, np.float64)
    splits = max(1, min(splits, len(p) // 2))
    values = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
        values.append(float(np.exp(kl.mean())))
    return float(np.mean(values)), float(np.std(values))


class IS(QualityMetric):
    """Inception-style score from the domain classifier's class probabilities (single-label
    cohorts): high when each image is confidently one class and all classes occur. The real
    reference split's score is reported beside it (``set=reference``) as the ceiling to expect."""

    name = "is"
    higher_is_better = True
    uses_features = False

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        domain = ctx.domain()
        if domain.classifier.space.kind != "classes":
            return []
        rng = np.random.default_rng(ctx.seed)
        out = []
        for label, cohort in (("synthetic", synthetic), ("reference", ctx.reference)):
            probs = domain.probabilities(cohort.images)[rng.permutation(len(cohort))]
            mean, std = inception_score(probs)
            quals = {} if label == "synthetic" else {"set": "reference"}
            out += [
                Score(
                    name,
                    value,
                    better,
                    quals,
                    n_synth=len(cohort),
                    uses_features=False,
                    network=domain.identity,
                )
                for name, value, better in (("is", mean, True), ("is_std", std, None))
            ]
        return out
