"""Intra-class diversity: mean MS-SSIM over random pairs of images of the same class (registry
entry ``diversity``). Lower means more diverse; the real reference split's value is reported
beside it (``set=reference``), since a generator should match real diversity, not beat it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from synthbench.metrics.base import EvalContext, QualityMetric, Score, class_name
from synthbench.metrics.cache import images_hash
from synthbench.metrics.ms_ssim import MSSSIMSetting, mean_pairwise_ms_ssim, ms_ssim_setting

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


def _class_groups(cohort: Cohort) -> list[tuple[dict[str, str], np.ndarray]]:
    out = []
    multi = len(cohort.modalities) > 1
    for m in cohort.modalities:
        in_mod = cohort.modality == m
        extra = {"modality": m} if multi else {}
        labels = sorted(set(cohort.label[in_mod & (cohort.label >= 0)].tolist()))
        for lbl in labels:
            out.append(
                (
                    {**extra, "class": class_name(cohort, m, lbl)},
                    np.flatnonzero(in_mod & (cohort.label == lbl)),
                )
            )
        if not labels:
            out.append((extra, np.flatnonzero(in_mod)))
    return out


class Diversity(QualityMetric):
    """Mean pairwise MS-SSIM within each class (``pairs`` random pairs per class), and the
    mean over classes (no class qualifier). The MS-SSIM setting is chosen by image size
    (:func:`~synthbench.metrics.ms_ssim.ms_ssim_setting`) and recorded as a qualifier."""

    name = "diversity"
    higher_is_better = False
    uses_features = False
    pairs = 200

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        out = []
        for label, cohort in (("synthetic", synthetic), ("reference", ctx.reference)):
            native = (
                np.stack(cohort.native_images(slice(None)))
                if len(set(cohort.channels.tolist())) == 1
                else cohort.images
            )
            setting = ms_ssim_setting(min(native.shape[-2:]))
            values = []
            for quals, rows in _class_groups(cohort):
                if len(rows) < 2:
                    continue
                v = self._mean_ms_ssim(ctx, native[rows], setting, cached=label == "reference")
                values.append(v)
                q = {**quals, "ms_ssim": setting.describe()}
                if label == "reference":
                    q["set"] = "reference"
                if ctx.breakdown and "class" in quals:
                    out.append(
                        Score("ms_ssim", v, False, q, n_synth=len(rows), uses_features=False)
                    )
            if values:
                q = {"ms_ssim": setting.describe()} | (
                    {"set": "reference"} if label == "reference" else {}
                )
                out.append(
                    Score(
                        "ms_ssim",
                        float(np.mean(values)),
                        False,
                        q,
                        n_synth=len(cohort),
                        uses_features=False,
                    )
                )
        return out

    def _mean_ms_ssim(
        self, ctx: EvalContext, images: np.ndarray, setting: MSSSIMSetting, *, cached: bool
    ) -> float:
        def compute() -> np.ndarray:
            return np.asarray(
                mean_pairwise_ms_ssim(images, pairs=self.pairs, seed=ctx.seed, setting=setting)
            )

        if not cached:
            return float(compute())
        parts = {
            "images": images_hash(images),
            "setting": asdict(setting),
            "pairs": self.pairs,
            "seed": ctx.seed,
        }
        return float(ctx.cache.array("ms-ssim", parts, compute))
