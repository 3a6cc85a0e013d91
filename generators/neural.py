"""Pieces shared by the neural generators (ddpm, cvae, cgan, minim): training-loop settings in
their configs, and the global class index that label-conditioned networks embed.

>>> NeuralConfig().mixed_precision
'auto'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthbench.generators.base import GeneratorConfig
from synthbench.generators.conditions import CohortSchema


@dataclass(frozen=True)
class NeuralConfig(GeneratorConfig):
    """Training-loop settings shared by the neural generators (see ``training.TrainSettings``)."""

    steps: int = 3000
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    mixed_precision: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 10


def class_ids(schema: CohortSchema, modality: Sequence[str], label: np.ndarray) -> np.ndarray:
    """Global class indices (see ``CohortSchema.class_index``) of (modality, label) rows;
    unlabelled rows of a multi-label modality map to that modality's single class."""
    index = schema.class_index()
    return np.asarray(
        [index.get((m, int(k)), index.get((m, -1), 0)) for m, k in zip(modality, label)], np.int64
    )
