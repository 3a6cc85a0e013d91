"""The ``autoencoder`` feature extractor: the bottleneck of a network trained to reconstruct images.

The ``domain`` encoder learns to tell the training cohort's classes apart, so its features may
pass over what every image of a modality shares (a skull ring, the ventricles) and miss a
generator that draws none of it. An autoencoder has to put back the whole image through a
``embed_dim``-number bottleneck: whatever varies most in the pixels must be in its features,
labels or not. It needs no labels, so it also serves data sets without any.

The network: ``levels`` stride-2 convolutions (``width``, doubling at each) down to a 4x4 grid,
a linear layer to the bottleneck, and the mirror image back up; trained with the mean squared
error of the reconstruction on the training images (brought to ``input_size`` px), AdamW with a
one-cycle schedule, deterministic for a seed. Trained once per training cohort and config and
cached by content hash, as the ``domain`` encoder is; its identity (``autoencoder-<digest>``)
goes into every row's ``feature_extractor``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.features import LearntExtractor, check_images
from synthbench.nets import load_network, prepare, save_network

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class AutoencoderConfig:
    """Size and training recipe (defaults: 32 px images, a 64-number bottleneck)."""

    width: int = 32  # channels after the first downsampling, doubled at each further one
    embed_dim: int = 64
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    input_size: int = 32  # a power of two, at least 8: halved down to a 4x4 grid
    seed: int = 0

    @property
    def levels(self) -> int:
        return int(np.log2(self.input_size // 4))

    def __post_init__(self) -> None:
        size = self.input_size
        if size < 8 or size & (size - 1):
            raise SynthbenchError(f"input_size must be a power of two of at least 8, got {size}")


def build_autoencoder(channels: int, config: AutoencoderConfig) -> torch.nn.Module:
    import torch.nn.functional as F
    from torch import nn

    widths = [config.width * 2**i for i in range(config.levels)]
    grid = widths[-1] * 16  # channels x the 4x4 grid at the bottleneck

    down: list[nn.Module] = []
    cin = channels
    for w in widths:
        down += [nn.Conv2d(cin, w, 4, stride=2, padding=1), nn.SiLU()]
        cin = w
    up: list[nn.Module] = []
    for w, wout in zip(widths[::-1], [*widths[::-1][1:], None]):
        if wout is None:
            up.append(nn.ConvTranspose2d(w, channels, 4, stride=2, padding=1))
        else:
            up += [nn.ConvTranspose2d(w, wout, 4, stride=2, padding=1), nn.SiLU()]

    class Autoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.Sequential(*down, nn.Flatten(), nn.Linear(grid, config.embed_dim))
            self.up_in = nn.Linear(config.embed_dim, grid)
            self.up = nn.Sequential(*up)

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return self.down(x)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            h = F.silu(self.up_in(z)).view(len(z), widths[-1], 4, 4)
            return self.up(h)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decode(self.encode(x))

    return Autoencoder()


@dataclass
class TrainedAutoencoder:
    """A trained autoencoder with what it needs to be used and saved."""

    model: Any
    channels: int
    config: AutoencoderConfig
    final_loss: float

    @classmethod
    def fit(cls, cohort: Cohort, config: AutoencoderConfig) -> TrainedAutoencoder:
        import torch
        import torch.nn.functional as F

        if len(cohort) < 2:
            raise SynthbenchError(
                f"the autoencoder needs at least 2 training images, got {len(cohort)}"
            )
        channels = cohort.image_shape[0]
        x = prepare(cohort.images, channels=channels, size=config.input_size)
        torch.manual_seed(config.seed)
        model = build_autoencoder(channels, config)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        per_epoch = -(-len(x) // config.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, total_steps=config.epochs * per_epoch
        )
        gen = torch.Generator().manual_seed(config.seed)
        model.train()
        losses = []
        for _ in range(config.epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), config.batch_size):
                xb = x[order[start : start + config.batch_size]]
                loss = F.mse_loss(model(xb), xb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
        model.eval()
        return cls(model, channels, config, float(np.mean(losses[-per_epoch:])))

    def _batches(self, images: np.ndarray, batch_size: int = 256):
        """The images in the network's input scale, ``batch_size`` at a time."""
        for start in range(0, len(images), batch_size):
            yield prepare(
                images[start : start + batch_size],
                channels=self.channels,
                size=self.config.input_size,
            )

    def encode(self, images: np.ndarray) -> np.ndarray:
        """The bottleneck of each image, float64 ``(n, embed_dim)``."""
        import torch

        with torch.inference_mode():
            parts = [self.model.encode(x).double().numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.embed_dim))

    def reconstruction_error(self, images: np.ndarray) -> np.ndarray:
        """Each image's mean squared reconstruction error in the network's input scale."""
        import torch

        with torch.inference_mode():
            parts = [
                ((self.model(x) - x) ** 2).mean(dim=(1, 2, 3)).double().numpy()
                for x in self._batches(images)
            ]
        return np.concatenate(parts)

    def save(self, folder: Path) -> None:
        meta = {
            "config": asdict(self.config),
            "channels": self.channels,
            "final_loss": self.final_loss,
        }
        save_network(folder, self.model, meta)

    @classmethod
    def load(cls, folder: Path) -> TrainedAutoencoder:
        model, meta = load_network(
            folder,
            lambda meta: build_autoencoder(meta["channels"], AutoencoderConfig(**meta["config"])),
        )
        return cls(
            model, meta["channels"], AutoencoderConfig(**meta["config"]), float(meta["final_loss"])
        )


class AutoencoderExtractor(LearntExtractor):
    """Features from an autoencoder's bottleneck (see the module docstring)."""

    name = "autoencoder"
    config_class = AutoencoderConfig
    network_class = TrainedAutoencoder
    network: TrainedAutoencoder

    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, channels=(1, 3), what="the autoencoder extractor")
        return self.network.encode(images)
