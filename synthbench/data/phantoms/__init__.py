"""Procedural multi-modality phantoms with known ground truth.

>>> from synthbench.data.phantoms import simulate
>>> batch = simulate("oct", n=8, size=32, seed=0)
>>> batch.images.shape, batch.reports[0].split(":")[0]
((8, 1, 32, 32), 'OCT')

Six modalities (see ``MODALITIES``): each draws latent factors per patient, renders an image from
them (vectorised numpy) and writes a free-text report from the same factors. ``label_report`` is
the rule-based labeller that maps any report back to findings. ``difficulty`` in [0, 1] sets how
subtle findings are (0 overt, 1 barely visible); the default leaves room for augmentation.
"""

from __future__ import annotations

import importlib
import zlib
from functools import cache

import numpy as np

from synthbench.data.phantoms._base import (
    ModalityInfo,
    PhantomBatch,
    PhantomModality,
    ReportLabels,
)
from synthbench.data.phantoms._common import to_uint8
from synthbench.data.phantoms._survival import simulate_survival
from synthbench.data.phantoms._text import modality_prefix

__all__ = [
    "DEFAULT_DIFFICULTY",
    "MODALITIES",
    "ModalityInfo",
    "PhantomBatch",
    "ReportLabels",
    "get_modality",
    "label_report",
    "simulate",
]

#: modality name -> "module:Class", imported on first use
MODALITIES: dict[str, str] = {
    "oct": "synthbench.data.phantoms.oct:OCT",
    "fundus": "synthbench.data.phantoms.fundus:Fundus",
    "cxr": "synthbench.data.phantoms.cxr:ChestXRay",
    "chest_ct": "synthbench.data.phantoms.chest_ct:ChestCT",
    "brain_mri": "synthbench.data.phantoms.brain_mri:BrainMRI",
    "breast_mri": "synthbench.data.phantoms.breast_mri:BreastMRI",
}
DEFAULT_DIFFICULTY = 0.5
MIN_SIZE, MAX_SIZE = 16, 256
# render at most this many pixels per chunk, so memory stays flat however many images are asked for
_CHUNK_PIXELS = 1 << 22


@cache
def get_modality(name: str) -> PhantomModality:
    """The simulator of one modality, e.g. ``get_modality("oct")``."""
    if name not in MODALITIES:
        raise ValueError(f"unknown phantom modality {name!r}; valid: {', '.join(MODALITIES)}")
    module_name, _, attr = MODALITIES[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls()


def _rng(seed: int, modality: str, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(modality.encode()), zlib.crc32(stream.encode())])


def simulate(
    modality: str,
    n: int,
    *,
    size: int = 32,
    difficulty: float = DEFAULT_DIFFICULTY,
    seed: int = 0,
    labels: np.ndarray | None = None,
    view: str = "full",
) -> PhantomBatch:
    """Simulate ``n`` patients (one image and report each) of one modality.

    Single-label modalities get balanced classes in random order unless ``labels`` is given;
    multi-label modalities draw each finding with its prevalence. Deterministic per seed.
    """
    sim = get_modality(modality)
    info = sim.info
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"phantom size must be between {MIN_SIZE} and {MAX_SIZE} px, got {size}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"phantom difficulty must be between 0 and 1, got {difficulty}")
    if n < 1:
        raise ValueError(f"phantom n must be at least 1, got {n}")
    rng = _rng(seed, modality, "labels")
    if info.multilabel:
        prevalence = np.asarray(sim.prevalence, dtype=np.float64)
        findings = rng.random((n, len(info.findings))) < prevalence
        label_arr = np.full(n, -1, dtype=np.int64)
    else:
        if labels is None:
            label_arr = rng.permutation(np.arange(n) % info.n_classes).astype(np.int64)
        else:
            label_arr = np.asarray(labels, dtype=np.int64)
            if label_arr.shape != (n,) or label_arr.min() < 0 or label_arr.max() >= info.n_classes:
                raise ValueError(
                    f"labels must be {n} integers in [0, {info.n_classes}) for {modality!r}"
                )
        findings = np.zeros((n, len(info.findings)), dtype=bool)
        for j, name in enumerate(info.findings):
            findings[:, j] = label_arr == info.classes.index(name)

    factors = sim.sample_factors(_rng(seed, modality, "factors"), label_arr, findings, difficulty)
    factors = {k: np.asarray(v) for k, v in factors.items()}
    for k, v in factors.items():
        if v.shape[0] != n:
            raise RuntimeError(f"phantom {modality}: factor {k!r} has {v.shape[0]} rows, not {n}")

    images = np.empty((n, info.channels, size, size), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (size * size * info.channels))
    render_rng = _rng(seed, modality, "render")
    for start in range(0, n, chunk):
        part = {k: v[start : start + chunk] for k, v in factors.items()}
        images[start : start + chunk] = to_uint8(sim.render_view(part, size, render_rng, view))

    reports = sim.write_reports(factors, _rng(seed, modality, "reports"))
    status = sim.biomarker_status(factors)
    time = event = None
    if status is not None and info.true_hazard_ratio is not None:
        time, event = simulate_survival(
            _rng(seed, modality, "survival"), status, info.true_hazard_ratio
        )
    return PhantomBatch(
        modality=modality,
        images=images,
        labels=label_arr,
        findings=findings,
        reports=reports,
        factors=factors,
        patient_ids=[f"{modality}-s{seed}-{i:06d}" for i in range(n)],
        biomarker=status,
        survival_time=time,
        survival_event=event,
        meta={"size": size, "difficulty": difficulty, "seed": seed},
    )


def _modality_by_prompt(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    key = prefix.strip().lower()
    for name in MODALITIES:
        info = get_modality(name).info
        if key in (info.prompt_name.lower(), name, name.replace("_", " ")):
            return name
    return None


def label_report(text: str, modality: str | None = None) -> ReportLabels:
    """Read the findings a report asserts, with the rule-based labeller of its modality.

    The modality comes from the ``"Modality:"`` prefix unless given. A report whose modality is
    unknown yields no findings and ``modality=None``.
    """
    name = modality or _modality_by_prompt(modality_prefix(text))
    if name is None:
        return ReportLabels(modality=None, findings=frozenset())
    return get_modality(name).label_report(text)
