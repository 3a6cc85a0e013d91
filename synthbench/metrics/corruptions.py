"""Controlled corruptions of real images, to check that a metric moves the way it should: the
more blur or noise, the farther from the real distribution.

>>> import numpy as np
>>> from synthbench.metrics.corruptions import gaussian_blur, gaussian_noise
>>> images = np.zeros((2, 1, 8, 8), np.uint8); images[:, :, 4, 4] = 255
>>> int(gaussian_blur(images, 1.0).max()) < 255
True
>>> gaussian_noise(images, 10.0, seed=0).dtype
dtype('uint8')
"""

from __future__ import annotations

import numpy as np

#: five increasing levels of each corruption for 32 px images (sigma in px; std in grey levels)
BLUR_SIGMAS = (0.5, 0.6, 0.7, 0.85, 1.0)
NOISE_STDS = (20, 28, 36, 48, 64)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 (n, C, H, W) blurred by a Gaussian of ``sigma`` px (reflect padding)."""
    import torch

    from synthbench.metrics.ms_ssim import _gaussian_window

    k = 2 * int(np.ceil(3 * sigma)) + 1
    g = torch.tensor(_gaussian_window(k, sigma))
    w = (g[:, None] * g[None, :])[None, None]
    n, c, h, width = images.shape
    x = torch.from_numpy(np.ascontiguousarray(images)).double().reshape(n * c, 1, h, width)
    padded = torch.nn.functional.pad(x, (k // 2,) * 4, mode="reflect")
    y = torch.nn.functional.conv2d(padded, w)
    return y.reshape(n, c, h, width).round().clamp(0, 255).byte().numpy()


def gaussian_noise(images: np.ndarray, std: float, *, seed: int = 0) -> np.ndarray:
    """uint8 images plus independent Gaussian noise of ``std`` grey levels, clipped to 0-255."""
    rng = np.random.default_rng(seed)
    noisy = images + rng.normal(0.0, std, images.shape)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)
