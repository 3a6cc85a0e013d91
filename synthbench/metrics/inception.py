"""The ``inception`` feature extractor: the standard FID Inception-v3 (TensorFlow 2015-12-05
weights), 2048-d pool features, from a local file. Nothing is downloaded.

Two file formats are read:

- torch-fidelity's state dict ``weights-inception-2015-12-05-6726825d.pth`` (loaded with
  ``weights_only=True`` into torch-fidelity's ``FeatureExtractorInceptionV3``);
- clean-fid's / StyleGAN's TorchScript ``inception-2015-12-05.pt``.

Where the file is looked for: ``--extractor-path``, else ``$SYNTHBENCH_INCEPTION_WEIGHTS``, else
``<cache dir>/weights/weights-inception-2015-12-05-6726825d.pth`` (then the clean-fid name in
the same folder). When none exists the error says which file to put where.

How images reach 299 px (``resize``, part of the extractor's identity and so of every row's
``feature_extractor``, e.g. ``inception-<digest>-clean``):

- ``clean`` (default): clean-fid's resizer (``cleanfid.resize.make_resizer("PIL", False,
  "bicubic", (299, 299))``: antialiased bicubic per channel in float, never re-quantised), then
  the network without its own resize. Small medical images (28-128 px) are upsampled, where the
  legacy resizers' aliasing and rounding move FID most (Parmar et al., CVPR 2022).
- ``legacy``: the network's built-in resize (TensorFlow-1 bilinear), as the original TF FID,
  torch-fidelity and torchmetrics compute it; use it to compare with published numbers.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.cache import FeatureCache, default_cache_dir, hash_bytes
from synthbench.metrics.features import FeatureExtractor, check_images

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort

TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TORCH_FIDELITY_FILE
)
CLEAN_FID_FILE = "inception-2015-12-05.pt"
#: how images are brought to the network's input size (see the module docstring)
RESIZE_MODES = ("clean", "legacy")
#: torch-fidelity's Inception layers up to the pool features, in forward order
_POOL_LAYERS = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "MaxPool_1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "MaxPool_2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "AvgPool",
)


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


def check_resize(resize: str) -> str:
    if resize not in RESIZE_MODES:
        raise SynthbenchError(
            f"inception resize mode {resize!r} is not one of {', '.join(RESIZE_MODES)}"
        )
    return resize


class InceptionExtractor(FeatureExtractor):
    """FID Inception-v3 pool features (2048-d) of images brought to 299 px by ``resize``
    (``clean`` or ``legacy``; see the module docstring)."""

    name = "inception"
    #: the network's input size, which ``clean`` resizes to
    input_size: ClassVar[int] = 299

    def __init__(self, weights: Path, *, resize: str = "clean", batch_size: int = 32) -> None:
        import torch

        self.weights = weights
        self.resize = check_resize(resize)
        self.batch_size = batch_size
        self.identity = f"inception-{_file_digest(weights)}-{resize}"
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
        resize: str | None = None,
    ) -> InceptionExtractor:
        weights = resolve_weights(path, cache.root if cache is not None else None)
        return cls(weights, resize=resize or "clean")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        check_images(images, channels=(1, 3), what="Inception")
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = self.preprocess(images[start : start + self.batch_size])
                out.append(self.network(x).reshape(len(x), -1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048))

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 ``(n, 1 or 3, H, W)`` images as the network's input: 3 channels, values 0-255;
        ``legacy``: uint8 at their own size (the network resizes); ``clean``: float32 at
        :attr:`input_size`, resized by clean-fid."""
        import torch

        batch = np.asarray(images, dtype=np.uint8)
        if batch.shape[1] == 1:
            batch = np.repeat(batch, 3, axis=1)
        if self.resize == "legacy":
            return torch.from_numpy(np.ascontiguousarray(batch))
        from cleanfid.resize import make_resizer

        resizer = make_resizer("PIL", False, "bicubic", (self.input_size, self.input_size))
        resized = np.stack([resizer(image.transpose(1, 2, 0)) for image in batch])
        return torch.from_numpy(np.ascontiguousarray(resized.transpose(0, 3, 1, 2)))

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """Pool features of a :meth:`preprocess` batch."""
        if self.resize == "legacy":
            if self._torchscript:
                return self._net(x.float(), return_features=True)
            return self._net(x.contiguous())[0]
        x = (x.float() - 128) / 128  # both formats' input scaling, as inside their forward
        if self._torchscript:  # clean-fid's own clean path (InceptionV3W, resize_inside=False)
            return self._net.layers.forward(x)
        for layer in _POOL_LAYERS:
            x = getattr(self._net, layer)(x)
        return x.flatten(1)


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
