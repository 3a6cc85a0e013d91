"""The reward model learns what the raters reward, says so on held-out items, and reports no
agreement when the ratings carry none."""

from dataclasses import replace

import numpy as np
import pytest

from synthbench.data.source import load_data
from synthbench.feedback.batch import FeedbackError, write_batch
from synthbench.feedback.reward import RewardModel, RewardSettings, prompt_features, train_reward
from synthbench.feedback.store import DB_FILE, Rating, RatingStore


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """150 real OCT images and 150 noise images with the same prompts."""
    real = load_data("phantom:oct?n=1000&size=32").test.subset(range(150))
    rng = np.random.default_rng(1)
    blur = real.images.astype(np.float32)
    noise = replace(
        real, images=np.clip(blur + rng.normal(0, 60, blur.shape), 0, 255).astype(np.uint8)
    )
    from synthbench.cohort import Cohort

    folder = tmp_path_factory.mktemp("reward") / "batch"
    write_batch(
        Cohort.concat([real, noise]),
        folder,
        checkpoint="-",
        generator="test",
        config_hash="-",
        seed=0,
    )
    return folder


def rate(folder, realism_of):
    store = RatingStore(folder / DB_FILE)
    for i in range(300):
        store.submit(Rating(item_id=f"{i:05d}", rater="r", realism=realism_of(i), fidelity=2))


def test_reward_model_learns_realism(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    rate(folder, lambda i: 3 if i < 150 else 1)
    model = train_reward([folder], RewardSettings(epochs=30, held_out=0.3))
    assert model.agreement["n_held_out"] == 90
    assert model.agreement["realism_accuracy"] >= 0.9, model.agreement
    assert model.agreement["realism_spearman"] >= 0.7, model.agreement
    model.save(tmp_path / "rm")
    again = RewardModel.load(tmp_path / "rm")
    from synthbench.cohort import Cohort

    cohort = Cohort.load(folder / "cohort")
    prompts = list(cohort.text)
    assert np.allclose(again.predict(cohort.images, prompts), model.predict(cohort.images, prompts))
    r = again.reward(cohort.images, prompts)
    assert r[:150].mean() > r[150:].mean() + 0.8  # realism 3 vs 1, fidelity alike: 1.0 at best


def test_no_agreement_from_ratings_without_signal(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    labels = np.random.default_rng(5).integers(1, 4, 300)
    rate(folder, lambda i: int(labels[i]))
    model = train_reward([folder], RewardSettings(epochs=30, held_out=0.3))
    assert abs(model.agreement["realism_spearman"]) < 0.35, model.agreement


def test_too_few_ratings_and_bad_model_folder(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    RatingStore(folder / DB_FILE).submit(Rating(item_id="00000", rater="r", realism=3, fidelity=3))
    with pytest.raises(FeedbackError, match="at least 10 ratings"):
        train_reward([folder])
    (tmp_path / "junk").mkdir()
    with pytest.raises(FeedbackError, match="not a reward model"):
        RewardModel.load(tmp_path / "junk")


def test_prompt_features_are_normalised_and_word_order_matters_a_little():
    f = prompt_features(["OCT: large drusen.", "OCT: drusen large.", ""], 64)
    assert np.allclose(np.linalg.norm(f[:2], axis=1), 1.0) and not f[2].any()
    assert not np.allclose(f[0], f[1]) and f[0] @ f[1] > 0.5
