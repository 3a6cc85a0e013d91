"""The ``inception`` feature extractor: the standard FID Inception-v3 (TensorFlow 2015-12-05
weights), 2048-d pool features, from a local file. Nothing is downloaded.

Two file formats are read:

- torch-fidelity's state dict ``weights-inception-2015-12-05-6726825d.pth`` (loaded with
  ``weights_only=True`` into torch-fidelity's ``FeatureExtractorInceptionV3``);
- clean-fid's / StyleGAN's TorchScript ``inception-2015-12-05.pt``.

Where the file is looked for: ``--extractor-path``, else ``$SYNTHBENCH_INCEPTION_WEIGHTS``, else
``<cache dir>/weights/weights-inception-2015-12-05-6726825d.pth`` (then the clean-fid name in
the same folder). When none exists the error says which file to put where.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.cache import FeatureCache, default_cache_dir, hash_bytes
from synthbench.metrics.features import FeatureExtractor

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TORCH_FIDELITY_FILE
)
CLEAN_FID_FILE = "inception-2015-12-05.pt"


class InceptionWeightsMissing(SynthbenchError):
    """The Inception weights file is not where it is looked for."""


def default_weights_path(cache_root: Path | None = None) -> Path:
    env = os.environ.get("SYNTHBENCH_INCEPTION_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return (cache_root or default_cache_dir()) / "weights" / TORCH_FIDELITY_FILE


def resolve_weights(path: str | Path | None, cache_root: Path | None = None) -> Path:
    """The weights file to use, or :class:`InceptionWeightsMissing` naming where to put it."""
    if path is not None:
        candidates = [Path(path).expanduser()]
    else:
        first = default_weights_path(cache_root)
        candidates = [first, first.with_name(CLEAN_FID_FILE)]
    for c in candidates:
        if c.is_file():
            return c
    raise InceptionWeightsMissing(
        f"Inception weights not found at {candidates[0]}: download {TORCH_FIDELITY_FILE} "
        f"({TORCH_FIDELITY_URL}) or clean-fid's {CLEAN_FID_FILE} and put it there, "
        "or pass --extractor-path FILE (or set SYNTHBENCH_INCEPTION_WEIGHTS)"
    )


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=10)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.split("/", 1)[-1].startswith("code/") for n in zf.namelist())


class InceptionExtractor(FeatureExtractor):
    """FID Inception-v3 pool features (2048-d) of images resized to 299 px inside the network."""

    name = "inception"

    def __init__(self, weights: Path, *, batch_size: int = 32) -> None:
        import torch

        self.weights = weights
        self.batch_size = batch_size
        self.identity = f"inception-{_file_digest(weights)}"
        if _is_torchscript(weights):
            self._net = torch.jit.load(str(weights), map_location="cpu").eval()
            self._torchscript = True
        else:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise SynthbenchError(
                    f"{weights}: not a readable Inception state dict ({type(exc).__name__}: {exc})"
                ) from None
            self._net = _torch_fidelity_inception(weights, state)
            self._torchscript = False

    @classmethod
    def create(
        cls,
        train: Cohort,
        *,
        cache: FeatureCache | None = None,
        path: str | None = None,
        seed: int = 0,
    ) -> InceptionExtractor:
        return cls(resolve_weights(path, cache.root if cache is not None else None))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = torch.from_numpy(
                    np.array(images[start : start + self.batch_size], dtype=np.uint8)
                )
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                elif x.shape[1] != 3:
                    raise SynthbenchError(
                        f"Inception takes 1- or 3-channel images, got {x.shape[1]}"
                    )
                if self._torchscript:
                    f = self._net(x.float(), return_features=True)
                else:
                    f = self._net(x.contiguous())[0]
                out.append(f.reshape(len(x), -1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048))


def _torch_fidelity_inception(weights: Path, state: dict) -> object:
    """torch-fidelity's network with ``state`` loaded. Its constructor reads the file itself
    (with full unpickling), so the file is first proven to be plain tensors by the
    ``weights_only`` load above."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise SynthbenchError(
            "the inception extractor needs torch-fidelity for its state-dict format: pip install torch-fidelity"
        ) from None
    del state  # validated; torch-fidelity loads it again
    return FeatureExtractorInceptionV3(
        f"synthbench-inception-{hash_bytes(str(weights))}",
        ["2048"],
        feature_extractor_weights_path=str(weights),
    )
