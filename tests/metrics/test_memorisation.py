"""A generator that returns training images verbatim is flagged; real test images are not."""

from dataclasses import replace

import numpy as np

from synthbench.metrics.base import EvalContext
from synthbench.metrics.memorisation import Memorisation, memorisation_scores, pixel_vectors


def _by_key(scores):
    return {(s.metric, tuple(sorted(s.qualifiers.items()))): s.value for s in scores}


def test_verbatim_copies_flagged_real_test_not(oct_data, domain, cache, tmp_path):
    train = oct_data.train
    copier = replace(train.subset(np.arange(100)), source=["copier"] * 100)
    ctx = EvalContext(real=oct_data, extractor=domain, cache=cache, artifacts_dir=tmp_path)
    copies = _by_key(Memorisation().score(ctx, copier))
    honest = _by_key(Memorisation().score(ctx, oct_data.test))
    for space in ((), (("space", "pixels"),)):
        assert copies[("near_copy_share", space)] >= 0.9
        assert copies[("authenticity", space)] <= 0.1
        assert copies[("nn_distance_ratio", space)] < 0.1
        assert honest[("near_copy_share", space)] <= 0.05
        assert honest[("nn_distance_ratio", space)] == 1.0  # the test split is its own baseline
    grid = tmp_path / "memorisation_closest_pairs.png"
    assert grid.is_file() and grid in ctx.artifacts


def test_slightly_perturbed_copies_still_flagged(oct_data):
    rng = np.random.default_rng(0)
    train = pixel_vectors(oct_data.train.images)
    test = pixel_vectors(oct_data.test.images)
    near = np.clip(
        oct_data.train.images[:100] + rng.integers(-2, 3, oct_data.train.images[:100].shape), 0, 255
    ).astype(np.uint8)
    scores = memorisation_scores(train, test, pixel_vectors(near))
    assert scores["synthetic"]["near_copy_share"] >= 0.9
    assert scores["real-test"]["near_copy_share"] <= 0.05
