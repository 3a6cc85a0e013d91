"""A generator that returns training images verbatim is flagged; fresh real images are not."""

from dataclasses import replace

import numpy as np
import pytest

from synthbench.metrics.base import EvalContext
from synthbench.metrics.memorisation import Memorisation, memorisation_scores, pixel_vectors


def _by_key(scores):
    return {(s.metric, tuple(sorted(s.qualifiers.items()))): s.value for s in scores}


def test_verbatim_copies_flagged_fresh_real_images_not(oct_data, domain, cache, tmp_path):
    train = oct_data.train
    copier = replace(train.subset(np.arange(60)), source=["copier"] * 60)
    # fresh real patients: in neither the training split nor the test split (the baseline)
    fresh = oct_data.val
    assert not set(fresh.patient_id) & (set(train.patient_id) | set(oct_data.test.patient_id))
    ctx = EvalContext(real=oct_data, extractor=domain, cache=cache, artifacts_dir=tmp_path)
    copies = _by_key(Memorisation().score(ctx, copier))
    honest = _by_key(Memorisation().score(ctx, fresh))
    for space in ((), (("space", "pixels"),)):
        baseline = (("set", "real-test"), *space)
        assert copies[("near_copy_share", space)] >= 0.9
        assert copies[("authenticity", space)] <= 0.1
        assert copies[("nn_distance_ratio", space)] < 0.1
        assert honest[("near_copy_share", space)] <= 0.05
        # fresh real images sit as far from the training set as the test split does: a ratio
        # of two medians over about 60 images each, 0.81-1.0 on the CPUs seen (copies: < 0.1)
        assert 0.75 <= honest[("nn_distance_ratio", space)] <= 1.25
        # two shares of about 60 images (a difference's standard error about 0.09): 0.17 seen
        assert abs(honest[("authenticity", space)] - honest[("authenticity", baseline)]) <= 0.2
        # the baseline rows do not depend on the synthetic set
        assert copies[("authenticity", baseline)] == honest[("authenticity", baseline)]
    grid = tmp_path / "memorisation_closest_pairs.png"
    assert grid.is_file() and grid in ctx.artifacts


def test_shares_are_per_image_means(oct_data, domain, cache):
    """Half copies, half fresh: authenticity and near-copy share are the halves' average."""
    train, fresh = oct_data.train, oct_data.val
    copies, novel = train.subset(np.arange(30)), fresh.subset(np.arange(30))
    mixed = type(train).concat([copies, novel])
    ctx = EvalContext(real=oct_data, extractor=domain, cache=cache)
    scores = {
        name: _by_key(Memorisation().score(ctx, c))
        for name, c in (("copies", copies), ("novel", novel), ("mixed", mixed))
    }
    for metric in ("authenticity", "near_copy_share"):
        for space in ((), (("space", "pixels"),)):
            halves = (scores["copies"][(metric, space)] + scores["novel"][(metric, space)]) / 2
            assert scores["mixed"][(metric, space)] == pytest.approx(halves, abs=1e-9)
    assert 0.4 <= scores["mixed"][("near_copy_share", ())] <= 0.6


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
