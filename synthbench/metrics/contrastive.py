"""The ``contrastive`` feature extractor: an embedding trained to tell every real image from every
other (instance discrimination), so that it has to keep what makes one image that image.

The ``domain`` encoder learns to tell the training cohort's classes apart, and may pass over what
every image of a modality shares; on brain MRI at 32 px it puts phase-scrambled noise nearer to
real images than a 0.5 px blur (docs/transfer.md, "Which feature spaces see anatomy?"). This
network learns no labels: each batch holds two altered views of each of its images, and a
contrastive loss (NT-Xent, temperature ``temperature``) pulls the two views of an image together
and pushes the other images' views away. The alterations are what the features are taught to
pass over: a shift of up to ``max_shift`` pixels (edges repeated), a change of contrast (by up to
``contrast``) and brightness (up to ``brightness`` grey levels), for a share ``blur`` of the views
a blur (a random mix of the image and its 3x3 box blur), and Gaussian pixel noise of up to
``max_noise`` grey levels. An FD has to see blur and noise, so the defaults blur no view and add
at most 4 grey levels of noise; a copy detector, which must pass over both, trains the same
network with ``blur = 0.5`` and ``max_noise = 16`` (:mod:`synthbench.metrics.copy_detect`).

The network: three stride-2 convolutions (``width``, doubling at each) and a linear layer to
``embed_dim`` numbers, L2-normalised. Trained with AdamW and a one-cycle schedule, deterministic
for a seed; trained once per training cohort and config and cached by content hash, as the
``domain`` encoder is; its identity (``contrastive-<digest>``) goes into every row's
``feature_extractor``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.features import LearntExtractor, check_images
from synthbench.nets import load_network, save_network, to_input

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class ContrastiveConfig:
    """Size, views and training recipe (defaults: the views an FD needs, see the module docstring)."""

    width: int = 32
    embed_dim: int = 64
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.1
    max_shift: int = 2
    max_noise: float = 4.0
    contrast: float = 0.1
    brightness: float = 8.0
    blur: float = 0.0  # share of views blurred: a random mix of the image and its 3x3 box blur
    #: the network's input size in px; None: the training images' own
    input_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.input_size is not None and self.input_size < 8:
            raise SynthbenchError(f"input_size must be at least 8 px, got {self.input_size}")
        if not 0.0 <= self.blur <= 1.0:
            raise SynthbenchError(f"blur is a share of views, 0 to 1, got {self.blur}")


def _conv_out(size: int) -> int:
    return (size + 2 - 4) // 2 + 1


def build_network(channels: int, size: int, config: ContrastiveConfig) -> torch.nn.Module:
    from torch import nn

    w = config.width
    side = _conv_out(_conv_out(_conv_out(size)))
    if side < 1:
        raise SynthbenchError(f"the contrastive network needs images of at least 8 px, got {size}")
    return nn.Sequential(
        nn.Conv2d(channels, w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Flatten(),
        nn.Linear(4 * w * side * side, config.embed_dim),
    )


def grey_levels(images: np.ndarray, *, channels: int, size: int) -> torch.Tensor:
    """uint8 ``(n, C, H, W)`` to a float tensor of grey levels (0-255) with ``channels`` channels
    at ``size`` px (:func:`synthbench.nets.to_input`)."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.float32))  # a copy: arrays may be read-only
    return to_input(x, channels=channels, size=size)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Grey levels to the network's input scale."""
    return (x / 255.0 - 0.5) / 0.25


def alter(x: torch.Tensor, config: ContrastiveConfig, gen: torch.Generator) -> torch.Tensor:
    """A randomly altered view of each image of ``x`` (float grey levels 0-255, N x C x H x W)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    k = config.max_shift
    padded = F.pad(x, (k, k, k, k), mode="replicate")
    dy = torch.randint(0, 2 * k + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * k + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    index = torch.arange(n)[:, None, None, None]
    y = padded[index, torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    c = 1 + config.contrast * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    b = config.brightness * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    sigma = config.max_noise * torch.rand(n, 1, 1, 1, generator=gen)
    y = (y - mean) * c + mean + b
    a = torch.rand(n, 1, 1, 1, generator=gen) * (
        torch.rand(n, 1, 1, 1, generator=gen) < config.blur
    )
    box = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    y = (1 - a) * y + a * box + sigma * torch.randn(y.shape, generator=gen)
    return y.clamp(0, 255)


@dataclass
class TrainedContrastive:
    """A trained contrastive embedding with what it needs to be used and saved."""

    model: Any
    channels: int
    size: int
    config: ContrastiveConfig
    final_loss: float

    @classmethod
    def fit(cls, images: np.ndarray, config: ContrastiveConfig) -> TrainedContrastive:
        """Train on uint8 ``(n, C, H, W)`` images (at least 2)."""
        import torch
        import torch.nn.functional as F

        if len(images) < 2:
            raise SynthbenchError(
                f"the contrastive embedding needs at least 2 training images, got {len(images)}"
            )
        channels = images.shape[1]
        size = config.input_size or images.shape[-1]
        x = grey_levels(images, channels=channels, size=size)
        torch.manual_seed(config.seed)
        model = build_network(channels, size, config)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
        per_epoch = -(-len(x) // config.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, total_steps=config.epochs * per_epoch
        )
        gen = torch.Generator().manual_seed(config.seed)
        losses: list[float] = []
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), config.batch_size):
                xb = x[order[start : start + config.batch_size]]
                m = len(xb)
                views = torch.cat([alter(xb, config, gen), alter(xb, config, gen)])
                z = F.normalize(model(normalise(views)), dim=1)
                logits = z @ z.T / config.temperature
                logits.fill_diagonal_(float("-inf"))
                target = torch.cat([torch.arange(m, 2 * m), torch.arange(m)])
                loss = F.cross_entropy(logits, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
        model.eval()
        return cls(model, channels, size, config, float(np.mean(losses[-per_epoch:])))

    def embed(self, images: np.ndarray, *, batch: int = 512) -> np.ndarray:
        """L2-normalised embeddings, float64 ``(n, embed_dim)``; the same rows whatever the
        batching."""
        import torch
        import torch.nn.functional as F

        out = [np.zeros((0, self.config.embed_dim))]
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = grey_levels(
                    images[start : start + batch], channels=self.channels, size=self.size
                )
                out.append(F.normalize(self.model(normalise(x)), dim=1).double().numpy())
        return np.concatenate(out)

    def save(self, folder: Path) -> None:
        meta = {
            "config": asdict(self.config),
            "channels": self.channels,
            "size": self.size,
            "final_loss": self.final_loss,
        }
        save_network(folder, self.model, meta)

    @classmethod
    def load(cls, folder: Path) -> TrainedContrastive:
        model, meta = load_network(
            folder,
            lambda meta: build_network(
                meta["channels"], meta["size"], ContrastiveConfig(**meta["config"])
            ),
        )
        config = ContrastiveConfig(**meta["config"])
        return cls(model, meta["channels"], meta["size"], config, float(meta["final_loss"]))


class ContrastiveExtractor(LearntExtractor):
    """Features from a contrastive embedding of the real training images (see the module
    docstring)."""

    name = "contrastive"
    config_class = ContrastiveConfig
    network_class = TrainedContrastive
    network: TrainedContrastive

    @classmethod
    def fit(cls, train: Cohort, config: ContrastiveConfig) -> TrainedContrastive:
        """Trained on the images alone."""
        return TrainedContrastive.fit(train.images, config)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, channels=(1, 3), what="the contrastive extractor")
        return self.network.embed(images)
