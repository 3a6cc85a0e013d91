"""The contract every phantom modality implements, and the batch it produces.

A modality is a class with a :class:`ModalityInfo` and three steps, all vectorised over patients:

1. ``sample_factors(rng, labels, findings, difficulty)`` draws the per-patient latent factors
   (lesion presence, size, position, intensity, texture, acquisition noise, contrast, laterality,
   biomarker status ...) as a dict of 1-D numpy arrays of length ``n``;
2. ``render(factors, size, rng)`` turns them into float32 images in [0, 1], shape (n, C, size, size);
3. ``write_reports(factors, rng)`` writes one free-text report per patient from the same factors,
   prefixed by the modality as in MINIM's ``"Modality: findings"`` prompts.

``label_report(text)`` is the rule-based labeller: it maps any report (including ones a model
wrote) back to the set of findings it asserts. Coordinates are normalised, so any image size from
16 to 256 px renders the same anatomy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

Factors = dict[str, np.ndarray]


@dataclass(frozen=True)
class ModalityInfo:
    """What a modality is: its name, prompt prefix, channels, classes and findings.

    ``classes`` are the mutually exclusive labels of single-label modalities, index 0 being the
    normal class. ``findings`` are the names the labeller can assert; for single-label modalities
    each non-normal class is one finding of the same name. Multi-label modalities (``cxr``) have
    ``multilabel=True``, no classes, and a findings vector per patient.
    """

    name: str
    prompt_name: str
    channels: int
    findings: tuple[str, ...]
    classes: tuple[str, ...] = ()
    multilabel: bool = False
    biomarker: str | None = None
    biomarker_values: tuple[str, str] = ("negative", "positive")
    true_hazard_ratio: float | None = None
    description: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.findings) if self.multilabel else len(self.classes)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Names of the label columns: classes, or findings for multi-label modalities."""
        return self.findings if self.multilabel else self.classes

    def class_of(self, findings: frozenset[str]) -> int:
        """The class index a set of findings stands for (single-label modalities)."""
        if self.multilabel:
            raise ValueError(f"modality {self.name!r} is multi-label; it has no single class")
        present = [c for c in self.classes[1:] if c in findings]
        if not present:
            return 0
        return self.classes.index(present[0])


@dataclass
class PhantomBatch:
    """Images, labels, reports and the full ground truth of a batch of phantom patients."""

    modality: str
    images: np.ndarray  # uint8, (n, C, H, W)
    labels: np.ndarray  # int64, (n,); -1 for multi-label modalities
    findings: np.ndarray  # bool, (n, len(info.findings))
    reports: list[str]
    factors: Factors
    patient_ids: list[str]
    biomarker: np.ndarray | None = None  # float (n,): 1 positive, 0 negative, nan not applicable
    survival_time: np.ndarray | None = None  # float (n,), months; nan where not applicable
    survival_event: np.ndarray | None = None  # int8 (n,); -1 where not applicable
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.reports)


@dataclass(frozen=True)
class ReportLabels:
    """What the labeller read from one report."""

    modality: str | None
    findings: frozenset[str]
    measurements: Mapping[str, float] = field(default_factory=dict)


class PhantomModality:
    """Base class of a phantom modality; subclasses fill in the four methods below."""

    info: ClassVar[ModalityInfo]
    #: prevalence of each finding for multi-label modalities (same order as info.findings)
    prevalence: ClassVar[tuple[float, ...]] = ()
    #: the views :meth:`render_view` can draw besides the whole image (``"full"``)
    views: ClassVar[tuple[str, ...]] = ("full",)

    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        raise NotImplementedError

    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def render_view(
        self, factors: Factors, size: int, rng: np.random.Generator, view: str
    ) -> np.ndarray:
        """Images of another view than the whole one (see :attr:`views`)."""
        if view == "full":
            return self.render(factors, size, rng)
        raise ValueError(f"{type(self).__name__} has no view {view!r}; valid: {self.views}")

    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        raise NotImplementedError

    def label_report(self, text: str) -> ReportLabels:
        raise NotImplementedError

    # --- optional: survival for modalities with a biomarker -----------------------------------
    def biomarker_status(self, factors: Factors) -> np.ndarray | None:
        """1.0 / 0.0 per patient where the biomarker applies, nan elsewhere."""
        return None
