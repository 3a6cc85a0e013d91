"""Evaluate a synthetic cohort against real data: the function behind ``synthbench evaluate``.

>>> from synthbench.data.source import load_data
>>> from synthbench.metrics.evaluate import EvalSettings, evaluate
>>> real = load_data("phantom:oct?n=400&size=32")
>>> synthetic = load_data("phantom:oct?n=200&size=32&seed=1").train  # stand-in for a generator
>>> result = evaluate(real, synthetic, ["fd", "prdc"], EvalSettings())  # doctest: +SKIP
>>> print(format_table(result.rows))  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import DataError, SynthbenchError
from synthbench.metrics import DEFAULT_METRICS
from synthbench.metrics.base import EvalContext, QualityMetric, labels_from_prompts
from synthbench.metrics.cache import FeatureCache
from synthbench.results import ResultRow

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.metrics.features import FeatureExtractor

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class EvalSettings:
    """How to evaluate: extractor, reference split, seed, breakdowns, cache and artifacts.

    ``resize``: how the extractor brings images to its input size, where it has the choice
    (``inception``: ``clean``, clean-fid's resizer and the default, or ``legacy``, the network's
    own bilinear resize); part of the extractor's identity in every row.
    """

    extractor: str = "domain"
    extractor_path: str | None = None
    resize: str | None = None
    #: a data spec whose training split the ``domain`` extractor trains on instead of the real
    #: data's (e.g. a larger simulation of the same modality with another seed); none of its
    #: images may be among the real validation or test images
    extractor_data: str | None = None
    reference_split: str = "train"
    seed: int = 0
    breakdown: bool = True
    min_group: int = 10
    cache_dir: Path | None = None
    use_cache: bool = True
    artifacts_dir: Path | None = None


@dataclass
class Evaluation:
    """Result rows, written artifacts (PNG grids) and timings of one evaluation."""

    rows: list[ResultRow]
    artifacts: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    feature_extractor: str = ""


def get_metric(name: str) -> type[QualityMetric]:
    from synthbench import registry

    return registry.metrics.get(name)


def get_extractor(name: str) -> type[FeatureExtractor]:
    from synthbench import registry

    return registry.feature_extractors.get(name)


def training_extractors() -> list[str]:
    """The registered extractors that train on the real training images (``trains``): those an
    ``extractor_data`` spec may give other images to learn from."""
    from synthbench import registry

    reg = registry.feature_extractors
    return [n for n in reg.names() if getattr(reg.get(n), "trains", False)]


def check_extractor_data(extractor: str) -> None:
    """Refuse ``extractor_data`` for an extractor that does not train, in one line."""
    valid = training_extractors()
    if extractor not in valid:
        raise SynthbenchError(
            f"only extractors that train on data take it ({', '.join(valid)}), not {extractor!r}"
        )


def extractor_training(spec: str, real: RealData) -> Cohort:
    """The training split of ``spec`` kept to the real data's modalities: what the ``domain``
    extractor learns from in place of ``real.train``. Refused where it lacks one of those
    modalities or holds an image of the real validation or test split."""
    from synthbench.cohort import image_digests
    from synthbench.data.source import load_data

    data = load_data(spec)
    want = sorted(set(real.train.modality.tolist()))
    have = set(data.train.modality.tolist())
    missing = [m for m in want if m not in have]
    if missing:
        raise SynthbenchError(
            f"extractor_data {spec!r} has no {', '.join(missing)} images; it must hold every "
            f"modality of the real data ({', '.join(want)})"
        )
    train = data.train.subset(np.flatnonzero(np.isin(data.train.modality, want)))
    shared = image_digests(train) & (image_digests(real.val) | image_digests(real.test))
    if shared:
        raise SynthbenchError(
            f"extractor_data {spec!r} holds {len(shared)} of the real validation or test images; "
            "give a simulation with another seed, or other data"
        )
    return train


def evaluate(
    real: RealData,
    synthetic: Cohort,
    metrics: Sequence[str] = DEFAULT_METRICS,
    settings: EvalSettings | None = None,
    *,
    dataset: str = "",
    generator: str = "",
) -> Evaluation:
    """Score ``synthetic`` against ``real`` with the named metrics; one :class:`ResultRow` per value.

    Synthetic cohorts without labels but with prompts get labels from the report labeller, and
    class indices are aligned to the real cohort's class names.
    """
    settings = settings or EvalSettings()
    if len(synthetic) == 0:
        raise SynthbenchError("the synthetic cohort is empty; there is nothing to evaluate")
    start = time.perf_counter()
    metric_classes = [(name, get_metric(name)) for name in dict.fromkeys(metrics)]
    cache = FeatureCache(settings.cache_dir, enabled=settings.use_cache)
    extractor = get_extractor(settings.extractor).create(
        extractor_training(settings.extractor_data, real)
        if settings.extractor_data
        else real.train,
        cache=cache,
        path=settings.extractor_path,
        seed=settings.seed,
        resize=settings.resize,
    )
    synthetic = align_to(labels_from_prompts(synthetic, real.train), real.train)
    if settings.artifacts_dir is not None:
        Path(settings.artifacts_dir).mkdir(parents=True, exist_ok=True)
    ctx = EvalContext(
        real=real,
        extractor=extractor,
        cache=cache,
        seed=settings.seed,
        reference_split=settings.reference_split,
        breakdown=settings.breakdown,
        min_group=settings.min_group,
        artifacts_dir=settings.artifacts_dir,
    )
    rows: list[ResultRow] = []
    for _name, cls in metric_classes:
        t0 = time.perf_counter()
        scores = cls().score(ctx, synthetic)
        seconds = time.perf_counter() - t0
        for s in scores:
            rows.append(
                ResultRow(
                    dataset=dataset or real.spec,
                    patient_split=real.patient_split,
                    generator=generator,
                    metric=s.metric,
                    qualifiers=s.qualifiers,
                    value=s.value,
                    higher_is_better=s.higher_is_better,
                    seed=settings.seed,
                    n_real=s.n_real if s.n_real is not None else len(ctx.reference),
                    n_synth=s.n_synth if s.n_synth is not None else len(synthetic),
                    feature_extractor=s.network or (extractor.identity if s.uses_features else ""),
                    wall_seconds=round(seconds, 4),
                )
            )
    return Evaluation(
        rows=rows,
        artifacts=list(ctx.artifacts),
        wall_seconds=time.perf_counter() - start,
        cache_hits=cache.hits,
        cache_misses=cache.misses,
        feature_extractor=extractor.identity,
    )


def align_to(synthetic: Cohort, like: Cohort) -> Cohort:
    """``synthetic`` with modality names and class indices following ``like`` (by class name).

    A single-modality synthetic set whose modality the real set lacks (e.g. an image folder named
    after its folder) takes the real set's only modality.
    """
    syn_mods, real_mods = synthetic.modalities, like.modalities
    modality = synthetic.modality
    label_names = dict(synthetic.label_names)
    if len(syn_mods) == 1 and len(real_mods) == 1 and syn_mods[0] != real_mods[0]:
        modality = np.full(len(synthetic), real_mods[0], dtype=object)
        label_names = {real_mods[0]: label_names.get(syn_mods[0], [])}
    label = synthetic.label.copy()
    for m in set(modality.tolist()):
        ours, theirs = label_names.get(m, []), like.label_names.get(m, [])
        if not ours or ours == theirs:
            continue
        unknown = [c for c in ours if c not in theirs]
        if unknown:
            raise DataError(
                f"synthetic classes {unknown} of modality {m!r} are not among the real classes {theirs}"
            )
        remap = np.array([theirs.index(c) for c in ours])
        rows = (modality == m) & (label >= 0)
        label[rows] = remap[label[rows]]
    return replace(
        synthetic, modality=modality, label=label, label_names={**label_names, **like.label_names}
    )


# ---------------------------------------------------------------------------- loading both sides
def load_real(source: str, *, split_seed: int = 0) -> RealData:
    """REAL: a data spec, a folder written by ``synthbench data make`` (train/ val/ test/), a
    single cohort folder (split by patient here) or an image folder."""
    from synthbench.cohort import Cohort, is_cohort_dir
    from synthbench.data.source import RealData, load_data

    path = Path(source)
    if is_cohort_dir(path):
        parts = Cohort.load(path).split_by_patient((0.7, 0.15, 0.15), seed=split_seed)
        if any(len(p) == 0 for p in parts):
            raise DataError(f"{path}: too few patients to split into train / val / test")
        return RealData(str(path), *parts)
    if all(is_cohort_dir(path / s) for s in SPLITS):
        return RealData(str(path), *(Cohort.load(path / s) for s in SPLITS))
    if path.is_dir():
        return load_data(f"imagefolder:{path}?split_seed={split_seed}")
    if path.exists() or ":" not in source:
        raise DataError(
            f"{source}: neither a cohort folder, an image folder nor a data spec like 'phantom:oct'"
        )
    return load_data(source)


def load_synthetic(source: str, *, split: str = "all") -> Cohort:
    """SYNTHETIC: a cohort folder, a folder with train/ val/ test/ cohorts, an image folder or a
    data spec; ``split`` picks one split of the last three kinds (``all``: all concatenated)."""
    from synthbench.cohort import Cohort, is_cohort_dir
    from synthbench.data.source import PatientSplitWarning, load_data

    if split not in (*SPLITS, "all"):
        raise SynthbenchError(
            f"synthetic split must be one of train, val, test, all; got {split!r}"
        )
    path = Path(source)
    if is_cohort_dir(path):
        return Cohort.load(path)
    if all(is_cohort_dir(path / s) for s in SPLITS):
        parts = {s: Cohort.load(path / s) for s in SPLITS}
    elif path.is_dir():
        with warnings.catch_warnings():  # synthetic images have no patients to split by
            warnings.simplefilter("ignore", PatientSplitWarning)
            parts = load_data(f"imagefolder:{path}").splits()
    elif path.exists() or ":" not in source:
        raise DataError(
            f"{source}: neither a cohort folder, an image folder nor a data spec like 'phantom:oct'"
        )
    else:
        parts = load_data(source).splits()
    return Cohort.concat(list(parts.values())) if split == "all" else parts[split]
