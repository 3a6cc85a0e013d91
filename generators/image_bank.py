"""A base for generators that answer from a bank of stored images (``classical-aug``,
``folder``): the images with their modality, label and (where the generator keeps them) report,
kept in the checkpoint as ``images.safetensors`` beside ``images.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synthbench.generators.base import (
    CheckpointError,
    Generator,
    load_safetensors,
    save_safetensors,
)


class ImageBankGenerator(Generator):
    """Subclasses set, in ``_fit``: ``images_`` (uint8, n x C x H x W) and, per image,
    ``modality_`` (a list) and ``label_`` (int array), and ``text_``: a report per image, or
    an empty list where none are kept."""

    def _save_state(self, path: Path) -> None:
        import torch

        save_safetensors({"images": torch.from_numpy(self.images_)}, path / "images.safetensors")
        (path / "images.json").write_text(
            json.dumps(
                {"modality": self.modality_, "label": self.label_.tolist(), "text": self.text_}
            )
        )

    def _load_state(self, path: Path) -> None:
        self.images_ = load_safetensors(path / "images.safetensors")["images"].numpy()
        meta = json.loads((path / "images.json").read_text())
        self.modality_, self.text_ = list(meta["modality"]), list(meta["text"])
        self.label_ = np.asarray(meta["label"], np.int64)
        counts = {len(self.images_), len(self.modality_), len(self.label_)}
        if len(counts) != 1 or len(self.text_) not in (0, *counts):
            raise CheckpointError(f"{path}: image and metadata counts disagree")
