"""The instruments of the checks under benchmarks/perf: planted copies (near_copy_agreement.py;
the copy detector itself is tested with its metric, tests/metrics/test_copy_detect.py), and the
critic's two-sample test (critic_check.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

PERF = Path(__file__).resolve().parents[1] / "benchmarks" / "perf"


@pytest.fixture(scope="module")
def perf_modules():
    sys.path.insert(0, str(PERF))
    try:
        import near_copy_agreement

        yield near_copy_agreement
    finally:
        sys.path.remove(str(PERF))


def _gallery(n: int = 48, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth random images (blobs at random places), so that a shift changes them a little."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.empty((n, 1, size, size), np.uint8)
    for i in range(n):
        img = np.zeros((size, size))
        for _ in range(3):
            cy, cx, r = rng.uniform(2, size - 2), rng.uniform(2, size - 2), rng.uniform(1.5, 4)
            img += rng.uniform(60, 120) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out[i, 0] = np.clip(img + 20, 0, 255).astype(np.uint8)
    return out


def test_planted_copies_apply_each_change_to_the_same_images(perf_modules):
    nca = perf_modules
    train = _gallery()
    copies = nca.planted_copies(train, seed=3, n=10)
    assert list(copies) == list(nca.CHANGES)
    none = copies["none"]
    assert none.shape == (10, 1, 16, 16) and none.dtype == np.uint8
    # "none" is 10 distinct training images, drawn with the seed
    rows = {train[i].tobytes() for i in range(len(train))}
    assert all(x.tobytes() in rows for x in none) and len({x.tobytes() for x in none}) == 10
    assert np.array_equal(none, nca.planted_copies(train, seed=3, n=10)["none"])
    assert not np.array_equal(none, nca.planted_copies(train, seed=4, n=10)["none"])
    # a shift by k moves the content down and right by k pixels
    shifted = copies["shift 2 px"]
    assert np.array_equal(shifted[:, :, 2:, 2:], none[:, :, :-2, :-2])
    # noise grows with its level; blur keeps the mean and lowers the spread
    gaps = [
        np.abs(copies[f"noise {k} grey levels"].astype(float) - none).mean() for k in (4, 8, 16)
    ]
    assert gaps[0] < gaps[1] < gaps[2]
    blurred = copies["3x3 box blur"].astype(float)
    assert abs(blurred.mean() - none.mean()) < 1.0
    assert blurred.std(axis=(2, 3)).mean() < none.astype(float).std(axis=(2, 3)).mean()


def test_planted_table_counts_flags_per_change_and_space(perf_modules):
    nca = perf_modules
    planted = {
        "none": {"pixels": [np.array([0.0, 0.1])], "j": [np.array([0.2, 0.6])]},
        "shift 1 px": {"pixels": [np.array([0.9, 0.7])], "j": [np.array([0.5, 1.0])]},
    }
    real = {"pixels": [np.array([1.0, 2.0, 3.0])], "j": [np.array([0.4, 2.0, 3.0])]}
    text = nca.planted_table(planted, real, ["pixels", "j"], 0.5)
    lines = text.splitlines()
    assert lines[2] == "| none | 2/2 (100.0%) | 1/2 (50.0%) |"
    assert lines[3] == "| shift 1 px | 0/2 (0.0%) | 1/2 (50.0%) |"
    assert lines[4] == "| real test images (no copies) | 0/3 (0.0%) | 1/3 (33.3%) |"


def test_critic_tells_noise_from_real_and_not_real_from_real(perf_modules):
    """critic_check.py's two-sample test: about 0.5 for real images against real images of the
    same kind, about 1 for noise against them."""
    sys.path.insert(0, str(PERF))
    try:
        import critic_check
    finally:
        sys.path.remove(str(PERF))
    import torch

    torch.set_num_threads(1)
    pool, test, same = _gallery(n=300, seed=1), _gallery(n=80, seed=2), _gallery(n=80, seed=3)
    noise = np.random.default_rng(4).integers(0, 256, size=same.shape, dtype=np.uint8)
    alike = critic_check.critic_auroc(pool, test, same, folds=2, seed=0)
    apart = critic_check.critic_auroc(pool, test, noise, folds=2, seed=0)
    assert 0.35 < alike < 0.65
    assert apart > 0.95


@pytest.fixture(scope="module")
def anatomy():
    sys.path.insert(0, str(PERF))
    try:
        import anatomy_fd

        yield anatomy_fd
    finally:
        sys.path.remove(str(PERF))


def test_pixel_gaussian_has_the_pixels_mean_and_covariance(anatomy):
    train = (_gallery(n=400, size=8, seed=3) // 2 + 60).astype(np.uint8)  # no clipping
    drawn = anatomy.pixel_gaussian(train, 4000, seed=0)
    assert drawn.shape == (4000, 1, 8, 8) and drawn.dtype == np.uint8
    flat = train.reshape(len(train), -1).astype(float)
    got = drawn.reshape(len(drawn), -1).astype(float)
    assert np.abs(got.mean(0) - flat.mean(0)).max() < 3.0
    assert np.allclose(got.var(0), flat.var(0, ddof=1), rtol=0.1)
    assert np.corrcoef(np.cov(got.T).ravel(), np.cov(flat.T).ravel())[0, 1] > 0.95
    assert not np.array_equal(
        anatomy.pixel_gaussian(train, 8, 0), anatomy.pixel_gaussian(train, 8, 1)
    )


def test_phase_scrambling_keeps_the_amplitudes_and_loses_the_image(anatomy):
    images = (_gallery(n=6, size=16) // 2 + 60).astype(np.uint8)  # no clipping either way
    scrambled = anatomy.phase_scrambled(images, seed=0)
    a = np.abs(np.fft.fft2(images.astype(float)))
    b = np.abs(np.fft.fft2(scrambled.astype(float)))
    nonzero = np.ones(a.shape[-2:], bool)
    nonzero[0, 0] = False  # the mean is restored apart
    assert np.abs(a - b)[..., nonzero].mean() < 0.1 * a[..., nonzero].mean()
    assert np.allclose(scrambled.mean(axis=(-2, -1)), images.mean(axis=(-2, -1)), atol=1.0)
    assert np.corrcoef(images.ravel(), scrambled.ravel())[0, 1] < 0.5


def test_pixel_shuffling_keeps_each_histogram_and_moves_a_pixels_channels_together(anatomy):
    grey = _gallery(n=5, size=12)
    images = np.concatenate([grey, 255 - grey, grey // 2], axis=1)  # 3 channels, tied per pixel
    shuffled = anatomy.pixel_shuffled(images, seed=0)
    for before, after in zip(images, shuffled):
        assert np.array_equal(np.sort(before[0].ravel()), np.sort(after[0].ravel()))
    assert np.array_equal(shuffled[:, 1], 255 - shuffled[:, 0])
    assert np.array_equal(shuffled[:, 2], shuffled[:, 0] // 2)
    assert not np.array_equal(images, shuffled)
    # each image in an order of its own: the same image twice comes out two ways
    twice = anatomy.pixel_shuffled(np.concatenate([grey[:1], grey[:1]]), seed=0)
    assert not np.array_equal(twice[0], twice[1])


def test_planted_controls_hold_the_criterion_s_keys(anatomy):
    images = _gallery(n=12, size=16)
    controls = anatomy.planted(images[:6], images[6:], seed=0)
    keys = {anatomy.FLOOR, *anatomy.STRUCTURELESS, *anatomy._MILDEST}
    assert keys <= set(controls)
    assert all(v.shape == (6, 1, 16, 16) and v.dtype == np.uint8 for v in controls.values())


def _far(anatomy) -> dict[str, float]:
    mild_blur, mild_noise = anatomy._MILDEST
    fd = {anatomy.FLOOR: 1.0, mild_blur: 3.0, mild_noise: 5.0}
    fd.update({k: 40.0 for k in anatomy.STRUCTURELESS})
    return fd


def test_a_space_sees_anatomy_when_every_control_is_far(anatomy):
    assert anatomy.verdict(_far(anatomy)) == (True, "yes")


@pytest.mark.parametrize("control", ["pixel Gaussian", "phase-scrambled", "pixel-shuffled"])
def test_a_space_misses_anatomy_when_one_control_is_near(anatomy, control):
    ok, why = anatomy.verdict({**_far(anatomy), control: 8.0})  # under 10x the floor
    assert not ok and why == f"no: {control} at 8.0x the floor"


@pytest.mark.parametrize("mild", [0, 1])
def test_a_space_misses_anatomy_when_a_mild_degradation_is_farther(anatomy, mild):
    ok, why = anatomy.verdict({**_far(anatomy), anatomy._MILDEST[mild]: 50.0})
    assert not ok and why.count("nearer than a mild blur or noise") == 3
