"""``imagefolder:<path>``: a folder of image files, with class sub-folders or a manifest."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from synthbench.cohort import Cohort
from synthbench.data._common import (
    check_choice,
    class_prompt,
    one_line,
    open_image,
    resize,
    shipped_splits,
    stack_images,
)
from synthbench.data.source import (
    DataSource,
    DataSpec,
    RealData,
    SourceOptions,
    image_level,
    split_cohort,
    warn_no_patient_ids,
)
from synthbench.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
MANIFEST_COLUMNS = ("path", "label", "text", "patient_id", "split")
SPLIT_INDEX = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


class ImageFolderOptions(SourceOptions):
    size: int | None = Field(None, ge=4, le=4096, description="resize every image to size x size")
    channels: int | None = Field(
        None, description="1 or 3; default: 1 when every image is grayscale"
    )
    modality: str | None = Field(None, description="modality name; default: the folder's name")
    manifest: str | None = Field(
        None,
        description="manifest file name inside the folder, or a path; default: manifest.csv / manifest.jsonl",
    )
    patient_column: str = Field(
        "patient_id",
        description="manifest column holding patient ids, used when present; '' for none "
        "(each image its own patient)",
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: int | None) -> int | None:
        return check_choice("channels", value, (1, 3))


@dataclass
class _Row:
    file: Path  # where the image is
    name: str  # how errors and default patient ids refer to it (the path relative to the folder)
    label: str = ""
    text: str = ""
    patient_id: str = ""
    split: str = ""


class ImageFolderSource(DataSource):
    """Images from a folder, in one of two layouts:

    - class sub-folders: ``<path>/<class>/**/*.png``; the label is the sub-folder's name (classes sorted);
      images directly in ``<path>`` with no sub-folders load unlabelled;
    - a manifest (``manifest.csv`` or ``manifest.jsonl`` in the folder, or ``?manifest=FILE``) with
      columns ``path`` (relative to the folder), and optionally ``label`` (class name), ``text`` (the
      report / prompt), ``patient_id`` (or the column ``?patient_column=NAME`` names) and ``split``
      (train / val / test: used instead of a random split).

    Splits are by patient. Without a patient column (class sub-folders, or a manifest without one)
    each image is its own patient: the load warns once and records it (``RealData.patient_split``
    is ``"image"``, and so is every result row's ``patient_split``).
    Images are read with PIL; colour images with three equal channels count as grayscale, 16-bit and
    float images are scaled per image to 0-255. Labelled images without text get the prompt
    ``"<modality>: <class>"``.

    >>> data = load_data("imagefolder:/data/oct_images?size=64&channels=1")  # doctest: +SKIP
    """

    name = "imagefolder"
    Options = ImageFolderOptions

    def load(self, spec: DataSpec) -> RealData:
        opts = self.options(spec)
        assert isinstance(opts, ImageFolderOptions)
        folder = Path(spec.name).expanduser()
        if not folder.exists():
            raise DataError(f"{spec}: folder {folder} does not exist")
        if not folder.is_dir():
            raise DataError(f"{spec}: {folder} is a file; imagefolder: expects a folder of images")
        manifest = _find_manifest(folder, opts.manifest, spec)
        if manifest is None and opts.patient_column and "patient_column" in opts.model_fields_set:
            raise DataError(
                f"{spec}: option patient_column={opts.patient_column!r} needs a manifest; {folder} "
                f"has none (looked for {' or '.join(MANIFEST_NAMES)})"
            )
        rows = (
            _read_manifest(manifest, folder, spec, opts) if manifest else _scan_folder(folder, spec)
        )
        by_patient = all(r.patient_id for r in rows)
        arrays = []
        for row in rows:
            try:
                array = open_image(row.file)
            except (
                Exception
            ) as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...) for bad files
                raise DataError(f"{spec}: cannot read image {row.file} ({one_line(exc)})") from None
            arrays.append(resize(array, opts.size) if opts.size else array)
        images = stack_images(
            arrays, [r.name for r in rows], channels=opts.channels, what=str(spec)
        )

        modality = opts.modality or folder.resolve().name
        description = f"image folder {folder} ({'manifest ' + manifest.name if manifest else 'class sub-folders'})"
        if not by_patient:
            warn_no_patient_ids(
                spec,
                f"add a {opts.patient_column or 'patient_id'} column to the manifest"
                if manifest
                else "list the images in a manifest.csv with path, label and patient_id columns",
            )
            description = image_level(description)
        class_names = sorted({r.label for r in rows if r.label})
        index = {name: k for k, name in enumerate(class_names)}
        cohort = Cohort.from_arrays(
            images,
            modality=modality,
            label=[index[r.label] if r.label else -1 for r in rows],
            label_names={modality: class_names} if class_names else {},
            text=[r.text or (class_prompt(modality, r.label) if r.label else "") for r in rows],
            patient_id=[r.patient_id if by_patient else r.name for r in rows],
            source=str(spec),
            description=description,
        )
        if opts.channels == 3:
            cohort = cohort.to_channels(3)
        if not any(r.split for r in rows):
            return split_cohort(cohort, opts, spec)
        if "split" in opts.model_fields_set:
            raise DataError(
                f"{spec}: the manifest {manifest} has a split column, so option 'split' does not apply"
            )
        return shipped_splits(cohort, np.array([SPLIT_INDEX[r.split] for r in rows]), spec)


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def _scan_folder(folder: Path, spec: DataSpec) -> list[_Row]:
    loose = sorted(p for p in folder.iterdir() if _is_image(p))
    rows: list[_Row] = []
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for file in sorted(p for p in sub.rglob("*") if _is_image(p)):
            if any(part.startswith(".") for part in file.relative_to(sub).parts):
                continue
            rows.append(_Row(file, file.relative_to(folder).as_posix(), label=sub.name))
    if rows and loose:
        raise DataError(
            f"{spec}: {folder} has both class sub-folders and loose images (e.g. {loose[0].name}); "
            "put every image in a class folder, or list them in a manifest.csv"
        )
    if not rows and not loose:
        raise DataError(
            f"{spec}: no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)} files in class "
            f"sub-folders, and for {' or '.join(MANIFEST_NAMES)})"
        )
    return rows or [_Row(p, p.name) for p in loose]


def _find_manifest(folder: Path, manifest: str | None, spec: DataSpec) -> Path | None:
    if manifest is None:
        found = [folder / n for n in MANIFEST_NAMES if (folder / n).is_file()]
        if len(found) > 1:
            raise DataError(
                f"{spec}: {folder} holds both {' and '.join(MANIFEST_NAMES)}; pass ?manifest=NAME"
            )
        return found[0] if found else None
    path = Path(manifest).expanduser()
    candidates = [path] if path.is_absolute() else [folder / path, path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"{spec}: manifest {candidates[0]} not found")


def _read_manifest(
    manifest: Path, folder: Path, spec: DataSpec, opts: ImageFolderOptions
) -> list[_Row]:
    if manifest.suffix.lower() == ".csv":
        records = _read_csv(manifest, spec)
    elif manifest.suffix.lower() in (".jsonl", ".ndjson"):
        records = _read_jsonl(manifest, spec)
    else:
        raise DataError(f"{spec}: manifest {manifest} must be a .csv or .jsonl file")
    if not records:
        raise DataError(f"{spec}: manifest {manifest} has no rows")
    columns = list(dict.fromkeys(k for _, record in records for k in record))
    if "path" not in columns:
        raise DataError(
            f"{spec}: manifest {manifest} lacks the 'path' column (image paths relative to {folder}); "
            f"its columns: {', '.join(columns)}"
        )
    patient_column = opts.patient_column
    valid = list(dict.fromkeys([*MANIFEST_COLUMNS, *([patient_column] if patient_column else [])]))
    unknown = [c for c in columns if c not in valid]
    if unknown:
        raise DataError(
            f"{spec}: manifest {manifest} has unknown column(s) {', '.join(map(repr, unknown))}; "
            f"valid columns: {', '.join(valid)} (name a patient column with ?patient_column=NAME)"
        )
    if (
        patient_column
        and "patient_column" in opts.model_fields_set
        and patient_column not in columns
    ):
        raise DataError(
            f"{spec}: option patient_column={patient_column!r}: manifest {manifest} has no such "
            f"column; its columns: {', '.join(columns)}"
        )
    with_patients = bool(patient_column) and patient_column in columns
    rows = []
    with_split = any(record.get("split") for _, record in records)
    for line, record in records:
        where = f"manifest {manifest} line {line}"
        name = record.get("path", "")
        if not name:
            raise DataError(f"{spec}: {where} has an empty path")
        file = folder / name
        if not file.is_file():
            raise DataError(f"{spec}: {where} names {name}, but {file} does not exist")
        split = record.get("split", "").lower()
        patient = record.get(patient_column, "") if with_patients else ""
        if with_patients and not patient:
            raise DataError(
                f"{spec}: {where} has no {patient_column}; give every row its patient id"
            )
        if with_split and split not in SPLIT_INDEX:
            raise DataError(
                f"{spec}: {where} has split {record.get('split', '')!r}; use train, val or test on every row"
            )
        rows.append(
            _Row(
                file,
                name,
                record.get("label", ""),
                record.get("text", ""),
                patient,
                split,
            )
        )
    return rows


def _read_csv(manifest: Path, spec: DataSpec) -> list[tuple[int, dict[str, str]]]:
    records = []
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for record in reader:
                if None in record:
                    raise DataError(
                        f"{spec}: manifest {manifest} line {reader.line_num} has more fields than its header"
                    )
                clean = {k.strip(): (v or "").strip() for k, v in record.items()}
                if any(clean.values()):
                    records.append((reader.line_num, clean))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{spec}: cannot read manifest {manifest} ({one_line(exc)})") from None
    return records


def _read_jsonl(manifest: Path, spec: DataSpec) -> list[tuple[int, dict[str, str]]]:
    try:
        lines = manifest.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{spec}: cannot read manifest {manifest} ({one_line(exc)})") from None
    records = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{spec}: manifest {manifest} line {line_number} is not valid JSON ({exc.msg})"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"{spec}: manifest {manifest} line {line_number} is not a JSON object")
        records.append(
            (line_number, {str(k): "" if v is None else str(v).strip() for k, v in record.items()})
        )
    return records
