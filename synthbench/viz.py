"""Labelled image grids: one row per class, for a person to look at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


def image_grid(
    rows: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    *,
    scale: int | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG grid: each row is ``(label, images)`` with images uint8 (k, C, H, W).

    Grayscale images are shown as gray, 3-channel ones as RGB. ``scale`` enlarges small images
    (default: up to about 96 px per tile). Written atomically (temporary file, then rename).
    """
    from PIL import Image, ImageDraw, ImageFont

    rows = [(label, np.asarray(imgs)) for label, imgs in rows]
    if not rows:
        raise ValueError("image_grid needs at least one row")
    h, w = next(imgs.shape[-2:] for _, imgs in rows if len(imgs))
    if scale is None:
        scale = max(1, 96 // max(h, w))
    tile_h, tile_w = h * scale, w * scale
    n_cols = max(len(imgs) for _, imgs in rows)
    font = ImageFont.load_default()
    label_w = 8 + max(int(font.getlength(label)) for label, _ in rows)
    pad = 2
    top = 18 if title else 0
    canvas = Image.new(
        "RGB",
        (label_w + n_cols * (tile_w + pad) + pad, top + len(rows) * (tile_h + pad) + pad),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 3), title, fill=(0, 0, 0), font=font)
    for r, (label, imgs) in enumerate(rows):
        y0 = top + pad + r * (tile_h + pad)
        draw.text((4, y0 + tile_h // 2 - 6), label, fill=(0, 0, 0), font=font)
        for c, img in enumerate(imgs):
            arr = np.asarray(img)
            if arr.shape[0] == 1:
                arr = np.repeat(arr, 3, axis=0)
            tile = Image.fromarray(np.ascontiguousarray(arr[:3].transpose(1, 2, 0)), "RGB")
            if scale > 1:
                tile = tile.resize((tile_w, tile_h), Image.NEAREST)
            canvas.paste(tile, (label_w + pad + c * (tile_w + pad), y0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    canvas.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def phantom_grid(
    modality: str,
    path: str | Path,
    *,
    per_row: int = 8,
    size: int = 64,
    difficulty: float | None = None,
    seed: int = 0,
) -> Path:
    """A grid of freshly simulated phantoms, one row per class (or finding, for multi-label)."""
    from synthbench.data.phantoms import DEFAULT_DIFFICULTY, get_modality, simulate

    info = get_modality(modality).info
    diff = DEFAULT_DIFFICULTY if difficulty is None else difficulty
    batch = simulate(
        modality, per_row * 8 * max(info.n_classes, 1), size=size, difficulty=diff, seed=seed
    )
    rows = []
    if info.multilabel:
        none = ~batch.findings.any(axis=1)
        rows.append(("no finding", batch.images[none][:per_row]))
        for j, name in enumerate(info.findings):
            rows.append((name, batch.images[batch.findings[:, j]][:per_row]))
    else:
        for k, name in enumerate(info.classes):
            rows.append((name, batch.images[batch.labels == k][:per_row]))
    return image_grid(rows, path, title=f"{modality}  size={size}  difficulty={diff}")


def cohort_grid(
    cohort: Cohort, path: str | Path, *, per_row: int = 8, title: str | None = None
) -> Path:
    """A grid of a cohort's images: one row per class of each modality (per finding for
    multi-label modalities, plus a 'no finding' row), in native channels."""
    if len(cohort) == 0:
        raise ValueError("cannot draw a grid of an empty cohort")
    multi = len(cohort.modalities) > 1
    rows: list[tuple[str, np.ndarray]] = []
    for mod in cohort.modalities:
        in_mod = cohort.modality == mod
        prefix = f"{mod} / " if multi else ""
        groups: list[tuple[str, np.ndarray]] = []
        names = cohort.label_names.get(mod, [])
        has_labels = (cohort.label[in_mod] >= 0).any()
        if has_labels:
            for k in sorted(set(cohort.label[in_mod].tolist())):
                name = names[k] if 0 <= k < len(names) else str(k)
                groups.append((name, in_mod & (cohort.label == k)))
        elif cohort.findings[in_mod].any():
            groups.append(("no finding", in_mod & ~cohort.findings.any(axis=1)))
            for j, name in enumerate(cohort.finding_names):
                if cohort.findings[in_mod, j].any():
                    groups.append((name, in_mod & cohort.findings[:, j]))
        else:
            groups.append(("all", in_mod))
        for name, mask in groups:
            idx = np.flatnonzero(mask)[:per_row]
            if len(idx):
                rows.append((prefix + name, _same_channels(cohort.native_images(idx))))
    return image_grid(rows, path, title=title)


def _same_channels(images: list[np.ndarray]) -> np.ndarray:
    channels = max(img.shape[0] for img in images)
    return np.stack([np.repeat(img, channels // img.shape[0], axis=0) for img in images])
