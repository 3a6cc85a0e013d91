"""Vectorised image primitives shared by the phantom modalities.

Everything works on batches: arrays of shape (n, H, W) with per-patient parameters of shape (n,)
broadcast as (n, 1, 1). Coordinates are normalised so anatomy does not depend on image size:
``x`` runs from -1 (left edge) to 1 (right edge), ``y`` from -1 (top) to 1 (bottom).
"""

from __future__ import annotations

import numpy as np


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1], as (1, H, W) arrays ``(y, x)``."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    y = c[None, :, None] * np.ones((1, 1, size), np.float32)
    x = c[None, None, :] * np.ones((1, size, 1), np.float32)
    return y, x


def col(v: np.ndarray | float) -> np.ndarray:
    """Per-patient values (n,) as (n, 1, 1) for broadcasting against (n, H, W) images."""
    return np.asarray(v, dtype=np.float32)[:, None, None]


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 (x <= edge0) to 1 (x >= edge1); edges may be swapped for a falling step."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def soft_ellipse(
    y: np.ndarray,
    x: np.ndarray,
    cy: np.ndarray | float,
    cx: np.ndarray | float,
    ry: np.ndarray | float,
    rx: np.ndarray | float,
    edge: float = 0.15,
    angle: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Filled ellipse with a soft rim: 1 inside, 0 outside, ``edge`` is the rim width relative to the radius.

    Centres, radii and angle (radians) may be per-patient arrays of shape (n,) or scalars.
    """
    cy, cx, ry, rx, angle = (np.asarray(a, np.float32) for a in (cy, cx, ry, rx, angle))
    if cy.ndim == 1:
        cy, cx = col(cy), col(cx)
    if ry.ndim == 1:
        ry, rx = col(ry), col(rx)
    if angle.ndim == 1:
        angle = col(angle)
    dy, dx = y - cy, x - cx
    if np.any(angle != 0):
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    r = np.sqrt((dy / np.maximum(ry, 1e-6)) ** 2 + (dx / np.maximum(rx, 1e-6)) ** 2)
    return smoothstep(1.0 + edge, 1.0 - edge, r)


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the last two axes, with sigma in pixels (FFT, periodic borders)."""
    if sigma <= 0:
        return images
    h, w = images.shape[-2:]
    fy = np.fft.fftfreq(h).astype(np.float32)
    fx = np.fft.rfftfreq(w).astype(np.float32)
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy[:, None] ** 2 + fx[None, :] ** 2))
    spectrum = np.fft.rfft2(images, axes=(-2, -1)) * kernel
    return np.fft.irfft2(spectrum, s=(h, w), axes=(-2, -1)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, n: int, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std correlated noise; ``scale`` is the blob size as a fraction of the image."""
    field = rng.standard_normal((n, size, size), dtype=np.float32)
    field = blur(field, max(scale * size, 0.0))
    std = field.std(axis=(-2, -1), keepdims=True)
    return field / np.maximum(std, 1e-6)


def speckle(rng: np.random.Generator, shape: tuple[int, ...], looks: float = 1.0) -> np.ndarray:
    """Multiplicative speckle with mean 1 (gamma distributed, fewer looks = stronger)."""
    return rng.gamma(looks, 1.0 / looks, size=shape).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] to uint8, clipping."""
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def lerp(a: float, b: float, t: np.ndarray | float) -> np.ndarray | float:
    """Linear interpolation from a (t=0) to b (t=1)."""
    return a + (b - a) * t


def ramp(v: np.ndarray, centre: np.ndarray | float, half_width: np.ndarray | float) -> np.ndarray:
    """Falls linearly from 1 (v <= centre - half_width) to 0 (v >= centre + half_width)."""
    out = (centre + half_width - v) / (2.0 * half_width)
    return np.clip(out, 0.0, 1.0, out=out)
