"""A copy-detection embedding: a small CNN trained so that an image and an altered copy of it land
together and apart from every other image (instance discrimination, as copy detectors are trained).

The ``domain`` judges and the pixels each miss some kinds of copy (``near_copy_agreement.py``'s
planted copies): a learnt judge hardly flags a copy shifted by one pixel more often than a real
image that copies nothing, and the pixels miss a shifted or blurred copy. This network is trained
on the gallery itself (the training images a copy would come from): each batch holds two altered
views of each of its images, and a contrastive loss (NT-Xent, temperature ``temperature``) pulls
the two views of an image together and pushes the other images' views away. The alterations are
a shift of up to ``max_shift`` pixels (edges repeated), a change of contrast (by up to
``contrast``) and brightness (up to ``brightness`` grey levels), for a share ``blur`` of the views
a blur (a random mix of the image and its 3x3 box blur), and Gaussian pixel noise of up to
``max_noise`` grey levels: the kinds of change the planted copies carry. Embeddings are L2-normalised, deterministic for a seed, and cached by the content hash
of the gallery and the settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CopyEmbeddingConfig:
    width: int = 32
    embed_dim: int = 64
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.1
    max_shift: int = 2
    max_noise: float = 16.0
    contrast: float = 0.1
    brightness: float = 8.0
    blur: float = 0.5  # share of views blurred: a random mix of the image and its 3x3 box blur
    seed: int = 0


def build(channels: int, config: CopyEmbeddingConfig) -> Any:
    from torch import nn

    w = config.width
    return nn.Sequential(
        nn.Conv2d(channels, w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
        nn.SiLU(),
        nn.Flatten(),
        nn.LazyLinear(config.embed_dim),
    )


def _normalise(x: Any) -> Any:
    return (x / 255.0 - 0.5) / 0.25


def alter(x: Any, config: CopyEmbeddingConfig, gen: Any) -> Any:
    """A randomly altered view of each image of ``x`` (float, grey levels 0-255, N x C x H x W)."""
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
class CopyEmbedding:
    model: Any
    config: CopyEmbeddingConfig
    final_loss: float

    @classmethod
    def fit(cls, images: np.ndarray, config: CopyEmbeddingConfig) -> CopyEmbedding:
        import torch
        import torch.nn.functional as F

        if len(images) < 2:
            raise ValueError(f"the copy embedding needs at least 2 images, got {len(images)}")
        x = torch.from_numpy(np.array(images, dtype=np.float32))
        torch.manual_seed(config.seed)
        model = build(x.shape[1], config)
        model(_normalise(x[:2]))  # materialise the lazy layer
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
                z = F.normalize(model(_normalise(views)), dim=1)
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
        return cls(model, config, float(np.mean(losses[-per_epoch:])))

    def __call__(self, images: np.ndarray, *, batch: int = 512) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = torch.from_numpy(np.array(images[start : start + batch], dtype=np.float32))
                out.append(F.normalize(self.model(_normalise(x)), dim=1).double().numpy())
        return np.concatenate(out)

    @classmethod
    def cached(cls, images: np.ndarray, config: CopyEmbeddingConfig, work: Path) -> CopyEmbedding:
        """Trained once per gallery and settings, kept under ``work``."""
        import torch

        h = hashlib.sha256(images.tobytes() + str(images.shape).encode())
        h.update(json.dumps(asdict(config), sort_keys=True).encode())
        path = work / "copy-embedding" / f"{h.hexdigest()[:16]}.pt"
        if path.exists():
            saved = torch.load(path, weights_only=True)
            model = build(images.shape[1], config)
            model(_normalise(torch.zeros(2, *images.shape[1:])))
            model.load_state_dict(saved["state"])
            model.eval()
            return cls(model, config, float(saved["final_loss"]))
        trained = cls.fit(images, config)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state": trained.model.state_dict(), "final_loss": trained.final_loss}, tmp)
        tmp.replace(path)
        return trained
