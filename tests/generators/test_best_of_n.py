"""best-of-n keeps the reward model's best candidate; ``synthbench improve`` writes one."""

import copy
import subprocess
import sys

import numpy as np

from synthbench.generators.base import load_generator


def test_keeps_the_reward_models_best(mixed_data, fit_generator):
    gen = fit_generator("best-of-n", mixed_data)
    base = gen.base_
    picked = gen.sample(24, seed=7)
    plain = base.sample(24, seed=7)  # the first candidate of every condition
    prompts = list(picked.text)
    r_picked = gen.reward_.reward(picked.images, prompts)
    r_plain = gen.reward_.reward(plain.images, prompts)
    assert (r_picked >= r_plain - 1e-9).all()
    assert (r_picked > r_plain + 1e-9).any(), "with 4 candidates the first is not always the best"
    # with one candidate it is the base itself (a copy: the fitted generator is shared)
    one = copy.copy(gen)
    one.config = gen.config.with_sampling(["n_candidates=1"])
    np.testing.assert_array_equal(one.sample(24, seed=7).images, plain.images)


def test_kept_candidates_are_re_ranked_as_drawn_ones_would_be(
    mixed_data, fit_generator, tmp_path, monkeypatch
):
    """With ``candidate_cache``, a second draw of the same prompts and seed reads the kept
    candidates: the same images as drawing them afresh, under another reward model too, and
    the random state moves on as drawing would (a batch of several blocks comes out alike)."""
    from synthbench.generators.conditions import Conditions

    gen = copy.copy(fit_generator("best-of-n", mixed_data))
    conditions = Conditions.from_prompts(list(mixed_data.train.text[:12]) * 2)
    gen.block_size = 8  # three blocks of 8
    fresh = gen.sample(conditions, seed=3)
    gen.candidate_cache = tmp_path / "kept"
    cold = gen.sample(conditions, seed=3)
    assert len(list((tmp_path / "kept").glob("*.npz"))) == 3
    np.testing.assert_array_equal(cold.images, fresh.images)
    drawn = []
    real_generate = gen.base_._generate
    monkeypatch.setattr(gen.base_, "_generate", lambda *a: drawn.append(1) or real_generate(*a))
    warm = gen.sample(conditions, seed=3)
    assert not drawn  # every block read from the folder
    np.testing.assert_array_equal(warm.images, fresh.images)
    # another reward model (its opposite) picks from the kept candidates what it would pick
    # from drawn ones
    original = gen.reward_
    flipped = copy.copy(original)
    flipped.reward = lambda images, prompts: -original.reward(images, prompts)
    monkeypatch.setattr(gen, "reward_", flipped)
    kept = gen.sample(conditions, seed=3)
    assert not drawn
    gen.candidate_cache = None
    drawn_again = gen.sample(conditions, seed=3)
    np.testing.assert_array_equal(kept.images, drawn_again.images)
    assert not np.array_equal(kept.images, fresh.images)
    # other prompts or another seed are drawn, not read
    gen.candidate_cache = tmp_path / "kept"
    gen.sample(conditions, seed=4)
    assert drawn and len(list((tmp_path / "kept").glob("*.npz"))) == 6


def test_improve_writes_a_checkpoint_with_its_parent_on_the_card(
    mixed_data, fit_generator, tmp_path
):
    gen = fit_generator("best-of-n", mixed_data)
    batch = gen.config.reward.replace("/reward", "/batch")
    base = gen.config.base
    command = [
        sys.executable,
        "-m",
        "synthbench.cli",
        "improve",
        base,
        "--ratings",
        batch,
        "--out",
        str(tmp_path / "round1"),
        "--epochs",
        "2",
        "--n-candidates",
        "3",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    card = (tmp_path / "round1" / "README.md").read_text()
    assert f"parent checkpoint: `{base}`" in card and batch in card and "spearman" in card
    loaded = load_generator(tmp_path / "round1")
    assert loaded.name == "best-of-n" and loaded.config.n_candidates == 3
    assert len(loaded.sample(4, seed=0)) == 4
    bad = subprocess.run(
        [*command[:-4], "--method", "ddpo"], capture_output=True, text=True, timeout=300
    )
    assert (
        bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "ddpo" in bad.stderr
    )


def test_a_pick_quantile_keeps_the_first_good_enough_candidate(mixed_data, fit_generator):
    """With ``pick_quantile``, each predicted score is capped at its quantile over the block's
    candidates: a condition whose first candidate reaches both caps keeps it, any other keeps
    the first with the highest capped sum; the hash without it is what it was before."""
    gen = fit_generator("best-of-n", mixed_data)
    plain = gen.base_.sample(24, seed=7)  # the first candidate of every condition
    capped = copy.copy(gen)
    capped.config = gen.config.with_sampling(["pick_quantile=0.25"])
    capped.reward_ = copy.copy(gen.reward_)
    seen = []
    predict = gen.reward_.predict
    capped.reward_.predict = lambda images, prompts: (
        seen.append((images, predict(images, prompts))) or seen[-1][1]
    )
    picked = capped.sample(24, seed=7)  # one block of 24 conditions x 4 candidates
    candidates = np.stack([images for images, _ in seen])
    predicted = np.stack([p for _, p in seen])
    assert candidates.shape[:2] == (4, 24)
    np.testing.assert_array_equal(candidates[0], plain.images)
    cap = np.quantile(predicted.reshape(-1, 2), 0.25, axis=0)
    capped_sum = np.minimum(predicted, cap).sum(axis=2)
    rows = np.arange(24)
    expected = np.argmax(capped_sum, axis=0)
    np.testing.assert_array_equal(picked.images, candidates[expected, rows])
    enough = (predicted[0] >= cap).all(axis=1)
    assert enough.any() and (expected[enough] == 0).all()
    best = np.argmax(predicted.mean(axis=2), axis=0)
    assert (expected != best).any(), "the cap keeps some good-enough candidate over the best"
    assert (capped_sum[expected, rows] == capped_sum.max(axis=0)).all()
    # a best-of-n without a cap hashes as before the setting existed; one with it does not
    assert capped.config_hash != gen.config_hash
    assert gen.config.replace(pick_quantile=0.0).config_hash("best-of-n") == gen.config_hash
