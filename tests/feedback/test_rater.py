"""The simulated rater tells right prompts from wrong ones and real images from noise, its bias
and noise act as named, and it leaves the global random state alone."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from synthbench.data.source import load_data
from synthbench.feedback.batch import FeedbackError, write_batch
from synthbench.feedback.rater import RaterSettings, simulate
from synthbench.feedback.store import DB_FILE, RatingStore

SETTINGS = RaterSettings(noise=0.0)


@pytest.fixture(scope="module")
def real():
    # real OCT images of a simulation the rater's judges never see (they use a fresh seed)
    return load_data("phantom:oct?n=200&size=32").test


def batch_of(cohort, folder):
    write_batch(cohort, folder, checkpoint="-", generator="test", config_hash="-", seed=0)
    return folder


def mean_scores(folder):
    rows = RatingStore(folder / DB_FILE).ratings()
    return np.mean([r["realism"] for r in rows]), np.mean([r["fidelity"] for r in rows])


def test_right_prompts_score_higher_than_wrong_ones(real, tmp_path):
    right = batch_of(real, tmp_path / "right")
    # the same images with the prompts rotated to another image of another class
    order = np.argsort(real.label, kind="stable")
    shifted = np.roll(order, len(order) // 4)
    wrong_text = np.asarray(real.text, dtype=object).copy()
    wrong_text[order] = np.asarray(real.text, dtype=object)[shifted]
    mismatch = (real.label[order] != real.label[shifted]).mean()
    assert mismatch > 0.9
    wrong = batch_of(replace(real, text=wrong_text), tmp_path / "wrong")
    simulate(right, SETTINGS)
    simulate(wrong, SETTINGS)
    realism_right, fidelity_right = mean_scores(right)
    realism_wrong, fidelity_wrong = mean_scores(wrong)
    assert fidelity_right >= 2.3 and fidelity_wrong <= 1.6, (fidelity_right, fidelity_wrong)
    assert realism_right >= 2.5 and realism_wrong >= 2.5  # the images are real in both


def test_noise_images_are_rated_unrealistic(real, tmp_path):
    rng = np.random.default_rng(0)
    noise = replace(real, images=rng.integers(0, 256, real.images.shape, dtype=np.uint8))
    folder = batch_of(noise, tmp_path / "noise")
    simulate(folder, SETTINGS)
    realism, _ = mean_scores(folder)
    assert realism <= 1.3, realism


def test_bias_noise_seed_and_global_state(real, tmp_path):
    folder = batch_of(real, tmp_path / "b")
    small = replace(SETTINGS, n_real=300)  # weak judges are enough to check the plumbing
    state = torch.random.get_rng_state()
    plain = simulate(folder, replace(small, name="plain"))
    assert torch.equal(state, torch.random.get_rng_state())
    strict = simulate(folder, replace(small, name="strict", bias=-2.0))
    assert all(r.realism == 1 and r.fidelity == 1 for r in strict)
    again = simulate(folder, replace(small, name="again"))
    assert [(r.realism, r.fidelity) for r in again] == [(r.realism, r.fidelity) for r in plain]
    noisy = simulate(folder, replace(small, name="noisy", noise=1.0))
    assert [(r.realism, r.fidelity) for r in noisy] != [(r.realism, r.fidelity) for r in plain]
    assert len(RatingStore(folder / DB_FILE).ratings()) == 4 * len(real)
    with pytest.raises(FeedbackError, match="noise"):
        RaterSettings(noise=-1)


def test_grayscale_modality_written_with_three_channels_is_rated_as_its_gray(real, tmp_path):
    # a model of several modalities writes OCT (one channel) replicated to three
    small = replace(SETTINGS, n_real=300)
    gray = simulate(batch_of(real, tmp_path / "gray"), small)
    wide = replace(real, images=np.repeat(real.images, 3, axis=1))
    rgb = simulate(batch_of(wide, tmp_path / "rgb"), small)
    assert [(r.realism, r.fidelity) for r in rgb] == [(r.realism, r.fidelity) for r in gray]
