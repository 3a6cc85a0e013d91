"""Feature extractors: the base class and the ``domain`` encoder.

Every extractor turns uint8 images (n, C, H, W) into float64 feature rows and has an
``identity`` (name plus a digest of its weights or training data and config) that goes into
cache keys, so features from two different networks are never mixed up. Built-ins:

- ``domain``: a small CNN trained on the real training cohort's labels (findings for
  multi-label cohorts); its pooled penultimate layer gives the features. Always available
  offline; trained once per training cohort and config, cached by content hash.
- ``inception``: the standard FID Inception-v3 from a local weights file (:mod:`.inception`).
- ``local``: any timm or transformers image encoder saved in a local folder (:mod:`.local_encoder`).
- ``autoencoder``: the bottleneck of a small autoencoder trained to reconstruct the real training
  images (:mod:`.autoencoder`): features of the whole image, labels or not.

>>> from synthbench.data.source import load_data
>>> from synthbench.metrics.features import DomainExtractor
>>> data = load_data("phantom:oct?n=80&size=16")
>>> extractor = DomainExtractor.create(data.train, cache=None)  # doctest: +SKIP
>>> extractor(data.test.images).shape  # doctest: +SKIP
(12, 64)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.cache import FeatureCache, cohort_hash
from synthbench.nets import CNNConfig, TrainedCNN

if TYPE_CHECKING:
    from pathlib import Path

    from synthbench.cohort import Cohort


def check_images(images: np.ndarray, *, channels: Sequence[int], what: str) -> None:
    """Raise a one-line :class:`SynthbenchError` unless ``images`` is uint8 ``(n, C, H, W)`` with
    C in ``channels``."""
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4:
        raise SynthbenchError(
            f"{what} takes uint8 images of shape (n, C, H, W), got {array.dtype} {array.shape}"
        )
    if array.shape[1] not in channels:
        valid = " or ".join(map(str, channels))
        raise SynthbenchError(f"{what} takes {valid}-channel images, got {array.shape[1]}")


class FeatureExtractor:
    """Base class of feature extractors (the ``feature_extractors`` registry's entries).

    Subclasses implement :meth:`create` (build from the real training cohort and options) and
    :meth:`__call__` (uint8 ``(n, C, H, W)`` images to float64 ``(n, d)`` features, the same rows
    whatever the batching; anything else is a one-line :class:`SynthbenchError`).
    """

    name: ClassVar[str] = ""
    #: True for extractors trained on the real training images (which a suite block's
    #: ``extractor_data`` may replace)
    trains: ClassVar[bool] = False
    identity: str = ""

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
        resize: str | None = None,
    ) -> FeatureExtractor:
        """Build the extractor. ``resize``: how images reach a fixed network input size, for
        extractors that have one (``inception``: ``clean`` or ``legacy``); ``None`` is the
        extractor's default, and extractors without the choice refuse any other value."""
        raise NotImplementedError

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LearntExtractor(FeatureExtractor):
    """An extractor whose network learns from the real training images (or a suite block's
    ``extractor_data``), trained once per training cohort and config and cached by content hash
    under the extractor's ``name``; its identity is ``<name>-<digest>``. Subclasses give the
    config class and the trained network's class (``fit(train, config)``, ``load(folder)`` and
    ``save(folder)``), or override :meth:`fit` where the network trains on something else."""

    trains = True
    config_class: ClassVar[type]
    network_class: ClassVar[Any]
    #: the trained network's folder name in the cache (default: ``name``)
    cache_name: ClassVar[str] = ""

    def __init__(self, network: Any, identity: str) -> None:
        self.network = network
        self.identity = identity

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
        resize: str | None = None,
        config: Any = None,
    ) -> LearntExtractor:
        from dataclasses import asdict, replace

        if path is not None:
            raise SynthbenchError(
                f"the {cls.name} extractor trains on the real training images; it takes no "
                "--extractor-path"
            )
        if resize is not None:
            raise SynthbenchError(
                f"the {cls.name} extractor brings images to its own input size; resize={resize!r} "
                "applies to the inception extractor only"
            )
        check_images(train.images, channels=(1, 3), what=f"the {cls.name} extractor")
        config = replace(config or cls.config_class(), seed=seed)
        cache = cache or FeatureCache(enabled=False)
        parts = {"train": cohort_hash(train, with_text=False), "config": asdict(config)}
        network = cache.model(
            cls.cache_name or cls.name,
            parts,
            load=cls.load,
            build=lambda: cls.fit(train, config),
            save=cls.save,
        )
        return cls(network, f"{cls.name}-{cache.key(parts)[:10]}")

    @classmethod
    def fit(cls, train: Cohort, config: Any) -> Any:
        """The trained network: ``network_class.fit(train, config)`` unless overridden."""
        return cls.network_class.fit(train, config)

    @classmethod
    def load(cls, folder: Path) -> Any:
        return cls.network_class.load(folder)

    @staticmethod
    def save(network: Any, folder: Path) -> None:
        network.save(folder)


class DomainExtractor(LearntExtractor):
    """Features from a small CNN trained on the real training cohort (see the module docstring).

    The trained classifier is also what the Inception-style score and prompt adherence use.
    """

    name = "domain"
    cache_name = "domain-encoder"
    config_class = CNNConfig
    network_class = TrainedCNN
    network: TrainedCNN

    @property
    def classifier(self) -> TrainedCNN:
        return self.network

    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, channels=(1, 3), what="the domain extractor")
        return self.classifier.predict(images)[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax), or per-finding probabilities for multi-label cohorts."""
        return self.classifier.predict(images)[1]
