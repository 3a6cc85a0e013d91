"""``real-only``: the control. It adds nothing, so every result row has a baseline to beat.

>>> from synthbench.data.source import load_data
>>> from synthbench.generators.real_only import RealOnly
>>> data = load_data("phantom:oct?n=40&size=16")
>>> len(RealOnly().fit(data.train).sample(10))
0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.generators.base import Capabilities, Generator, GeneratorConfig
from synthbench.generators.conditions import ResolvedConditions

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class RealOnlyConfig(GeneratorConfig):
    """No settings: the control is the same at every profile."""


class RealOnly(Generator):
    """Returns an empty cohort (with the training schema) whatever it is asked for."""

    name = "real-only"
    Config = RealOnlyConfig
    capabilities = Capabilities(conditioning="none", produces_images=False)

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        return {}

    def _sample_range(
        self, resolved: ResolvedConditions, seed: int, start: int, stop: int
    ) -> Cohort:
        schema = self._require_fit()
        empty = ResolvedConditions(
            (), np.zeros(0, np.int64), np.zeros((0, len(schema.finding_names)), bool), ()
        )
        return self._cohort(
            empty, np.zeros((0, *schema.image_shape), np.uint8), seed, first_index=start
        )

    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        schema = self._require_fit()
        return np.zeros((0, *schema.image_shape), np.uint8)

    def _save_state(self, path: Path) -> None:
        pass

    def _load_state(self, path: Path) -> None:
        pass
