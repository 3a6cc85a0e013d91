"""Helpers shared by the file-based data sources: image decoding, stacking and shipped splits."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthbench.cohort import Cohort
from synthbench.data.source import DataSpec, RealData
from synthbench.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    first = text[0].strip() if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def check_choice(name: str, value: int | None, choices: Sequence[int]) -> int | None:
    """Validator body for an integer option restricted to ``choices`` (``None`` passes)."""
    if value is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}")
    return value


def pil_to_array(image: Any) -> np.ndarray:
    """A PIL image as uint8 ``(H, W)`` or ``(H, W, 3)``: alpha dropped, palettes expanded,
    16-bit and float images scaled per image from their minimum to their maximum."""
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode.startswith(("I", "F")):
        return _rescale(np.asarray(image))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def array_to_image(array: Any) -> np.ndarray:
    """An image array as uint8 ``(H, W)`` or ``(H, W, 3)``.

    Accepts ``(H, W)``, ``(H, W, C)`` and ``(C, H, W)`` with C of 1, 3 or 4 (alpha dropped).
    uint8 and integer values within 0-255 are kept, floats within 0-1 are scaled by 255, and
    anything else is scaled per image from its minimum to its maximum.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(f"image array of shape {arr.shape} is not (H, W), (H, W, C) or (C, H, W)")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.size == 0:
        raise ValueError("image array is empty")
    low, high = float(arr.min()), float(arr.max())
    if arr.dtype.kind in "iu" and low >= 0 and high <= 255:
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f" and low >= 0 and high <= 1:
        return np.round(arr * 255).astype(np.uint8)
    return _rescale(arr)


def open_image(source: Any) -> np.ndarray:
    """Decode a PIL image, a path, a ``{"bytes", "path"}`` dict (the ``datasets`` Image storage) or
    an array into a uint8 ``(H, W)`` or ``(H, W, 3)`` array."""
    from PIL import Image

    if isinstance(source, dict):
        data = source.get("bytes")
        source = io.BytesIO(data) if data else source.get("path")
        if source is None:
            raise ValueError("image entry has neither bytes nor a path")
    if isinstance(source, str | io.BytesIO) or hasattr(source, "__fspath__"):
        with Image.open(source) as image:
            image.load()
            return pil_to_array(image)
    if isinstance(source, Image.Image):
        return pil_to_array(source)
    return array_to_image(source)


def resize(array: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 ``(H, W)`` or ``(H, W, 3)`` array to ``size`` x ``size`` (Lanczos)."""
    from PIL import Image

    if array.shape[:2] == (size, size):
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.LANCZOS))


def is_gray(array: np.ndarray) -> bool:
    """True for a 2-D array or an RGB array whose three channels are equal."""
    if array.ndim == 2:
        return True
    return bool((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all())


def stack_images(
    arrays: Sequence[np.ndarray], names: Sequence[str], *, channels: int | None, what: str
) -> np.ndarray:
    """Stack decoded images of one size into uint8 ``(n, C, H, W)`` with their native channel count.

    C is 1 when ``channels`` is 1 (colour images are converted to luminance) or when every image is
    grayscale (RGB images with three equal channels count as grayscale), and 3 otherwise; callers
    replicate grayscale images up to 3 channels with :meth:`Cohort.to_channels`, which keeps the
    native count. ``names`` label the images in error messages; ``what`` names the data (the spec).
    """
    if not arrays:
        raise DataError(f"{what}: no images to load")
    shapes: dict[tuple[int, int], str] = {}
    for array, name in zip(arrays, names):
        shapes.setdefault(array.shape[:2], name)
    if len(shapes) > 1:
        examples = ", ".join(f"{h}x{w} in {name}" for (h, w), name in list(shapes.items())[:2])
        raise DataError(
            f"{what}: images differ in size ({len(shapes)} sizes, e.g. {examples}); "
            "pass ?size=N to resize them all to N x N"
        )
    if channels == 1 or all(is_gray(a) for a in arrays):
        return np.stack([_to_gray(a) for a in arrays])[:, None]
    planes = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in arrays]
    return np.ascontiguousarray(np.stack(planes).transpose(0, 3, 1, 2))


def _to_gray(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array
    if is_gray(array):
        return array[..., 0]
    from PIL import Image

    return np.asarray(Image.fromarray(array).convert("L"))


def _rescale(array: np.ndarray) -> np.ndarray:
    values = array.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) / (high - low) * 255).astype(np.uint8)


def class_prompt(modality_words: str, class_name: str) -> str:
    """A report-like prompt for a labelled image, e.g. ``"Retinal OCT: drusen"``."""
    return f"{modality_words}: {class_name}"


def shipped_splits(cohort: Cohort, part: np.ndarray, spec: DataSpec | str) -> RealData:
    """Train / val / test from a per-row split index (0, 1, 2) that the data set ships.

    Every part must be non-empty and no patient may appear in two parts.
    """
    parts = [cohort.subset(np.flatnonzero(part == k)) for k in range(3)]
    for name, c in zip(SPLIT_NAMES, parts):
        if len(c) == 0:
            raise DataError(f"data spec {spec}: the {name} split is empty")
    check_disjoint_patients(parts, spec)
    return RealData(str(spec), *parts)


def check_disjoint_patients(parts: Sequence[Cohort], spec: DataSpec | str) -> None:
    """Raise a :class:`DataError` naming a patient found in two of the splits."""
    seen: dict[str, str] = {}
    for name, c in zip(SPLIT_NAMES, parts):
        for patient in dict.fromkeys(c.patient_id):
            if patient in seen and seen[patient] != name:
                raise DataError(
                    f"data spec {spec}: patient {patient!r} appears in both the {seen[patient]} and the "
                    f"{name} split; a patient's images must all be in one split"
                )
            seen.setdefault(patient, name)
