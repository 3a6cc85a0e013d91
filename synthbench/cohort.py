"""Cohort: a set of samples, real or synthetic, in memory as numpy and on disk as a `datasets` folder.

>>> from synthbench.cohort import Cohort
>>> from synthbench.data.phantoms import simulate
>>> cohort = Cohort.from_phantom(simulate("oct", 12, size=16, seed=0), source="phantom:oct")
>>> train, val, test = cohort.split_by_patient((0.5, 0.25, 0.25), seed=0)
>>> len(train) + len(val) + len(test)
12

Per sample: image (C x H x W, uint8), modality, class label (-1 when none), multi-label findings,
text (the report, which is also the prompt), patient id, native channel count, biomarker status
(1/0/nan), survival time and event (nan/-1 when none), the latent factors that made it (phantoms)
and its source (data spec, or generator name + config hash + seed). All images of a cohort share
one shape; modalities with fewer native channels are replicated up to the cohort's channel count
and the native count is kept, so :meth:`native_images` can average them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from synthbench import __version__
from synthbench.errors import DataError
from synthbench.io import atomic_dir

if TYPE_CHECKING:
    import datasets
    import torch

    from synthbench.data.phantoms import PhantomBatch

COHORT_FORMAT = 1
INFO_FILE = "synthbench_cohort.json"
COLUMNS = (
    "image",
    "modality",
    "label",
    "findings",
    "text",
    "patient_id",
    "channels",
    "biomarker",
    "survival_time",
    "survival_event",
    "factors",
    "source",
)


class CohortInfo(BaseModel):
    """Cohort-level metadata, saved beside the `datasets` folder as ``synthbench_cohort.json``."""

    model_config = ConfigDict(extra="forbid")

    format: int = COHORT_FORMAT
    synthbench_version: str = __version__
    n: int
    image_shape: tuple[int, int, int]
    modalities: list[str]
    label_names: dict[str, list[str]]
    finding_names: list[str]
    biomarker_name: str | None = None
    description: str = ""


@dataclass
class Cohort:
    """A set of samples; see the module docstring. Build with :meth:`from_phantom` or a loader."""

    images: np.ndarray
    modality: np.ndarray
    label: np.ndarray
    findings: np.ndarray
    text: list[str]
    patient_id: list[str]
    channels: np.ndarray
    biomarker: np.ndarray
    survival_time: np.ndarray
    survival_event: np.ndarray
    factors: dict[str, np.ndarray]
    source: list[str]
    label_names: dict[str, list[str]] = field(default_factory=dict)
    finding_names: list[str] = field(default_factory=list)
    biomarker_name: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(
                f"cohort images must be uint8 of shape (n, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        for name in (
            "modality",
            "label",
            "text",
            "patient_id",
            "channels",
            "biomarker",
            "survival_time",
            "survival_event",
            "source",
        ):
            if len(getattr(self, name)) != n:
                raise DataError(
                    f"cohort column {name!r} has {len(getattr(self, name))} rows, images have {n}"
                )
        if self.findings.shape != (n, len(self.finding_names)):
            raise DataError(
                f"cohort findings must have shape ({n}, {len(self.finding_names)}), got {self.findings.shape}"
            )
        for k, v in self.factors.items():
            if len(v) != n:
                raise DataError(f"cohort factor {k!r} has {len(v)} rows, images have {n}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray,
        *,
        modality: str | Sequence[str],
        label: Sequence[int] | np.ndarray | None = None,
        label_names: dict[str, list[str]] | None = None,
        text: Sequence[str] | None = None,
        patient_id: Sequence[str] | None = None,
        findings: np.ndarray | None = None,
        finding_names: Sequence[str] = (),
        source: str | Sequence[str] = "",
        biomarker: np.ndarray | None = None,
        biomarker_name: str | None = None,
        survival_time: np.ndarray | None = None,
        survival_event: np.ndarray | None = None,
        factors: dict[str, np.ndarray] | None = None,
        description: str = "",
    ) -> Cohort:
        """A cohort from arrays; absent columns get their 'none' values."""
        images = np.ascontiguousarray(images)
        n = len(images)
        mods = np.asarray(
            [modality] * n if isinstance(modality, str) else list(modality), dtype=object
        )
        return cls(
            images=images,
            modality=mods,
            label=np.full(n, -1, np.int64) if label is None else np.asarray(label, np.int64),
            findings=np.zeros((n, len(finding_names)), bool)
            if findings is None
            else np.asarray(findings, bool),
            text=[""] * n if text is None else list(text),
            patient_id=[f"p{i:06d}" for i in range(n)]
            if patient_id is None
            else [str(p) for p in patient_id],
            channels=np.full(n, images.shape[1], np.int8),
            biomarker=np.full(n, np.nan)
            if biomarker is None
            else np.asarray(biomarker, np.float64),
            survival_time=np.full(n, np.nan)
            if survival_time is None
            else np.asarray(survival_time, np.float64),
            survival_event=np.full(n, -1, np.int8)
            if survival_event is None
            else np.asarray(survival_event, np.int8),
            factors={k: np.asarray(v) for k, v in (factors or {}).items()},
            source=[source] * n if isinstance(source, str) else list(source),
            label_names=dict(label_names or {}),
            finding_names=list(finding_names),
            biomarker_name=biomarker_name,
            description=description,
        )

    @classmethod
    def from_phantom(cls, batch: PhantomBatch, *, source: str = "") -> Cohort:
        """A cohort from a simulated phantom batch, keeping its whole ground truth."""
        from synthbench.data.phantoms import get_modality

        info = get_modality(batch.modality).info
        n = len(batch)
        return cls.from_arrays(
            batch.images,
            modality=batch.modality,
            label=batch.labels,
            label_names={batch.modality: list(info.label_names)}
            if not info.multilabel
            else {batch.modality: []},
            text=batch.reports,
            patient_id=batch.patient_ids,
            findings=batch.findings,
            finding_names=info.findings,
            source=source or f"phantom:{batch.modality}",
            biomarker=batch.biomarker,
            biomarker_name=info.biomarker,
            survival_time=batch.survival_time
            if batch.survival_time is not None
            else np.full(n, np.nan),
            survival_event=batch.survival_event
            if batch.survival_event is not None
            else np.full(n, -1),
            factors=batch.factors,
        )

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    @property
    def modalities(self) -> list[str]:
        """Modalities present, in order of first appearance."""
        return list(dict.fromkeys(self.modality.tolist()))

    @property
    def multilabel(self) -> bool:
        """True when samples carry findings vectors but no class labels (e.g. chest X-ray)."""
        return bool(len(self)) and bool((self.label < 0).all()) and bool(self.finding_names)

    def native_images(self, index: int | slice | np.ndarray) -> list[np.ndarray]:
        """Images in their modality's native channel count (replicated channels averaged back)."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        out = []
        for i in idx:
            img, c = self.images[i], int(self.channels[i])
            if c < img.shape[0]:
                img = (
                    img.reshape(c, img.shape[0] // c, *img.shape[1:])
                    .mean(axis=1)
                    .round()
                    .astype(np.uint8)
                )
            out.append(img)
        return out

    def subset(self, indices: Iterable[int] | np.ndarray) -> Cohort:
        """A new cohort with the given rows (in the given order)."""
        idx = np.asarray(
            list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64
        )
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(
            self,
            images=self.images[idx],
            modality=self.modality[idx],
            label=self.label[idx],
            findings=self.findings[idx],
            text=[self.text[i] for i in idx],
            patient_id=[self.patient_id[i] for i in idx],
            channels=self.channels[idx],
            biomarker=self.biomarker[idx],
            survival_time=self.survival_time[idx],
            survival_event=self.survival_event[idx],
            factors={k: v[idx] for k, v in self.factors.items()},
            source=[self.source[i] for i in idx],
        )

    def to_channels(self, channels: int) -> Cohort:
        """The same cohort with images replicated up to ``channels`` (1 -> 3), or averaged to
        gray (``channels=1``); native counts kept."""
        c = self.images.shape[1]
        if c == channels:
            return self
        if channels == 1:
            gray = np.rint(self.images.astype(np.float32).mean(axis=1, keepdims=True))
            return replace(self, images=gray.astype(self.images.dtype))
        if channels % c:
            raise DataError(f"cannot convert {c}-channel images to {channels} channels")
        return replace(self, images=np.repeat(self.images, channels // c, axis=1))

    @classmethod
    def concat(cls, cohorts: Sequence[Cohort]) -> Cohort:
        """Concatenate cohorts of one image size; channels are raised to the largest count."""
        if not cohorts:
            raise DataError("concat needs at least one cohort")
        sizes = {c.images.shape[2:] for c in cohorts}
        if len(sizes) > 1:
            raise DataError(f"cannot concatenate cohorts of different image sizes: {sorted(sizes)}")
        channels = max(c.images.shape[1] for c in cohorts)
        cohorts = [c.to_channels(channels) for c in cohorts]
        finding_names = list(dict.fromkeys(f for c in cohorts for f in c.finding_names))
        label_names: dict[str, list[str]] = {}
        for c in cohorts:
            for mod, names in c.label_names.items():
                if mod in label_names and label_names[mod] != names:
                    raise DataError(f"cohorts disagree on the classes of modality {mod!r}")
                label_names[mod] = names
        biomarkers = {c.biomarker_name for c in cohorts if c.biomarker_name}
        findings = np.zeros((sum(len(c) for c in cohorts), len(finding_names)), bool)
        row = 0
        for c in cohorts:
            cols = [finding_names.index(f) for f in c.finding_names]
            findings[row : row + len(c), cols] = c.findings
            row += len(c)
        factor_names = list(dict.fromkeys(k for c in cohorts for k in c.factors))
        factors = {}
        for k in factor_names:
            parts = [
                c.factors[k] if k in c.factors else _missing(len(c), cohorts, k) for c in cohorts
            ]
            factors[k] = np.concatenate(parts)
        return cls(
            images=np.concatenate([c.images for c in cohorts]),
            modality=np.concatenate([c.modality for c in cohorts]),
            label=np.concatenate([c.label for c in cohorts]),
            findings=findings,
            text=[t for c in cohorts for t in c.text],
            patient_id=[p for c in cohorts for p in c.patient_id],
            channels=np.concatenate([c.channels for c in cohorts]),
            biomarker=np.concatenate([c.biomarker for c in cohorts]),
            survival_time=np.concatenate([c.survival_time for c in cohorts]),
            survival_event=np.concatenate([c.survival_event for c in cohorts]),
            factors=factors,
            source=[s for c in cohorts for s in c.source],
            label_names=label_names,
            finding_names=finding_names,
            biomarker_name="+".join(sorted(biomarkers)) if biomarkers else None,
            description="; ".join(dict.fromkeys(c.description for c in cohorts if c.description)),
        )

    # ------------------------------------------------------------------ splits
    def split_by_patient(
        self,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        *,
        seed: int = 0,
        stratify: bool = True,
    ) -> list[Cohort]:
        """Split into parts by patient (no patient in two parts), stratified by class and modality.

        Each stratum's patients are shuffled with ``seed`` and cut by ``fractions``; the result does
        not depend on row order.
        """
        fr = np.asarray(fractions, dtype=np.float64)
        if (fr < 0).any() or fr.sum() <= 0:
            raise DataError(
                f"split fractions must be non-negative and sum above 0, got {list(fractions)}"
            )
        fr = fr / fr.sum()
        # a patient's stratum is the set of (modality, label, findings) over all its images
        rows_of: dict[str, set[tuple]] = {}
        for i, p in enumerate(self.patient_id):
            key = (
                (self.modality[i], int(self.label[i]), tuple(self.findings[i].tolist()))
                if stratify
                else ()
            )
            rows_of.setdefault(p, set()).add(key)
        strata: dict[tuple, list[str]] = {}
        for p in sorted(rows_of):
            strata.setdefault(tuple(sorted(rows_of[p])), []).append(p)
        rng = np.random.default_rng(seed)
        part_of: dict[str, int] = {}
        for key in sorted(strata, key=repr):
            group = strata[key]
            order = rng.permutation(len(group))
            bounds = np.round(np.cumsum(fr) * len(group)).astype(int)
            for rank, j in enumerate(order):
                part_of[group[j]] = int(np.searchsorted(bounds, rank, side="right"))
        parts = np.array([part_of[p] for p in self.patient_id])
        return [self.subset(np.flatnonzero(parts == k)) for k in range(len(fr))]

    # ------------------------------------------------------------------ summary
    def summary(self) -> str:
        """A one-screen description: size, modalities, class counts, text and survival coverage."""
        lines = [
            f"Cohort: {len(self)} samples, {len(set(self.patient_id))} patients, images {self.image_shape} uint8",
        ]
        if self.description:
            lines.append(f"  {self.description}")
        for mod in self.modalities:
            rows = self.modality == mod
            lines.append(
                f"  {mod}: {int(rows.sum())} samples, native channels {int(self.channels[rows][0])}"
            )
            names = self.label_names.get(mod, [])
            if names and (self.label[rows] >= 0).any():
                counts = np.bincount(self.label[rows][self.label[rows] >= 0], minlength=len(names))
                lines.append("    classes: " + ", ".join(f"{n}={c}" for n, c in zip(names, counts)))
            if self.finding_names and self.findings[rows].any():
                counts = self.findings[rows].sum(axis=0)
                lines.append(
                    "    findings: "
                    + ", ".join(f"{n}={c}" for n, c in zip(self.finding_names, counts) if c)
                )
            bio = self.biomarker[rows]
            if (~np.isnan(bio)).any():
                lines.append(
                    f"    biomarker {self.biomarker_name}: positive={int((bio == 1).sum())} "
                    f"negative={int((bio == 0).sum())}"
                )
            surv = self.survival_event[rows]
            if (surv >= 0).any():
                lines.append(
                    f"    survival: {int((surv >= 0).sum())} patients, {int((surv == 1).sum())} events, "
                    f"median follow-up {np.nanmedian(self.survival_time[rows]):.1f} months"
                )
        with_text = [t for t in self.text if t]
        if with_text:
            lines.append(f"  reports: {len(with_text)}; e.g. {with_text[0][:100]!r}")
        sources = list(dict.fromkeys(self.source))
        lines.append(f"  source: {', '.join(sources[:3])}{' ...' if len(sources) > 3 else ''}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ torch
    def torch_dataset(
        self, *, channels: int | None = None, transform: Any = None
    ) -> torch.utils.data.Dataset:
        """A torch ``Dataset`` yielding ``(image, target)``: float images in [0, 1] and the label
        (or the float findings vector for multi-label cohorts)."""
        from synthbench._torch_view import CohortDataset

        return CohortDataset(
            self if channels is None else self.to_channels(channels), transform=transform
        )

    # ------------------------------------------------------------------ disk
    def info(self) -> CohortInfo:
        return CohortInfo(
            n=len(self),
            image_shape=self.image_shape,
            modalities=self.modalities,
            label_names=self.label_names,
            finding_names=self.finding_names,
            biomarker_name=self.biomarker_name,
            description=self.description,
        )

    def to_hf(self) -> datasets.Dataset:
        """This cohort as a Hugging Face ``datasets.Dataset`` (images as uint8 arrays)."""
        import datasets

        c, h, w = self.image_shape
        factor_types = {k: _factor_feature(v) for k, v in self.factors.items()}
        features = datasets.Features(
            {
                "image": datasets.Array3D(shape=(c, h, w), dtype="uint8"),
                "modality": datasets.Value("string"),
                "label": datasets.Value("int64"),
                "findings": datasets.Sequence(datasets.Value("string")),
                "text": datasets.Value("string"),
                "patient_id": datasets.Value("string"),
                "channels": datasets.Value("int8"),
                "biomarker": datasets.Value("float64"),
                "survival_time": datasets.Value("float64"),
                "survival_event": datasets.Value("int8"),
                "factors": {k: datasets.Value(t) for k, t in factor_types.items()}
                or datasets.Value("string"),
                "source": datasets.Value("string"),
            }
        )
        names = np.asarray(self.finding_names, dtype=object)
        data = {
            "image": self.images,
            "modality": self.modality.tolist(),
            "label": self.label,
            "findings": [names[row].tolist() for row in self.findings],
            "text": self.text,
            "patient_id": self.patient_id,
            "channels": self.channels,
            "biomarker": self.biomarker,
            "survival_time": self.survival_time,
            "survival_event": self.survival_event,
            "factors": _factor_rows(self.factors, factor_types, len(self))
            if self.factors
            else [""] * len(self),
            "source": self.source,
        }
        return datasets.Dataset.from_dict(data, features=features)

    def save(self, path: str | Path) -> Path:
        """Write the cohort as a `datasets` folder plus ``synthbench_cohort.json``, atomically:
        a temporary folder beside ``path`` is renamed into place, so a crash never leaves a half cohort."""
        import datasets

        datasets.disable_progress_bars()
        with atomic_dir(path) as work:
            self.to_hf().save_to_disk(str(work))
            (work / INFO_FILE).write_text(self.info().model_dump_json(indent=2))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Cohort:
        """Load a cohort folder written by :meth:`save`; a folder that is not one is a clear error."""
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"{path}: no such cohort folder")
        info_path = path / INFO_FILE
        if not info_path.is_file():
            raise DataError(
                f"{path}: not a synthbench cohort (missing {INFO_FILE}); write one with 'synthbench data make'"
            )
        try:
            info = CohortInfo.model_validate_json(info_path.read_text())
        except ValueError as exc:
            first = str(exc).splitlines()
            raise DataError(
                f"{info_path}: invalid cohort metadata ({' '.join(first[:3])})"
            ) from None
        if info.format != COHORT_FORMAT:
            raise DataError(
                f"{info_path}: cohort format {info.format}, this synthbench reads format {COHORT_FORMAT}"
            )
        if info.n == 0:  # `datasets` writes no shard for an empty table and cannot read it back
            return cls.from_arrays(
                np.zeros((0, *info.image_shape), np.uint8),
                modality=[],
                label_names=info.label_names,
                finding_names=info.finding_names,
                biomarker_name=info.biomarker_name,
                description=info.description,
            )
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:  # datasets raises several types for a damaged folder
            raise DataError(
                f"{path}: cannot read the cohort's dataset files ({type(exc).__name__}: {exc})"
            ) from None
        missing = [c for c in COLUMNS if c not in ds.column_names]
        if missing:
            raise DataError(
                f"{path}: cohort dataset lacks columns {missing}; expected {list(COLUMNS)}"
            )
        if len(ds) != info.n:
            raise DataError(
                f"{path}: dataset holds {len(ds)} samples but {INFO_FILE} says {info.n}"
            )
        return cls._from_hf(ds, info)

    @classmethod
    def _from_hf(cls, ds: datasets.Dataset, info: CohortInfo) -> Cohort:
        # read Arrow columns directly: row-wise conversion through `datasets` is ~100x slower
        table = ds.data.table.combine_chunks()
        if ds._indices is not None:  # a filtered / shuffled view: materialise its rows
            table = ds.flatten_indices().data.table.combine_chunks()
        n = table.num_rows

        def column(name: str) -> Any:
            return (
                table.column(name).chunk(0) if table.column(name).num_chunks else table.column(name)
            )

        images = (
            _leaf_values(column("image")).reshape(n, *info.image_shape).astype(np.uint8, copy=False)
        )
        names = info.finding_names
        findings = np.zeros((n, len(names)), bool)
        index = {f: j for j, f in enumerate(names)}
        for i, row in enumerate(column("findings").to_pylist()):
            for f in row or ():
                if f not in index:
                    raise DataError(f"cohort sample {i} has finding {f!r}, not among {names}")
                findings[i, index[f]] = True
        factors: dict[str, np.ndarray] = {}
        raw = column("factors")
        if hasattr(raw.type, "num_fields"):
            for j in range(raw.type.num_fields):
                values = raw.field(j).to_numpy(zero_copy_only=False)
                factors[raw.type.field(j).name] = (
                    values.astype(str) if values.dtype == object else values
                )
        return cls(
            images=images,
            modality=np.asarray(column("modality").to_pylist(), dtype=object),
            label=column("label").to_numpy(zero_copy_only=False).astype(np.int64),
            findings=findings,
            text=column("text").to_pylist(),
            patient_id=column("patient_id").to_pylist(),
            channels=column("channels").to_numpy(zero_copy_only=False).astype(np.int8),
            biomarker=column("biomarker").to_numpy(zero_copy_only=False).astype(np.float64),
            survival_time=column("survival_time").to_numpy(zero_copy_only=False).astype(np.float64),
            survival_event=column("survival_event").to_numpy(zero_copy_only=False).astype(np.int8),
            factors=factors,
            source=column("source").to_pylist(),
            label_names=info.label_names,
            finding_names=names,
            biomarker_name=info.biomarker_name,
            description=info.description,
        )


def _leaf_values(array: Any) -> np.ndarray:
    """The flat values under (nested) list or fixed-shape array columns, as numpy."""
    import pyarrow as pa

    values = array.storage if isinstance(array, pa.ExtensionArray) else array
    while (
        pa.types.is_list(values.type)
        or pa.types.is_large_list(values.type)
        or pa.types.is_fixed_size_list(values.type)
    ):
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False)


def row_digests(cohort: Cohort) -> list[str]:
    """The SHA-1 of each image's bytes: how the runner tells which real images a model saw."""
    import hashlib

    return [hashlib.sha1(img.tobytes()).hexdigest() for img in cohort.images]


def image_digests(cohort: Cohort) -> frozenset[str]:
    return frozenset(row_digests(cohort))


def is_cohort_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :meth:`Cohort.save`."""
    return (Path(path) / INFO_FILE).is_file()


def _factor_feature(values: np.ndarray) -> str:
    kind = np.asarray(values).dtype.kind
    return "float64" if kind in "biuf" else "string"


def _factor_rows(factors: dict[str, np.ndarray], types: dict[str, str], n: int) -> list[dict]:
    cols = {
        k: (np.asarray(v, np.float64).tolist() if types[k] == "float64" else [str(x) for x in v])
        for k, v in factors.items()
    }
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def _missing(n: int, cohorts: Sequence[Cohort], key: str) -> np.ndarray:
    """Fill for a factor that some concatenated cohorts lack: nan, or '' for text factors."""
    kinds = {c.factors[key].dtype.kind for c in cohorts if key in c.factors}
    if kinds <= set("biuf"):
        return np.full(n, np.nan)
    return np.full(n, "", dtype=object)
