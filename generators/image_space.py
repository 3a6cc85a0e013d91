"""The shared image space of the neural generators: uint8 cohorts in, float tensors in [-1, 1]
with a fixed channel count for the model, and back to each modality's native channels.

>>> import numpy as np
>>> from synthbench.generators.image_space import from_model_space, to_model_space
>>> gray = np.full((2, 1, 4, 4), 255, np.uint8)
>>> x = to_model_space(gray, 3)
>>> tuple(x.shape), float(x.max())
((2, 3, 4, 4), 1.0)
>>> from_model_space(x, np.array([1, 1]), 1).shape
(2, 1, 4, 4)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    import torch


def to_model_space(images: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> float in [-1, 1] with ``channels`` channels (grayscale replicated)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)
    if x.shape[1] != channels:
        if channels % x.shape[1]:
            raise SynthbenchError(f"cannot map {x.shape[1]}-channel images to {channels} channels")
        x = x.repeat_interleave(channels // x.shape[1], dim=1)
    return x


def from_model_space(x: torch.Tensor, native: np.ndarray, out_channels: int) -> np.ndarray:
    """float [-1, 1] (n, K, H, W) -> uint8 (n, out_channels, H, W). Rows whose native channel
    count is 1 are averaged to gray (then replicated when ``out_channels`` is 3)."""
    import torch

    x = x.detach().float().clamp(-1, 1).add(1).mul(127.5)
    gray = torch.from_numpy(np.asarray(native) == 1)
    if x.shape[1] > 1 and bool(gray.any()):
        mean = x.mean(dim=1, keepdim=True).expand_as(x)
        x = torch.where(gray[:, None, None, None], mean, x)
    if x.shape[1] != out_channels:
        if out_channels == 1:
            x = x.mean(dim=1, keepdim=True)
        else:
            x = (
                x[:, :1].expand(-1, out_channels, -1, -1)
                if x.shape[1] == 1
                else x[:, :out_channels]
            )
    return x.round().to(torch.uint8).cpu().numpy()
