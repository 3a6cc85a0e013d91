"""What every quality metric shares: the evaluation context, scores, and per-group breakdowns.

A quality metric (an entry of the ``metrics`` registry) is a :class:`QualityMetric` subclass
whose :meth:`~QualityMetric.score` turns ``(context, synthetic cohort)`` into :class:`Score`
values. The context holds the real data, the feature extractor, the cache and the seed, and
computes reference features once (cached on disk by content hash of cohort, split, extractor and
image size). The numerical cores (:mod:`.frechet`, :mod:`.kernel`, :mod:`.prdc`, :mod:`.ms_ssim`)
are plain functions and streaming classes usable without any of this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.cache import FeatureCache, cohort_hash

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.metrics.features import DomainExtractor, FeatureExtractor

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Score:
    """One metric value with its qualifiers (class, modality, set ...)."""

    metric: str
    value: float
    higher_is_better: bool | None
    qualifiers: dict[str, str] = field(default_factory=dict)
    n_real: int | None = None
    n_synth: int | None = None
    uses_features: bool = True
    #: the identity of the network behind a score that does not use the evaluation's extractor
    #: (e.g. the domain classifier for IS and prompt adherence); recorded in its row
    network: str = ""


@dataclass
class EvalContext:
    """Real data, extractor, cache and settings of one evaluation.

    ``reference_split`` is the real split synthetic images are compared with (default ``train``,
    the distribution the generator learned); memorisation always compares against ``train`` and
    uses ``test`` as the held-out baseline.
    """

    real: RealData
    extractor: FeatureExtractor
    cache: FeatureCache
    seed: int = 0
    reference_split: str = "train"
    breakdown: bool = True
    min_group: int = 10
    artifacts_dir: Path | None = None
    artifacts: list[Path] = field(default_factory=list)
    _features: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.reference_split not in SPLITS:
            raise SynthbenchError(
                f"reference split must be one of {', '.join(SPLITS)}, got {self.reference_split!r}"
            )

    @property
    def reference(self) -> Cohort:
        return self.real.splits()[self.reference_split]

    def split_features(self, split: str) -> np.ndarray:
        """Features of a real split, from the disk cache when computed before."""
        if split not in self._features:
            cohort = self.real.splits()[split]
            parts = {
                "cohort": cohort_hash(cohort, with_text=False),
                "split": split,
                "extractor": self.extractor.identity,
                "image_shape": list(cohort.image_shape),
            }
            self._features[split] = self.cache.array(
                "features", parts, lambda: self.extractor(cohort.images)
            )
        return self._features[split]

    def reference_features(self) -> np.ndarray:
        return self.split_features(self.reference_split)

    def features(self, cohort: Cohort) -> np.ndarray:
        """Features of any (synthetic) cohort; kept for this evaluation only."""
        key = ("cohort", id(cohort))
        if key not in self._features:
            self._features[key] = self.extractor(cohort.images)
        return self._features[key]

    def domain(self) -> DomainExtractor:
        """The classifier trained on the real training cohort (shared with the domain extractor)."""
        from synthbench.metrics.features import DomainExtractor

        if isinstance(self.extractor, DomainExtractor):
            return self.extractor
        if "domain" not in self._models:
            self._models["domain"] = DomainExtractor.create(
                self.real.train, cache=self.cache, seed=self.seed
            )
        return self._models["domain"]

    def model(self, name: str, build: Any) -> Any:
        """A helper model built once per evaluation (``build()`` may itself use the disk cache)."""
        if name not in self._models:
            self._models[name] = build()
        return self._models[name]


class QualityMetric:
    """Base class of the ``metrics`` registry's entries. Subclasses set ``name``,
    ``higher_is_better`` (of the headline value) and implement :meth:`score`."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool | None] = None
    #: whether values depend on the feature extractor (recorded in result rows)
    uses_features: ClassVar[bool] = True

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        raise NotImplementedError


class FeatureMetric(QualityMetric):
    """A metric of (reference features, synthetic features), computed overall and, when the
    context asks, per modality and per class (or finding) with at least ``min_group`` samples on
    each side."""

    def compute(
        self, real: np.ndarray, synthetic: np.ndarray, ctx: EvalContext
    ) -> list[tuple[str, float, bool | None]]:
        """``(metric, value, higher_is_better)`` triples."""
        raise NotImplementedError

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        ref, ref_f = ctx.reference, ctx.reference_features()
        syn_f = ctx.features(synthetic)
        out = self._scores(ref_f, syn_f, ctx, {})
        if ctx.breakdown:
            for qualifiers, ref_rows, syn_rows in groups(ref, synthetic):
                if min(len(ref_rows), len(syn_rows)) >= max(ctx.min_group, 2):
                    out += self._scores(ref_f[ref_rows], syn_f[syn_rows], ctx, qualifiers)
        return out

    def _scores(
        self, real: np.ndarray, synthetic: np.ndarray, ctx: EvalContext, qualifiers: dict[str, str]
    ) -> list[Score]:
        return [
            Score(name, value, hib, dict(qualifiers), n_real=len(real), n_synth=len(synthetic))
            for name, value, hib in self.compute(real, synthetic, ctx)
        ]


def class_name(cohort: Cohort, modality: str, label: int) -> str:
    names = cohort.label_names.get(modality, [])
    return names[label] if 0 <= label < len(names) else str(label)


def groups(
    real: Cohort, synthetic: Cohort
) -> Iterator[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """``(qualifiers, real rows, synthetic rows)`` per modality (when several) and per class
    (single-label) or finding (multi-label)."""
    mods = [m for m in real.modalities if m in set(synthetic.modality.tolist())]
    for m in mods:
        r_mod, s_mod = real.modality == m, synthetic.modality == m
        if len(real.modalities) > 1:
            yield {"modality": m}, np.flatnonzero(r_mod), np.flatnonzero(s_mod)
        extra = {"modality": m} if len(real.modalities) > 1 else {}
        labels = sorted(set(real.label[r_mod & (real.label >= 0)].tolist()))
        for lbl in labels:
            yield (
                {**extra, "class": class_name(real, m, lbl)},
                np.flatnonzero(r_mod & (real.label == lbl)),
                np.flatnonzero(s_mod & (synthetic.label == lbl)),
            )
        if not labels:
            for f in real.finding_names:
                if f in synthetic.finding_names:
                    r = r_mod & real.findings[:, real.finding_names.index(f)]
                    s = s_mod & synthetic.findings[:, synthetic.finding_names.index(f)]
                    yield {**extra, "finding": f}, np.flatnonzero(r), np.flatnonzero(s)


def labels_from_prompts(cohort: Cohort, like: Cohort) -> Cohort:
    """``cohort`` with labels and findings read from its prompts by the report labeller, where it
    has texts but no labels; class names and finding names follow ``like`` (the real cohort)."""
    if (cohort.label >= 0).any() or cohort.findings.any() or not any(cohort.text):
        return cohort
    from synthbench.data.phantoms import get_modality, label_report

    label = np.full(len(cohort), -1, np.int64)
    finding_names = list(like.finding_names)
    findings = np.zeros((len(cohort), len(finding_names)), bool)
    modality = cohort.modality.copy()
    for i, text in enumerate(cohort.text):
        read = label_report(text)
        if read.modality is None:
            continue
        modality[i] = read.modality
        info = get_modality(read.modality).info
        for f in read.findings:
            if f in finding_names:
                findings[i, finding_names.index(f)] = True
        if not info.multilabel:
            label[i] = info.class_of(read.findings)
    return replace(
        cohort,
        modality=modality,
        label=label,
        findings=findings,
        finding_names=finding_names,
        label_names={**like.label_names, **cohort.label_names},
    )
