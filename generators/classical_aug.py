"""``classical-aug``: label-preserving augmentation of real training images.

>>> from synthbench.generators.classical_aug import ClassicalAugConfig
>>> ClassicalAugConfig.for_profile("smoke").max_rotate_deg
10.0

Each requested image starts from a random real training image of the same modality and class,
then gets a random flip, rotation, scaling and shift (one affine warp), brightness and contrast
changes and a little Gaussian noise. Its report is the one asked for (from ``like`` conditions;
a prompt rebuilt from the findings for a number of images; none for a label): the checkpoint
keeps the training images but not their reports. With ``keep_reports`` (off by default, and a
warning when on) it keeps them too, and a copy carries its source image's report, which
describes it exactly. All randomness comes from the sampling seed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.config import ConfigVersion
from synthbench.generators.base import Capabilities, GeneratorConfig
from synthbench.generators.conditions import ResolvedConditions
from synthbench.generators.image_bank import ImageBankGenerator

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class ClassicalAugConfig(GeneratorConfig):
    """Augmentation strengths (the same at every profile)."""

    flip_p: float = 0.5
    max_rotate_deg: float = 10.0
    max_scale: float = 0.1
    max_translate: float = 0.06
    brightness: float = 0.08
    contrast: float = 0.15
    noise_std: float = 0.02
    #: keep every training report in the checkpoint, so a copy carries its source's report
    keep_reports: bool = False

    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(2, added={"keep_reports": True}),
    )


class ReportsKeptWarning(UserWarning):
    """A generator was asked to keep training reports in its checkpoint."""


class ClassicalAug(ImageBankGenerator):
    """Augmented copies of real images (see the module docstring)."""

    name = "classical-aug"
    Config = ClassicalAugConfig
    capabilities = Capabilities(conditioning="label")
    config: ClassicalAugConfig

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        self.images_ = np.ascontiguousarray(train.images)
        self.modality_ = [str(m) for m in train.modality]
        self.label_ = np.asarray(train.label, np.int64)
        self.text_ = list(train.text) if self.config.keep_reports else []
        if self.config.keep_reports:
            warnings.warn_explicit(
                f"{self.name} keep_reports=True: its checkpoint holds all {len(train)} training "
                "reports verbatim; do not share it where the reports are private",
                ReportsKeptWarning,
                filename="synthbench",
                lineno=0,
            )
        return {}

    def _pools(self) -> dict[tuple[str, int], np.ndarray]:
        pools: dict[tuple[str, int], list[int]] = {}
        for i, (m, k) in enumerate(zip(self.modality_, self.label_.tolist())):
            pools.setdefault((m, k), []).append(i)
            pools.setdefault((m, -2), []).append(i)  # any class of the modality
        return {key: np.asarray(v) for key, v in pools.items()}

    def _generate(
        self, conditions: ResolvedConditions, generator: torch.Generator
    ) -> tuple[np.ndarray, list[str]]:
        import torch
        import torch.nn.functional as F

        cfg = self.config
        pools = self._pools()
        n = len(conditions)
        picks = np.empty(n, np.int64)
        draws = torch.rand(n, generator=generator).numpy()
        for i, (m, k) in enumerate(zip(conditions.modality, conditions.label.tolist())):
            pool = pools.get((m, k)) if k >= 0 else None
            if pool is None:
                pool = pools[(m, -2)]
            picks[i] = pool[min(int(draws[i] * len(pool)), len(pool) - 1)]
        x = torch.from_numpy(self.images_[picks]).float().div_(255.0)
        u = torch.rand(n, 8, generator=generator)
        angle = (u[:, 0] * 2 - 1) * math.radians(cfg.max_rotate_deg)
        scale = 1 + (u[:, 1] * 2 - 1) * cfg.max_scale
        flip = torch.where(u[:, 2] < cfg.flip_p, -1.0, 1.0)
        shift = (u[:, 3:5] * 2 - 1) * cfg.max_translate * 2  # grid units span 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                torch.stack([sin * flip, cos, shift[:, 1]], 1),
            ],
            1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        contrast = 1 + (u[:, 5] * 2 - 1)[:, None, None, None] * cfg.contrast
        brightness = ((u[:, 6] * 2 - 1) * cfg.brightness)[:, None, None, None]
        x = (x - mean) * contrast + mean + brightness
        noise = torch.randn(x.shape, generator=generator) * cfg.noise_std
        schema = self._require_fit()
        gray = torch.tensor([schema.channels[m] == 1 for m in conditions.modality])
        # replicated grayscale stays gray: one noise field for all its channels
        x = x + torch.where(gray[:, None, None, None], noise[:, :1].expand_as(noise), noise)
        images = x.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
        if not self.text_:
            return images, list(conditions.text)
        # the source image's report still describes its augmented copy
        return images, [self.text_[i] for i in picks]
