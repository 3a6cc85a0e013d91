"""The ``copy-detection`` metric: ``memorisation``'s near copies counted in a copy detector's
space (qualifier ``space=copy``) instead of the extractor's features or the pixels.

A near copy is a training image passed off with small changes: shifted by a pixel, blurred, with
pixel noise, its contrast moved. An extractor trained to tell classes apart (``domain``) learns to
pass over much of what makes one image that image, and the pixels see a one-pixel shift as a new
image; on planted copies of OCT training images, a ``domain`` extractor flagged a copy with noise
of 16 grey levels, shifted by one or two pixels or blurred about as often as a real test image
that copies nothing (docs/feedback-satisfice.md, "Which images are the near copies?").

This network is trained, as copy detectors are, to do the opposite: on the training images
themselves (the gallery a copy would come from), to tell each one from every other whatever is
laid on it. It is the ``contrastive`` extractor's network and loss (instance discrimination,
:mod:`synthbench.metrics.contrastive`) with the views a copy detector must pass over: besides
shifts of up to 2 pixels and changes of contrast and brightness, half the views blurred and pixel
noise of up to 16 grey levels. Trained once per training split, config and seed and cached by
content hash; its identity (``copy-<digest>``) goes into the rows' ``network`` field.

The metric ``copy-detection`` is ``memorisation`` measured in this space alone: the same
``near_copy_share``, ``authenticity`` and ``nn_distance_ratio`` with the real test split's values
beside them (``set=real-test``), every row qualified ``space=copy``. It needs synthetic images of
the training images' shape, as the pixel space does, and at least 2 training images. Training
costs about as much as training the ``contrastive`` extractor on the same split (60 epochs), once
per split, config and seed; it is opt-in for that reason, and the refinement rounds ask for it
by default, since a model that learns from its own rated images is where copying would show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.contrastive import ContrastiveConfig, ContrastiveExtractor
from synthbench.metrics.memorisation import Memorisation

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.metrics.base import EvalContext


@dataclass(frozen=True)
class CopyConfig(ContrastiveConfig):
    """The contrastive network's recipe with a copy detector's views (module docstring)."""

    max_noise: float = 16.0
    blur: float = 0.5


class CopyDetector(ContrastiveExtractor):
    """L2-normalised embeddings in which an altered copy lands next to its source."""

    name = "copy"
    cache_name = "copy-detector"
    config_class = CopyConfig


class CopyDetection(Memorisation):
    """``memorisation`` in the copy detector's space (module docstring)."""

    name = "copy-detection"
    uses_features = False
    grid_name = "copy_detection_closest_pairs.png"
    config = CopyConfig()

    def detector(self, ctx: EvalContext) -> CopyDetector:
        return ctx.model(
            "copy-detector",
            lambda: CopyDetector.create(
                ctx.real.train, cache=ctx.cache, seed=ctx.seed, config=self.config
            ),
        )

    def network(self, ctx: EvalContext) -> str:
        return self.detector(ctx).identity

    def spaces(
        self, ctx: EvalContext, synthetic: Cohort
    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        train, test = ctx.real.train, ctx.real.test
        if synthetic.image_shape != train.image_shape:
            raise SynthbenchError(
                f"copy-detection compares images with the training images pixel for pixel: the "
                f"synthetic images are {'x'.join(map(str, synthetic.image_shape))}, the training "
                f"images {'x'.join(map(str, train.image_shape))}; sample at the training size"
            )
        detector = self.detector(ctx)
        return {"copy": tuple(detector(c.images) for c in (train, test, synthetic))}
