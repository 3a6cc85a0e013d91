"""``hf:<id-or-path>``: a Hugging Face ``datasets`` data set, from a local folder or the hub."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from pydantic import Field, field_validator

from synthbench.cohort import Cohort
from synthbench.data._common import (
    check_choice,
    check_disjoint_patients,
    class_prompt,
    one_line,
    open_image,
    resize,
    stack_images,
)
from synthbench.data.source import (
    DataSource,
    DataSpec,
    RealData,
    SourceOptions,
    image_level,
    warn_no_patient_ids,
)
from synthbench.errors import DataError

if TYPE_CHECKING:
    import datasets

TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
VAL_NAMES = ("validation", "val", "valid", "dev")
HUB_TIMEOUT_S = 1.0


class HFOptions(SourceOptions):
    image_column: str = Field("image", description="column holding images (PIL images or arrays)")
    label_column: str = Field(
        "label", description="class label column, used when present; '' for none"
    )
    text_column: str = Field(
        "text", description="report / prompt column, used when present; '' for none"
    )
    patient_column: str = Field(
        "patient_id",
        description="patient id column, used when present; '' for none (each row its own patient)",
    )
    train_split: str | None = Field(
        None, description="the data set's training split; default 'train'"
    )
    val_split: str | None = Field(
        None, description="its validation split; default validation/val/valid/dev"
    )
    test_split: str | None = Field(None, description="its test split; default 'test'")
    config: str | None = Field(
        None, description="configuration name, for data sets that have several"
    )
    size: int | None = Field(None, ge=4, le=4096, description="resize every image to size x size")
    channels: int | None = Field(
        None, description="1 or 3; default: 1 when every image is grayscale"
    )
    modality: str | None = Field(None, description="modality name; default: the data set's name")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: int | None) -> int | None:
        return check_choice("channels", value, (1, 3))


class HFSource(DataSource):
    """A ``datasets`` data set: a folder written by ``save_to_disk`` (a Dataset or a DatasetDict), a
    local folder of data files that ``load_dataset`` reads (images, parquet, csv, ...), or a hub id.

    Splits: the data set's train / validation / test splits are used when it has them (names set with
    ``train_split``, ``val_split``, ``test_split``); a missing validation or test split is cut from
    the training split by patient, and a data set with a single split is split by patient, both with
    ``split`` and ``split_seed``. Labels come from ``label_column``: a ``ClassLabel`` (its names),
    integers or strings; a list of class labels or strings gives multi-label findings. Patients
    come from ``patient_column`` (default ``patient_id``, used when present); without one each row
    is its own patient, and the load warns once and records it (``RealData.patient_split`` is
    ``"image"``, and so is every result row's ``patient_split``).

    Offline (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set), a hub id loads only from the local
    cache; online, the hub must answer within a second or the load fails at once.

    >>> data = load_data("hf:/data/my_saved_dataset?image_column=img&size=64")  # doctest: +SKIP
    """

    name = "hf"
    Options = HFOptions

    def load(self, spec: DataSpec) -> RealData:
        opts = self.options(spec)
        assert isinstance(opts, HFOptions)
        import datasets

        datasets.disable_progress_bars()
        raw = _open(spec, opts)
        parts = _pick_splits(raw, opts, spec)
        modality = opts.modality or _default_modality(spec.name)
        cohorts = _cohorts(parts, opts, spec, modality)
        if len(cohorts) == 3 and "split" in opts.model_fields_set:
            raise DataError(
                f"data spec {spec}: the data set ships train, validation and test splits, so option "
                "'split' does not apply"
            )
        # a missing validation and / or test split is cut from the training split
        if len(cohorts) < 3:
            fractions = [opts.split[0]] + [0.0 if k in cohorts else opts.split[k] for k in (1, 2)]
            cut = cohorts[0].split_by_patient(fractions, seed=opts.split_seed)
            cohorts = {0: cut[0], 1: cohorts.get(1, cut[1]), 2: cohorts.get(2, cut[2])}
        final = [cohorts[k] for k in range(3)]
        for name, c in zip(("train", "val", "test"), final):
            if len(c) == 0:
                raise DataError(
                    f"data spec {spec}: the {name} split is empty; use more samples or other split fractions"
                )
        check_disjoint_patients(final, spec)
        return RealData(str(spec), *final)


# ---------------------------------------------------------------------------- opening


def _open(spec: DataSpec, opts: HFOptions) -> datasets.Dataset | datasets.DatasetDict:
    import datasets

    path = Path(spec.name).expanduser()
    if path.exists() or _looks_like_path(spec.name):
        if not path.is_dir():
            what = "is a file" if path.exists() else "does not exist"
            raise DataError(f"{spec}: {path} {what}; hf: expects a dataset folder or a hub id")
        if _is_saved_dataset(path):
            try:
                return datasets.load_from_disk(str(path))
            except Exception as exc:  # datasets raises several types for a damaged folder
                raise DataError(
                    f"{spec}: cannot read the saved dataset in {path} ({one_line(exc)})"
                ) from None
        try:
            return datasets.load_dataset(str(path), opts.config)
        except Exception as exc:  # no data files, or files no builder reads
            raise DataError(
                f"{spec}: {path} is neither a save_to_disk folder nor a folder of data files that "
                f"datasets can read ({one_line(exc)})"
            ) from None
    if _offline():
        if not datasets.config.HF_HUB_OFFLINE:  # set after import: datasets would still go online
            raise DataError(_offline_message(spec))
        try:
            return datasets.load_dataset(spec.name, opts.config)
        except Exception:
            raise DataError(_offline_message(spec)) from None
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if not hub_reachable(endpoint):
        raise DataError(
            f"{spec}: no local folder {spec.name!r} and the hub ({endpoint}) cannot be reached; "
            "pass a local folder (save_to_disk output or data files), or load it on a connected machine "
            "and save_to_disk it"
        )
    try:
        return datasets.load_dataset(spec.name, opts.config)
    except Exception as exc:  # hub errors come in many types
        raise DataError(
            f"{spec}: cannot load {spec.name!r} from the hub ({one_line(exc)})"
        ) from None


def _offline() -> bool:
    return any(
        os.environ.get(k, "").upper() in TRUE_VALUES
        for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _offline_message(spec: DataSpec) -> str:
    return (
        f"{spec}: {spec.name!r} is not a local folder, and HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set, "
        "so the hub is not contacted and the data set is not in the local cache; pass a local folder "
        "(save_to_disk output or data files), or unset offline mode on a connected machine"
    )


def hub_reachable(endpoint: str, timeout_s: float = HUB_TIMEOUT_S) -> bool:
    """True when a TCP connection to ``endpoint``'s host opens within ``timeout_s`` seconds.

    The name lookup runs in a daemon thread too, since a resolver without network can stall for
    many seconds before it gives up.
    """
    url = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
    host = url.hostname or ""
    port = url.port or (80 if url.scheme == "http" else 443)
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _is_saved_dataset(path: Path) -> bool:
    return ((path / "dataset_info.json").is_file() and (path / "state.json").is_file()) or (
        path / "dataset_dict.json"
    ).is_file()


def _default_modality(name: str) -> str:
    path = Path(name).expanduser()
    return (path.resolve().name if path.exists() else name.rstrip("/").rsplit("/", 1)[-1]) or name


# ---------------------------------------------------------------------------- splits


def _pick_splits(
    raw: datasets.Dataset | datasets.DatasetDict, opts: HFOptions, spec: DataSpec
) -> dict[int, datasets.Dataset]:
    """The data set's splits by role (0 train, 1 val, 2 test); only the training role is required."""
    import datasets

    if isinstance(raw, datasets.Dataset):
        return {0: raw}
    available = list(raw)
    explicit = {0: opts.train_split, 1: opts.val_split, 2: opts.test_split}
    for role, name in explicit.items():
        if name is not None and name not in raw:
            option = ("train_split", "val_split", "test_split")[role]
            raise DataError(
                f"{spec}: option {option}={name!r}: no such split; the data set has {', '.join(available)}"
            )
    defaults = {
        0: "train" if "train" in raw else None,
        1: next((n for n in VAL_NAMES if n in raw), None),
        2: "test" if "test" in raw else None,
    }
    names = {role: explicit[role] or defaults[role] for role in range(3)}
    if names[0] is None:
        if len(available) == 1 and not any(explicit.values()):
            return {0: raw[available[0]]}
        raise DataError(
            f"{spec}: the data set has splits {', '.join(available)} but none named 'train'; "
            "pass ?train_split=NAME (and val_split / test_split)"
        )
    if len(set(n for n in names.values() if n)) < sum(1 for n in names.values() if n):
        raise DataError(
            f"{spec}: one split serves two roles ({names}); name three different splits"
        )
    return {role: raw[name] for role, name in names.items() if name}


# ---------------------------------------------------------------------------- columns


def _cohorts(
    parts: dict[int, datasets.Dataset], opts: HFOptions, spec: DataSpec, modality: str
) -> dict[int, Cohort]:
    first = parts[0]
    columns = first.column_names
    given = opts.model_fields_set
    for option in ("image_column", "label_column", "text_column", "patient_column"):
        column = getattr(opts, option)
        required = option == "image_column" or option in given
        if column and required and column not in columns:
            raise DataError(
                f"{spec}: option {option}={column!r}: no such column; the data set has {', '.join(columns)}"
            )
    for ds in parts.values():
        if ds.column_names != columns:
            raise DataError(
                f"{spec}: the splits have different columns ({columns} vs {ds.column_names})"
            )
    features = first.features
    label_feature = features.get(opts.label_column)

    arrays: list[np.ndarray] = []
    names: list[str] = []
    role_of: list[int] = []
    for role, ds in parts.items():
        decoded = _images(ds, opts, spec, role)
        arrays += decoded
        names += [f"{('train', 'val', 'test')[role]} row {i}" for i in range(len(decoded))]
        role_of += [role] * len(decoded)
    images = stack_images(arrays, names, channels=opts.channels, what=str(spec))
    role = np.asarray(role_of)

    label, label_names, findings, finding_names = _labels(
        parts, opts.label_column, label_feature, spec
    )
    text = _strings(parts, opts.text_column) if opts.text_column in columns else None
    if text is None and label_names:
        text = [class_prompt(modality, label_names[k]) if k >= 0 else "" for k in label]
    if text is None and finding_names:
        text = [
            class_prompt(modality, ", ".join(np.asarray(finding_names)[row]) or "no finding")
            for row in findings
        ]
    description = f"datasets {spec.name}" + (f" ({opts.config})" if opts.config else "")
    if opts.patient_column and opts.patient_column in columns:
        patients = _patients(parts, opts.patient_column, spec)
    else:
        warn_no_patient_ids(
            spec,
            f"name the patient id column with ?patient_column=NAME (the columns: {', '.join(columns)})",
        )
        description = image_level(description)
        patients = [
            f"{('train', 'val', 'test')[r]}-{i:07d}" for r in parts for i in range(len(parts[r]))
        ]
    cohort = Cohort.from_arrays(
        images,
        modality=modality,
        label=label,
        label_names={modality: label_names} if label_names or finding_names else {},
        text=text,
        patient_id=patients,
        findings=findings,
        finding_names=finding_names,
        source=str(spec),
        description=description,
    )
    if opts.channels == 3:
        cohort = cohort.to_channels(3)
    return {r: cohort.subset(np.flatnonzero(role == r)) for r in parts}


def _images(ds: datasets.Dataset, opts: HFOptions, spec: DataSpec, role: int) -> list[np.ndarray]:
    import datasets

    feature = ds.features[opts.image_column]
    column = (
        ds[opts.image_column]
        if isinstance(feature, datasets.Image)
        else ds.with_format("numpy")[opts.image_column]
    )
    out: list[np.ndarray] = []
    try:
        for item in column:
            if item is None:
                raise ValueError("the image is missing")
            array = open_image(item)
            out.append(resize(array, opts.size) if opts.size else array)
    except Exception as exc:  # decoding raises many types for a corrupt image
        split = ("train", "val", "test")[role]
        raise DataError(
            f"{spec}: cannot read the image in row {len(out)} of the {split} split, column "
            f"{opts.image_column!r} ({one_line(exc)})"
        ) from None
    return out


def _strings(parts: dict[int, datasets.Dataset], column: str) -> list[str]:
    return ["" if v is None else str(v) for ds in parts.values() for v in ds[column]]


def _patients(parts: dict[int, datasets.Dataset], column: str, spec: DataSpec) -> list[str]:
    for role, ds in parts.items():
        for i, value in enumerate(ds[column]):
            if value is None or str(value) == "":
                raise DataError(
                    f"{spec}: row {i} of the {('train', 'val', 'test')[role]} split has no patient id "
                    f"in column {column!r}; give every row its patient id"
                )
    return _strings(parts, column)


def _labels(
    parts: dict[int, datasets.Dataset], column: str, feature: Any, spec: DataSpec
) -> tuple[np.ndarray, list[str], np.ndarray | None, list[str]]:
    """(label, label names, findings, finding names) from the label column, or no labels."""
    import datasets

    n = sum(len(ds) for ds in parts.values())
    if feature is None:
        return np.full(n, -1, np.int64), [], None, []
    values = [v for ds in parts.values() for v in ds[column]]
    if isinstance(feature, datasets.ClassLabel):
        return np.asarray(values, np.int64), list(feature.names), None, []
    inner = getattr(feature, "feature", None)
    if isinstance(feature, datasets.List | datasets.LargeList) and inner is not None:
        if isinstance(inner, datasets.ClassLabel):
            finding_names = list(inner.names)
            findings = np.zeros((n, len(finding_names)), bool)
            for i, row in enumerate(values):
                findings[i, [k for k in row or () if k >= 0]] = True
        else:
            finding_names = sorted({str(v) for row in values for v in row or ()})
            index = {f: j for j, f in enumerate(finding_names)}
            findings = np.zeros((n, len(finding_names)), bool)
            for i, row in enumerate(values):
                findings[i, [index[str(v)] for v in row or ()]] = True
        return np.full(n, -1, np.int64), [], findings, finding_names
    if isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint")):
        label = np.asarray([-1 if v is None else v for v in values], np.int64)
        return label, [str(k) for k in range(int(label.max(initial=-1)) + 1)], None, []
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        names = sorted({v for v in values if v})
        index = {name: k for k, name in enumerate(names)}
        return np.asarray([index[v] if v else -1 for v in values], np.int64), names, None, []
    raise DataError(
        f"{spec}: label column {column!r} is {feature}; expected a ClassLabel, integers, strings, "
        "or a list of those (multi-label); pass ?label_column=NAME, or ?label_column= for none"
    )
