"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) and the intra-class diversity built on it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = rng.random((4, 1, 32, 32))
>>> [round(v, 6) for v in ms_ssim(a, a).tolist()]
[1.0, 1.0, 1.0, 1.0]

Truly multi-scale: contrast-structure terms at every scale, luminance only at the coarsest, each
raised to its scale weight, with 2x2 average-pool downsampling between scales and 'valid'
Gaussian filtering (no padding). The standard setting (11-tap window, sigma 1.5, five scales,
weights 0.0448 0.2856 0.3001 0.2363 0.1333) needs images of at least 176 px. For the small images
of the smoke and quick profiles :func:`ms_ssim_setting` picks a 7-tap window (sigma 1.0) and as
many scales as fit (at least two: 32 px gives three scales, 16 px two), with the first weights of
the standard five renormalised to sum to one; the setting used is recorded in the result row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@dataclass(frozen=True)
class MSSSIMSetting:
    """Window and scales of one MS-SSIM computation."""

    kernel_size: int = 11
    sigma: float = 1.5
    weights: tuple[float, ...] = STANDARD_WEIGHTS
    k1: float = 0.01
    k2: float = 0.03

    def describe(self) -> str:
        return f"{len(self.weights)} scales, {self.kernel_size}-tap gaussian sigma {self.sigma}"


def ms_ssim_setting(size: int) -> MSSSIMSetting:
    """The standard setting when images are large enough, else a small-image one (see above)."""
    if size >= 16 * 11:
        return MSSSIMSetting()
    kernel = 7
    scales = 1
    while scales < 5 and size // 2**scales >= kernel:
        scales += 1
    if scales < 2:
        raise ValueError(f"MS-SSIM needs images of at least {2 * kernel} px, got {size}")
    w = np.asarray(STANDARD_WEIGHTS[:scales])
    return MSSSIMSetting(kernel_size=kernel, sigma=1.0, weights=tuple((w / w.sum()).tolist()))


def _gaussian_window(kernel_size: int, sigma: float) -> np.ndarray:
    r = np.arange(kernel_size) - (kernel_size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_components(
    x: np.ndarray, y: np.ndarray, setting: MSSSIMSetting, *, data_range: float = 1.0
) -> tuple[object, object]:
    """Per-image (luminance x contrast-structure) SSIM and contrast-structure maps at one scale,
    with valid filtering. Inputs are torch tensors (n, C, H, W); returns two (n, C, h, w) maps."""
    import torch
    import torch.nn.functional as F

    c = x.shape[1]
    g = torch.as_tensor(_gaussian_window(setting.kernel_size, setting.sigma), dtype=x.dtype)
    rows = g.view(1, 1, -1, 1).expand(c, 1, -1, -1).contiguous()
    cols = g.view(1, 1, 1, -1).expand(c, 1, -1, -1).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable gaussian, 'valid' region
        return F.conv2d(F.conv2d(t, rows, groups=c), cols, groups=c)

    c1 = (setting.k1 * data_range) ** 2
    c2 = (setting.k2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = (blur(x * x) - mu_x**2).clamp_min(0.0)
    var_y = (blur(y * y) - mu_y**2).clamp_min(0.0)
    cov = blur(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * cs, cs


def ms_ssim(
    x: np.ndarray,
    y: np.ndarray,
    setting: MSSSIMSetting | None = None,
    *,
    data_range: float = 1.0,
) -> np.ndarray:
    """MS-SSIM of each pair of images ``x[i], y[i]`` (float arrays (n, C, H, W) in
    ``[0, data_range]``; float32 stays float32, anything else is float64), averaged over channels. Negative contrast-structure terms are clipped
    at 0 before the fractional powers, as in the reference implementation's intent."""
    import torch
    import torch.nn.functional as F

    dtype = np.float32 if np.asarray(x).dtype == np.float32 else np.float64
    a = torch.as_tensor(np.asarray(x, dtype))
    b = torch.as_tensor(np.asarray(y, dtype))
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(
            f"ms_ssim needs two (n, C, H, W) arrays of one shape, got {a.shape} and {b.shape}"
        )
    setting = setting or ms_ssim_setting(min(a.shape[-2:]))
    n_scales = len(setting.weights)
    if min(a.shape[-2:]) // 2 ** (n_scales - 1) < setting.kernel_size:
        raise ValueError(
            f"{n_scales}-scale MS-SSIM with a {setting.kernel_size}-tap window needs images of at least "
            f"{setting.kernel_size * 2 ** (n_scales - 1)} px, got {tuple(a.shape[-2:])}"
        )
    value = torch.ones(a.shape[:2], dtype=a.dtype)
    for j, weight in enumerate(setting.weights):
        sim, cs = ssim_components(a, b, setting, data_range=data_range)
        term = sim if j == n_scales - 1 else cs
        value = value * term.mean(dim=(-2, -1)).clamp_min(0.0) ** weight
        if j < n_scales - 1:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return value.mean(dim=1).double().numpy()


def mean_pairwise_ms_ssim(
    images: np.ndarray, *, pairs: int = 200, seed: int = 0, setting: MSSSIMSetting | None = None
) -> float:
    """Mean MS-SSIM over ``pairs`` random pairs of distinct images (uint8 (n, C, H, W)), the
    usual diversity score: lower means more diverse."""
    n = len(images)
    if n < 2:
        raise ValueError("mean pairwise MS-SSIM needs at least 2 images")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # never the same image
    x = images[i].astype(np.float32) / 255.0
    y = images[j].astype(np.float32) / 255.0
    return float(ms_ssim(x, y, setting).mean())
