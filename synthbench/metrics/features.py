"""Feature extractors: the base class and the ``domain`` encoder.

Every extractor turns uint8 images (n, C, H, W) into float64 feature rows and has an
``identity`` (name plus a digest of its weights or training data and config) that goes into
cache keys, so features from two different networks are never mixed up. Built-ins:

- ``domain``: a small CNN trained on the real training cohort's labels (findings for
  multi-label cohorts); its pooled penultimate layer gives the features. Always available
  offline; trained once per training cohort and config, cached by content hash.
- ``inception``: the standard FID Inception-v3 from a local weights file (:mod:`.inception`).
- ``local``: any timm or transformers image encoder saved in a local folder (:mod:`.local_encoder`).

>>> from synthbench.data.source import load_data
>>> from synthbench.metrics.features import DomainExtractor
>>> data = load_data("phantom:oct?n=80&size=16")
>>> extractor = DomainExtractor.create(data.train, cache=None)  # doctest: +SKIP
>>> extractor(data.test.images).shape  # doctest: +SKIP
(12, 64)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from synthbench.metrics.cache import FeatureCache, cohort_hash
from synthbench.nets import CNNConfig, TrainedCNN

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


class FeatureExtractor:
    """Base class of feature extractors (the ``feature_extractors`` registry's entries).

    Subclasses implement :meth:`create` (build from the real training cohort and options) and
    :meth:`__call__`.
    """

    name: ClassVar[str] = ""
    identity: str = ""

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
    ) -> FeatureExtractor:
        raise NotImplementedError

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class DomainExtractor(FeatureExtractor):
    """Features from a small CNN trained on the real training cohort (see the module docstring).

    The trained classifier is also what the Inception-style score and prompt adherence use.
    """

    name = "domain"

    def __init__(self, classifier: TrainedCNN, identity: str) -> None:
        self.classifier = classifier
        self.identity = identity

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
        config: CNNConfig | None = None,
    ) -> DomainExtractor:
        from dataclasses import asdict, replace

        if path is not None:
            from synthbench.errors import SynthbenchError

            raise SynthbenchError(
                "the domain extractor trains on the real training images; it takes no --extractor-path"
            )
        config = replace(config or CNNConfig(), seed=seed)
        cache = cache or FeatureCache(enabled=False)
        parts = {"train": cohort_hash(train, with_text=False), "config": asdict(config)}
        folder = cache.folder("domain-encoder", parts)
        identity = f"domain-{cache.key(parts)[:10]}"
        if cache.enabled and (folder / "model.safetensors").is_file():
            cache.hits += 1
            return cls(TrainedCNN.load(folder), identity)
        cache.misses += 1
        classifier = TrainedCNN.fit(train, config)
        if cache.enabled:
            classifier.save(folder)
        return cls(classifier, identity)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.classifier.predict(images)[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax), or per-finding probabilities for multi-label cohorts."""
        return self.classifier.predict(images)[1]
