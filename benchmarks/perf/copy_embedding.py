"""A copy-detection embedding: a small CNN trained so that an image and an altered copy of it land
together and apart from every other image (instance discrimination, as copy detectors are trained).

The ``domain`` judges and the pixels each miss some kinds of copy (``near_copy_agreement.py``'s
planted copies): a learnt judge hardly flags a copy shifted by one pixel more often than a real
image that copies nothing, and the pixels miss a shifted or blurred copy. This is the network of
synthbench's ``contrastive`` feature extractor (``synthbench.metrics.contrastive``), trained on the
gallery itself (the training images a copy would come from) with the views a copy detector must
pass over: besides shifts and changes of contrast and brightness, half the views blurred and
pixel noise of up to 16 grey levels (the extractor's defaults, made for an FD, blur none and add
at most 4). Embeddings are L2-normalised, deterministic for a seed, and cached under a work folder
by the content hash of the gallery and the settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from synthbench.io import atomic_dir
from synthbench.metrics.contrastive import ContrastiveConfig, TrainedContrastive


@dataclass(frozen=True)
class CopyEmbeddingConfig(ContrastiveConfig):
    max_noise: float = 16.0
    blur: float = 0.5


class CopyEmbedding(TrainedContrastive):
    def __call__(self, images: np.ndarray, *, batch: int = 512) -> np.ndarray:
        return self.embed(images, batch=batch)

    @classmethod
    def cached(cls, images: np.ndarray, config: ContrastiveConfig, work: Path) -> CopyEmbedding:
        """Trained once per gallery and settings, kept under ``work``."""
        h = hashlib.sha256(images.tobytes() + str(images.shape).encode())
        h.update(json.dumps(asdict(config), sort_keys=True).encode())
        folder = work / "copy-embedding" / h.hexdigest()[:16]
        if (folder / "config.json").is_file():
            return cls.load(folder)
        trained = cls.fit(images, config)
        with atomic_dir(folder) as out:
            trained.save(out)
        return trained
