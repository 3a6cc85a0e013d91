"""Training sets of real and synthetic images: synthetic-to-real ratios, real fractions, CAS.

>>> from synthbench.data.source import load_data
>>> from synthbench.tasks.mixing import mix
>>> data = load_data("phantom:oct?n=40&size=16")
>>> m = mix(data.train, data.train, synth_ratio=1, seed=0)   # any cohort can play "synthetic"
>>> m.n_real, m.n_synth, m.synth_ratio
(28, 28, 1.0)

The mix keeps the real training set's class balance: synthetic images are drawn per stratum
(modality and class; modality alone for multi-label data such as chest X-ray) in proportion to
the real images of that stratum. A real fraction below 1 first keeps that share of the real
patients, stratified the same way (low-data regimes); ``synthetic_only`` trains on synthetic
images alone (the classification accuracy score, CAS), as many as the real images times the
ratio (1x when the ratio is 0). Validation and test data are never mixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

#: the synthetic-to-real ratios of the benchmark grid (0 = real only)
RATIOS: tuple[float, ...] = (0, 1, 2, 5, 10, 20)
PROTOCOLS = ("same-data", "pretrain-pool")


@dataclass
class Mix:
    """A training cohort and where its rows came from (see the module docstring)."""

    cohort: Cohort
    is_synthetic: np.ndarray  # bool per row
    synth_ratio: float = 0.0
    real_fraction: float = 1.0
    synthetic_only: bool = False
    generator: str = ""
    generator_config_hash: str = ""
    protocol: str = "same-data"

    def __len__(self) -> int:
        return len(self.cohort)

    @property
    def n_real(self) -> int:
        return int((~self.is_synthetic).sum())

    @property
    def n_synth(self) -> int:
        return int(self.is_synthetic.sum())

    def subset(self, rows: np.ndarray) -> Mix:
        """The same mix restricted to some rows (e.g. those with a known biomarker status)."""
        rows = np.asarray(rows, np.int64)
        return Mix(
            self.cohort.subset(rows),
            self.is_synthetic[rows],
            self.synth_ratio,
            self.real_fraction,
            self.synthetic_only,
            self.generator,
            self.generator_config_hash,
            self.protocol,
        )

    def row_context(self) -> dict[str, Any]:
        """The ResultRow fields that say what the model was trained on."""
        return {
            "generator": self.generator or "real-only",
            "generator_config_hash": self.generator_config_hash,
            "protocol": self.protocol,
            "synth_ratio": float(self.synth_ratio),
            "real_fraction": float(self.real_fraction),
            "n_real": self.n_real,
            "n_synth": self.n_synth,
        }

    def qualifiers(self) -> dict[str, str]:
        """Qualifiers every row of this mix carries: synthetic-only runs (CAS) are a different
        experiment and must not share a leaderboard column with mixed data (the real fraction
        has a field of its own)."""
        out = {}
        if self.synthetic_only:
            out["training"] = "synthetic-only"
        return out


def real_only(train: Cohort) -> Mix:
    """A real training cohort as a mix with no synthetic images."""
    return Mix(train, np.zeros(len(train), bool))


def generator_of(synthetic: Cohort) -> tuple[str, str]:
    """``(name, config hash)`` from a generated cohort's source (``name@hash?seed=s``)."""
    sources = sorted(set(synthetic.source))
    names, hashes = set(), set()
    for s in sources:
        head = s.split("?", 1)[0]
        name, _, config_hash = head.partition("@")
        names.add(name)
        hashes.add(config_hash)
    return "+".join(sorted(names)), "+".join(sorted(h for h in hashes if h))


def strata(cohort: Cohort) -> list[tuple]:
    """The mixing stratum of each row: (modality, class), or (modality,) for multi-label rows."""
    return [
        (str(m), int(lbl)) if lbl >= 0 else (str(m),)
        for m, lbl in zip(cohort.modality, cohort.label)
    ]


def allocate(total: int, counts: dict[tuple, int]) -> dict[tuple, int]:
    """Split ``total`` over strata in proportion to ``counts`` (largest remainders)."""
    keys = sorted(counts, key=repr)
    weights = np.array([counts[k] for k in keys], np.float64)
    if total <= 0 or weights.sum() == 0:
        return dict.fromkeys(keys, 0)
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return {k: int(b) for k, b in zip(keys, base)}


def quota(keys: Iterable[tuple], total: int) -> dict[tuple, int]:
    """``total`` images over the strata of ``keys`` (one key per real row), in proportion."""
    counts: dict[tuple, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return allocate(total, counts)


def synthetic_needed(
    real: Cohort, *, synth_ratio: float, real_fraction: float = 1.0, seed: int = 0
) -> dict[tuple, int]:
    """How many synthetic images per stratum :func:`mix` will draw (what to ask a generator for)."""
    kept = keep_fraction(real, real_fraction, seed=seed)
    return quota(strata(kept), round(synth_ratio * len(kept)))


def keep_fraction(real: Cohort, real_fraction: float, *, seed: int = 0) -> Cohort:
    """That share of the real patients, stratified by modality and class (all of them at 1)."""
    if not 0.0 < real_fraction <= 1.0:
        raise SynthbenchError(f"real_fraction must be in (0, 1], got {real_fraction}")
    if real_fraction == 1.0:
        return real
    kept = real.split_by_patient((real_fraction, 1.0 - real_fraction), seed=seed)[0]
    if len(kept) == 0:
        raise SynthbenchError(
            f"real_fraction {real_fraction} keeps no patients of {len(real)} training images"
        )
    return kept


def mix(
    real: Cohort,
    synthetic: Cohort | None = None,
    *,
    synth_ratio: float = 0.0,
    real_fraction: float = 1.0,
    synthetic_only: bool = False,
    seed: int = 0,
    protocol: str = "same-data",
) -> Mix:
    """A training set of real and synthetic images; see the module docstring.

    Synthetic images are drawn without replacement; a synthetic cohort with too few images of a
    stratum is an error that says how many to generate.
    """
    from synthbench.cohort import Cohort

    if not 0 <= synth_ratio < float("inf"):  # NaN fails both comparisons
        raise SynthbenchError(f"synth_ratio must be a number >= 0, got {synth_ratio}")
    if protocol not in PROTOCOLS:
        raise SynthbenchError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    kept = keep_fraction(real, real_fraction, seed=seed)
    n_synth = round(synth_ratio * len(kept)) if synth_ratio > 0 or not synthetic_only else len(kept)
    if n_synth == 0 and not synthetic_only:
        return Mix(
            kept,
            np.zeros(len(kept), bool),
            0.0,
            real_fraction,
            protocol=protocol,
        )
    if synthetic is None or len(synthetic) == 0:
        raise SynthbenchError(
            f"synth_ratio {synth_ratio:g}{' (synthetic only)' if synthetic_only else ''} needs "
            f"{n_synth} synthetic images, and the synthetic cohort is {'missing' if synthetic is None else 'empty'}"
        )
    if synthetic.image_shape[1:] != kept.image_shape[1:]:
        raise SynthbenchError(
            f"synthetic images are {synthetic.image_shape[1:]} px and real ones {kept.image_shape[1:]}; "
            "generate at the real data's size"
        )
    wanted = quota(strata(kept), n_synth)
    pool: dict[tuple, list[int]] = {}
    for i, key in enumerate(strata(synthetic)):
        pool.setdefault(key, []).append(i)
    rng = np.random.default_rng([seed, 0x5EED])
    chosen: list[np.ndarray] = []
    short = []
    for key, k in wanted.items():
        rows = np.asarray(pool.get(key, []), np.int64)
        if len(rows) < k:
            short.append(f"{'/'.join(map(str, key))}: {len(rows)} of {k}")
            continue
        chosen.append(np.sort(rng.choice(rows, size=k, replace=False)))
    if short:
        raise SynthbenchError(
            f"the synthetic cohort is too small for synth_ratio {synth_ratio:g} with the real "
            f"class balance (have/need per stratum: {'; '.join(short)}); generate more images"
        )
    picked = synthetic.subset(np.concatenate(chosen) if chosen else np.zeros(0, np.int64))
    name, config_hash = generator_of(synthetic)
    if synthetic_only:
        cohort, flags = picked, np.ones(len(picked), bool)
    else:
        cohort = Cohort.concat([kept, picked])
        flags = np.r_[np.zeros(len(kept), bool), np.ones(len(picked), bool)]
    return Mix(
        cohort,
        flags,
        float(synth_ratio),
        float(real_fraction),
        synthetic_only,
        name,
        config_hash,
        protocol,
    )
