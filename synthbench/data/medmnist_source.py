"""``medmnist:<flag>``: the 2D MedMNIST v2 data sets, read through the ``medmnist`` package, offline."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from synthbench.cohort import Cohort
from synthbench.data._common import check_choice, class_prompt, one_line, shipped_splits
from synthbench.data.source import (
    DataSource,
    DataSpec,
    RealData,
    SourceOptions,
    image_level,
    warn_no_patient_ids,
)
from synthbench.errors import DataError

SIZES = (28, 64, 128, 224)

# words that open each flag's prompt, from the imaging modality the MedMNIST paper names
MODALITY_WORDS = {
    "pathmnist": "Colon pathology",
    "chestmnist": "Chest X-ray",
    "dermamnist": "Dermatoscopy",
    "octmnist": "Retinal OCT",
    "pneumoniamnist": "Pediatric chest X-ray",
    "retinamnist": "Fundus photograph",
    "breastmnist": "Breast ultrasound",
    "bloodmnist": "Blood cell microscopy",
    "tissuemnist": "Kidney cortex microscopy",
    "organamnist": "Abdominal CT, axial",
    "organcmnist": "Abdominal CT, coronal",
    "organsmnist": "Abdominal CT, sagittal",
}


class MedMNISTOptions(SourceOptions):
    root: str | None = Field(
        None, description="folder holding <flag>[_<size>].npz; default: medmnist's root"
    )
    size: int = Field(28, description="image size: 28, 64, 128 or 224")

    @field_validator("size")
    @classmethod
    def _size(cls, value: int) -> int:
        return check_choice("size", value, SIZES)  # type: ignore[return-value]


class MedMNISTSource(DataSource):
    """A 2D MedMNIST data set (``medmnist:pathmnist``, ``medmnist:chestmnist?size=64``, ...).

    Reads ``<root>/<flag>.npz`` (``<flag>_<size>.npz`` above 28 px) with the ``medmnist`` package's
    own data set class and never downloads: place the file there on a connected machine. Uses the
    official train / val / test splits, so ``split`` does not apply. MedMNIST ships no patient ids,
    so each image is its own patient: the load warns once and records it
    (``RealData.patient_split`` is ``"image"``, and so is every result row's). Multi-label flags (chestmnist) give findings named after
    medmnist's label table; the others give class labels. The modality is the flag, and each image
    gets a report-like prompt such as ``"Retinal OCT: drusen"``.

    >>> data = load_data("medmnist:octmnist?root=/data/medmnist")  # doctest: +SKIP
    """

    name = "medmnist"
    Options = MedMNISTOptions

    def load(self, spec: DataSpec) -> RealData:
        opts = self.options(spec)
        assert isinstance(opts, MedMNISTOptions)
        if "split" in opts.model_fields_set:
            raise DataError(
                f"data spec {spec}: option 'split' does not apply; MedMNIST ships official "
                "train/val/test splits, which are always used"
            )
        import medmnist
        from medmnist.info import DEFAULT_ROOT, INFO

        flag = spec.name.strip().lower()
        info = INFO.get(flag)
        if info is None or flag.endswith("3d"):
            raise DataError(_unknown_flag(spec, flag, INFO))
        root = Path(opts.root).expanduser() if opts.root else Path(DEFAULT_ROOT)
        file = root / (f"{flag}.npz" if opts.size == 28 else f"{flag}_{opts.size}.npz")
        if not file.is_file():
            raise DataError(
                f"{spec}: {file} not found; download it from the MedMNIST site "
                f"({info[_url_key(opts.size)]}) on a connected machine and place it there, "
                "or pass ?root=DIR"
            )
        dataset_class = getattr(medmnist, info["python_class"])
        images: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for split in ("train", "val", "test"):
            try:
                data = dataset_class(split=split, root=str(root), size=opts.size, download=False)
                split_images, split_labels = np.asarray(data.imgs), np.asarray(data.labels)
            except Exception as exc:  # a truncated or foreign npz fails in numpy or zipfile
                raise DataError(
                    f"{spec}: cannot read the {split} split of {file} ({one_line(exc)})"
                ) from None
            images.append(_to_nchw(split_images, info["n_channels"], opts.size, file, split))
            labels.append(
                _check_labels(
                    split_labels, len(split_images), len(info["label"]), info["task"], file, split
                )
            )
        cohort = _cohort(
            flag, info, np.concatenate(images), np.concatenate(labels), str(spec), opts.size
        )
        part = np.repeat(np.arange(3), [len(x) for x in images])
        warn_no_patient_ids(
            spec,
            "MedMNIST ships none; for patient-level splits load its source data set with patient "
            "ids (hf: or imagefolder: with a patient column)",
        )
        return shipped_splits(cohort, part, spec)


def _cohort(
    flag: str, info: dict, images: np.ndarray, labels: np.ndarray, source: str, size: int
) -> Cohort:
    names = [info["label"][k] for k in sorted(info["label"], key=int)]
    words = MODALITY_WORDS.get(flag, info["python_class"])
    patients = [f"{flag}-{i:07d}" for i in range(len(images))]
    description = image_level(f"MedMNIST {flag} ({size}px), official splits")
    if info["task"].startswith("multi-label"):
        findings = labels.astype(bool)
        text = [
            class_prompt(words, ", ".join(n for n, f in zip(names, row) if f) or "no finding")
            for row in findings
        ]
        return Cohort.from_arrays(
            images,
            modality=flag,
            label_names={flag: []},
            text=text,
            patient_id=patients,
            findings=findings,
            finding_names=names,
            source=source,
            description=description,
        )
    label = labels[:, 0].astype(np.int64)
    phrases = [f"grade {n}" if n.isdigit() else n for n in names]
    text = [class_prompt(words, phrases[k]) for k in label]
    return Cohort.from_arrays(
        images,
        modality=flag,
        label=label,
        label_names={flag: names},
        text=text,
        patient_id=patients,
        source=source,
        description=description,
    )


def _to_nchw(images: np.ndarray, n_channels: int, size: int, file: Path, split: str) -> np.ndarray:
    expected = (size, size) if n_channels == 1 else (size, size, 3)
    if images.dtype != np.uint8 or images.shape[1:] != expected:
        raise DataError(
            f"{file}: {split}_images is {images.dtype} {images.shape}, expected uint8 (n, {', '.join(map(str, expected))})"
        )
    return images[:, None] if n_channels == 1 else images.transpose(0, 3, 1, 2)


def _check_labels(
    labels: np.ndarray, n: int, n_labels: int, task: str, file: Path, split: str
) -> np.ndarray:
    width = n_labels if task.startswith("multi-label") else 1
    labels = labels.reshape(len(labels), -1) if labels.ndim == 1 else labels
    if labels.shape != (n, width):
        raise DataError(f"{file}: {split}_labels has shape {labels.shape}, expected ({n}, {width})")
    high = 1 if width > 1 else n_labels - 1
    if len(labels) and (labels.min() < 0 or labels.max() > high):
        raise DataError(f"{file}: {split}_labels holds values outside 0..{high}")
    return labels


def _url_key(size: int) -> str:
    return "url" if size == 28 else f"url_{size}"


def _unknown_flag(spec: DataSpec, flag: str, info: dict) -> str:
    valid = [f for f in info if not f.endswith("3d")]
    if flag in info:
        return f"data spec {spec}: {flag} holds 3D volumes; synthbench reads the 2D flags: {', '.join(valid)}"
    close = difflib.get_close_matches(flag, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"data spec {spec}: unknown MedMNIST flag {flag!r}; {hint}valid: {', '.join(valid)}"
