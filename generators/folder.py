"""``folder``: images made elsewhere, with a manifest, so any external tool's output is benchmarked
like a built-in generator.

    synthbench train folder --data 'phantom:oct?size=32' --set path=/data/my_tool_output --out ckpt/folder

The folder holds image files (PNG, JPEG, ... or ``.npy`` uint8 arrays) and ``manifest.csv`` with
a header row and the columns ``file`` (relative path), ``modality``, ``label`` (class name or
index; empty for none) and ``text`` (the prompt the image was made from; optional). ``fit`` reads
them, converts each to its modality's native channels and the training image size, and keeps
them in the checkpoint (safetensors). ``sample`` returns, for each condition, an image of the
same modality and class (the same prompt when one matches), drawn with the seed, without
replacement until a pool runs out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.generators.base import Capabilities, GeneratorConfig
from synthbench.generators.conditions import Conditions, ResolvedConditions
from synthbench.generators.image_bank import ImageBankGenerator

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class FolderConfig(GeneratorConfig):
    """``path``: the folder with ``manifest.csv`` (required)."""

    path: str | None = None


class Folder(ImageBankGenerator):
    """Externally made images (see the module docstring)."""

    name = "folder"
    Config = FolderConfig
    capabilities = Capabilities(conditioning="label")
    config: FolderConfig

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        if not self.config.path:
            raise SynthbenchError("folder needs path=<folder with manifest.csv> (--set path=...)")
        root = Path(self.config.path)
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise SynthbenchError(f"{root}: no {MANIFEST} (columns: file, modality, label, text)")
        schema = self._require_fit()
        with manifest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "file" not in rows[0]:
            raise SynthbenchError(f"{manifest}: needs a header row with at least a 'file' column")
        conditions = Conditions(
            modality=tuple(r.get("modality") or None for r in rows),
            label=tuple((r.get("label") or "-1").strip() for r in rows),
            text=tuple(r.get("text") or "" for r in rows),
        )
        try:
            resolved = schema.resolve(conditions)
        except SynthbenchError as exc:
            raise SynthbenchError(f"{manifest}: {exc}") from None
        c, h, w = schema.image_shape
        images = np.empty((len(rows), c, h, w), np.uint8)
        for i, (row, mod) in enumerate(zip(rows, resolved.modality)):
            images[i] = _read_image(root / row["file"], schema.channels[mod], c, (h, w))
        self.images_ = images
        self.modality_ = list(resolved.modality)
        self.label_ = resolved.label
        self.text_ = list(resolved.text)
        return {"n_folder_images": len(rows)}

    def _generate(
        self, conditions: ResolvedConditions, generator: torch.Generator
    ) -> tuple[np.ndarray, list[str]]:
        import torch

        order = torch.randperm(len(self.images_), generator=generator).numpy().tolist()
        pools: dict[tuple[str, Any], list[int]] = {}
        for i in order:  # pools in this block's random order
            mod, label = self.modality_[i], int(self.label_[i])
            for key in ((mod, label), (mod, -1), (mod, "text", self.text_[i])):
                pools.setdefault(key, []).append(i)
        taken: dict[tuple[str, Any], int] = {}
        picks = []
        for mod, label, text in zip(
            conditions.modality, conditions.label.tolist(), conditions.text
        ):
            key: tuple[str, Any] = (mod, "text", text)
            if not text or key not in pools:
                key = (mod, label if label >= 0 else -1)
            if key not in pools:
                raise SynthbenchError(
                    f"the folder has no {mod} image of class {label}; it cannot answer this request"
                )
            pool = pools[key]
            # without replacement until the pool runs out, then around again
            picks.append(pool[taken.get(key, 0) % len(pool)])
            taken[key] = taken.get(key, 0) + 1
        return self.images_[picks], [self.text_[i] or t for i, t in zip(picks, conditions.text)]


def _read_image(path: Path, native: int, channels: int, size: tuple[int, int]) -> np.ndarray:
    """One image file as uint8 (channels, H, W): native channels, resized, replicated up."""
    from PIL import Image

    if not path.is_file():
        raise SynthbenchError(f"{path}: listed in the manifest but missing")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.ndim == 3 and arr.shape[0] in (1, 3):
                arr = arr.transpose(1, 2, 0)
            img = Image.fromarray(np.asarray(arr, np.uint8).squeeze())
        else:
            img = Image.open(path)
        img = img.convert("L" if native == 1 else "RGB").resize(size[::-1], Image.BILINEAR)
    except (OSError, ValueError) as exc:
        raise SynthbenchError(f"{path}: not a readable image ({exc})") from None
    arr = np.asarray(img, np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if arr.shape[0] == 3 and native == 1:
        arr = arr[:1]
    return np.repeat(arr, channels // arr.shape[0], axis=0)
