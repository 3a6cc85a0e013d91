"""The ``local`` feature extractor: any image encoder saved in a local folder.

- timm format: ``config.json`` with an ``architecture`` key plus ``model.safetensors`` (what
  ``timm.models.save_for_hf`` writes); features are the pooled pre-classifier output.
- transformers format: ``config.json`` with a ``model_type`` key, loaded with ``AutoModel``
  (``local_files_only``); features are ``pooler_output`` when present, else the mean of
  ``last_hidden_state`` over tokens.

Images are resized to the encoder's input size and normalised with its mean and std (from the
timm pretrained config, or ``preprocessor_config.json``; 0.5 / 0.5 when neither says).

Weights are read from safetensors files only: a folder whose weights are pickle-format
(``pytorch_model.bin``, ``*.pt``, ``*.pth``, ...), or such a file given instead of a folder, is
refused by name, since unpickling can run code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.cache import FeatureCache
from synthbench.metrics.features import FeatureExtractor, check_images

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def is_pickle_file(path: Path) -> bool:
    """A file in a pickle-based format: by its suffix, a pickle protocol header, or torch's zip
    layout (``*/data.pkl``)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            if fh.read(1) == b"\x80":
                return True
    except OSError:
        return False
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("data.pkl") for n in zf.namelist())
    return False


def refuse_pickle(path: Path) -> SynthbenchError:
    """The one-line error for pickle-format weights offered where safetensors are read."""
    return SynthbenchError(
        f"{path}: pickle-format weights are not loaded (unpickling can run code); save the "
        "model with safetensors (save_pretrained or timm's save_for_hf write model.safetensors)"
    )


def check_safetensors_folder(folder: Path) -> None:
    """Raise unless ``folder`` holds safetensors weights; pickle-format weights are named."""
    if any(folder.rglob("*.safetensors")):
        return
    pickles = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES
    )
    if pickles:
        raise refuse_pickle(pickles[0])
    raise SynthbenchError(
        f"{folder}: no model.safetensors; the encoder's weights must be safetensors"
    )


def _folder_digest(folder: Path) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=10)
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class LocalEncoder(FeatureExtractor):
    """A timm or transformers encoder from a local folder (see the module docstring)."""

    name = "local"

    def __init__(self, folder: Path, *, batch_size: int = 64) -> None:
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise SynthbenchError(
                f"{folder}: no config.json; expected a timm (save_for_hf) or transformers (save_pretrained) model folder"
            )
        try:
            config = json.loads(config_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SynthbenchError(f"{config_file}: not readable JSON ({exc})") from None
        if not isinstance(config, dict):
            raise SynthbenchError(f"{config_file}: not a JSON object")
        check_safetensors_folder(folder)
        self.folder = folder
        self.batch_size = batch_size
        self.identity = f"local-{_folder_digest(folder)}"
        if "architecture" in config:
            self._load_timm(folder, config)
        elif "model_type" in config:
            self._load_transformers(folder)
        else:
            raise SynthbenchError(
                f"{config_file}: neither a timm config ('architecture') nor a transformers config ('model_type')"
            )

    def _load_timm(self, folder: Path, config: dict[str, Any]) -> None:
        import timm

        self.kind = "timm"
        self.model = timm.create_model(f"local-dir:{folder}", pretrained=True, num_classes=0).eval()
        cfg = self.model.pretrained_cfg
        self.input_size = int(cfg.get("input_size", (3, 224, 224))[-1])
        self.channels = int(cfg.get("input_size", (3,))[0])
        self.mean = tuple(cfg.get("mean", (0.5,) * self.channels))
        self.std = tuple(cfg.get("std", (0.5,) * self.channels))

    def _load_transformers(self, folder: Path) -> None:
        from transformers import AutoModel

        self.kind = "transformers"
        self.model = AutoModel.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        ).eval()
        cfg = self.model.config
        size = getattr(cfg, "image_size", 224)
        self.input_size = int(size if isinstance(size, int) else size[0])
        self.channels = int(getattr(cfg, "num_channels", 3))
        pre = folder / "preprocessor_config.json"
        pre_cfg = json.loads(pre.read_text()) if pre.is_file() else {}
        self.mean = tuple(pre_cfg.get("image_mean", (0.5,) * self.channels))
        self.std = tuple(pre_cfg.get("image_std", (0.5,) * self.channels))

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
        resize: str | None = None,
    ) -> LocalEncoder:
        if path is None:
            raise SynthbenchError(
                "the local extractor needs --extractor-path FOLDER (a timm or transformers model)"
            )
        if resize is not None:
            raise SynthbenchError(
                f"the local extractor resizes as its encoder expects; resize={resize!r} applies "
                "to the inception extractor only"
            )
        folder = Path(path).expanduser()
        if folder.is_file() and is_pickle_file(folder):
            raise refuse_pickle(folder)
        if not folder.is_dir():
            raise SynthbenchError(
                f"{folder}: no such model folder (a timm or transformers model saved with safetensors)"
            )
        return cls(folder)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        check_images(images, channels=(1, 3), what="the local extractor")
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = (
                    torch.from_numpy(
                        np.array(images[start : start + self.batch_size], dtype=np.float32)
                    )
                    / 255
                )
                if x.shape[1] != self.channels:
                    x = (
                        x.mean(1, keepdim=True)
                        if self.channels == 1
                        else x[:, :1].expand(-1, self.channels, -1, -1)
                    )
                if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
                    x = F.interpolate(
                        x, size=(self.input_size,) * 2, mode="bilinear", antialias=True
                    )
                x = (x - mean) / std
                if self.kind == "timm":
                    f = self.model(x)
                else:
                    o = self.model(pixel_values=x)
                    pooled = getattr(o, "pooler_output", None)
                    f = pooled if pooled is not None else o.last_hidden_state.mean(dim=1)
                out.append(f.reshape(len(x), -1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))
