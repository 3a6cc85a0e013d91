"""The copy detector and the ``copy-detection`` metric: altered copies of training images land
next to their source and are flagged; real images that copy nothing are not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.metrics.base import EvalContext
from synthbench.metrics.cache import FeatureCache
from synthbench.metrics.contrastive import TrainedContrastive
from synthbench.metrics.copy_detect import CopyConfig, CopyDetection, CopyDetector

SMALL = CopyConfig(width=8, embed_dim=16, epochs=30, batch_size=32, lr=3e-3)


def test_copy_config_views_are_a_copy_detectors():
    """Noise of up to 16 grey levels and half the views blurred, the rest as ``contrastive``."""
    assert CopyConfig().max_noise == 16.0 and CopyConfig().blur == 0.5
    assert CopyConfig().max_shift == 2 and CopyConfig().epochs == 60


def test_an_altered_copy_lands_nearest_its_source(oct_data):
    import torch

    torch.set_num_threads(1)
    train = oct_data.train.images[:64]
    model = TrainedContrastive.fit(train, SMALL)
    gallery = model.embed(train)
    assert gallery.shape == (64, 16)
    assert np.allclose(np.linalg.norm(gallery, axis=1), 1.0)
    rng = np.random.default_rng(1)
    noisy = np.clip(train + rng.normal(0, 4, train.shape), 0, 255).astype(np.uint8)
    d = ((model.embed(noisy)[:, None, :] - gallery[None]) ** 2).sum(-1)
    assert (d.argmin(axis=1) == np.arange(64)).mean() >= 0.9
    # deterministic for a seed
    fresh = TrainedContrastive.fit(train, SMALL)
    assert np.allclose(fresh.embed(train), gallery, atol=1e-5)
    assert fresh.final_loss == pytest.approx(model.final_loss)


def test_a_gallery_of_one_is_refused(oct_data):
    with pytest.raises(SynthbenchError, match="at least 2 training images, got 1"):
        TrainedContrastive.fit(oct_data.train.images[:1], replace(SMALL, epochs=1))


def test_detector_is_cached_per_split_config_and_seed(oct_data, tmp_path):
    import torch

    torch.set_num_threads(1)
    cache = FeatureCache(tmp_path)
    config = replace(SMALL, epochs=2)
    first = CopyDetector.create(oct_data.train, cache=cache, config=config)
    assert first.identity.startswith("copy-")
    again = CopyDetector.create(oct_data.train, cache=cache, config=config)
    assert again.identity == first.identity and cache.hits == 1
    assert np.allclose(again(oct_data.test.images), first(oct_data.test.images))
    assert len(list((tmp_path / "copy-detector").iterdir())) == 1
    other_seed = CopyDetector.create(oct_data.train, cache=cache, config=config, seed=1)
    assert other_seed.identity != first.identity


def _by_key(scores):
    return {(s.metric, tuple(sorted(s.qualifiers.items()))): s.value for s in scores}


def test_altered_copies_flagged_real_images_not(oct_data, domain, tmp_path):
    """Copies of training images shifted by a pixel, blurred or with pixel noise are near copies
    in the detector's space; fresh real patients are not. The rows name the detector."""
    import torch

    torch.set_num_threads(1)
    train = oct_data.train
    rng = np.random.default_rng(0)
    pick = rng.choice(len(train), 60, replace=False)
    src = train.images[pick].astype(np.float64)
    shifted = np.roll(src[:20], 1, axis=-1)  # one pixel right, the first column repeated
    shifted[..., 0] = src[:20, ..., 0]
    blur = sum(
        np.roll(np.roll(src[20:40], dy, axis=-2), dx, axis=-1)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    noisy = src[40:] + rng.normal(0, 8, src[40:].shape)
    altered = np.concatenate([shifted, blur / 9, noisy])
    copies = replace(
        train.subset(pick),
        images=np.clip(np.rint(altered), 0, 255).astype(np.uint8),
        source=["copier"] * 60,
    )
    fresh = oct_data.val
    metric = CopyDetection()
    ctx = EvalContext(real=oct_data, extractor=domain, cache=FeatureCache(tmp_path))
    flagged = metric.score(ctx, copies)
    honest = _by_key(metric.score(ctx, fresh))
    copied = _by_key(flagged)
    space = (("space", "copy"),)
    assert set(copied) == {
        ("near_copy_share", space),
        ("authenticity", space),
        ("nn_distance_ratio", space),
        ("near_copy_share", (("set", "real-test"), *space)),
        ("authenticity", (("set", "real-test"), *space)),
    }
    assert copied[("near_copy_share", space)] >= 0.8
    assert honest[("near_copy_share", space)] <= 0.05
    assert copied[("near_copy_share", (("set", "real-test"), *space))] <= 0.05
    identity = metric.detector(ctx).identity
    assert all(s.network == identity and not s.uses_features for s in flagged)


def test_images_of_another_size_are_refused_in_one_line(oct_data, domain, tmp_path):
    small = replace(oct_data.val, images=np.ascontiguousarray(oct_data.val.images[:, :, :16, :16]))
    ctx = EvalContext(real=oct_data, extractor=domain, cache=FeatureCache(tmp_path))
    with pytest.raises(SynthbenchError, match="sample at the training size"):
        CopyDetection().score(ctx, small)
