"""Refinement from ratings: preference pairs and top-rated images are read right, Diffusion-DPO
moves the UNet toward the preferred images, and rounds with the simulated rater run from the
command line and through a suite, resuming where they stopped."""

import json
import subprocess
import sys

import numpy as np
import pytest

from synthbench.cohort import Cohort
from synthbench.data.source import load_data
from synthbench.feedback.batch import write_batch
from synthbench.feedback.refine import (
    RefineSettings,
    dpo,
    load_parent,
    preference_pairs,
    top_rated,
)
from synthbench.feedback.store import DB_FILE, Rating, RatingStore
from synthbench.generators.base import load_generator

SPEC = "phantom:oct?n=120&size=16"


@pytest.fixture(scope="module")
def minim_checkpoint(tmp_path_factory):
    """A smoke-profile minim trained on the OCT phantoms of ``SPEC``."""
    import torch

    from synthbench.generators.base import create_generator

    folder = tmp_path_factory.mktemp("refine") / "minim"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = create_generator("minim", profile="smoke").fit(load_data(SPEC).train, seed=0)
    finally:
        torch.set_num_threads(before)
    gen.fit_info_["data"] = SPEC
    gen.save(folder)
    return folder


def _batch(folder, cohort):
    write_batch(cohort, folder, checkpoint="-", generator="test", config_hash="-", seed=0)
    return folder


def test_pairs_share_a_prompt_and_prefer_the_better_rated(tmp_path):
    real = load_data(SPEC).test.subset(range(6))
    # two images per prompt: rows 0-2 carry prompts a, b, c and rows 3-5 repeat them
    prompts = list(real.text[:3]) * 2
    cohort = Cohort.from_arrays(
        real.images, modality="oct", text=prompts, label_names=real.label_names
    )
    folder = _batch(tmp_path / "b", cohort)
    store = RatingStore(folder / DB_FILE)
    scores = {0: (3, 3), 3: (1, 2), 1: (2, 2), 4: (2, 2), 2: (1, 1), 5: (3, 2)}
    for row, (realism, fidelity) in scores.items():
        store.submit(Rating(item_id=f"{row:05d}", rater="r", realism=realism, fidelity=fidelity))
    pairs = preference_pairs([folder])
    # prompt a: 0 beats 3; prompt b: a tie gives no pair; prompt c: 5 beats 2
    assert sorted((w, lo) for _, w, lo in pairs) == [(0, 3), (5, 2)]
    top = top_rated([folder])
    assert top is not None and len(top) == 1
    np.testing.assert_array_equal(top.images[0], real.images[0])


def test_dpo_learns_the_preference_and_keeps_the_reference_apart(minim_checkpoint, tmp_path):
    """Brighter images are preferred; after Diffusion-DPO the UNet denoises the preferred image
    of a pair better (relative to the reference) than the other, and sampling makes brighter
    images than the parent."""
    from synthbench.generators.conditions import Conditions

    parent = load_generator(minim_checkpoint)
    prompts = list(load_data(SPEC).val.text[:24])
    conditions = Conditions.from_prompts([p for p in prompts for _ in range(2)])
    cohort = parent.sample(conditions, seed=3)
    folder = _batch(tmp_path / "b", cohort)
    store = RatingStore(folder / DB_FILE)
    brightness = cohort.images.reshape(len(cohort), -1).mean(1)
    for i in range(0, len(cohort), 2):
        brighter = i if brightness[i] > brightness[i + 1] else i + 1
        for row in (i, i + 1):
            score = 3 if row == brighter else 1
            store.submit(Rating(item_id=f"{row:05d}", rater="r", realism=score, fidelity=score))
    settings = RefineSettings(steps=60, batch_size=16, lr=1e-3, beta=500.0)
    tuned = dpo(minim_checkpoint, [folder], settings)
    info = tuned.fit_info_["refined"]
    assert info["pairs"] == len(prompts) and info["parent"] == str(minim_checkpoint)
    assert info["final_pair_accuracy"] >= 0.7, info
    after = tuned.sample(conditions, seed=11).images.mean()
    before = parent.sample(conditions, seed=11).images.mean()
    assert after > before, (before, after)
    # the parent on disk is untouched
    reloaded = load_generator(minim_checkpoint)
    np.testing.assert_array_equal(reloaded.sample(conditions, seed=11).images.mean(), before)


def _improve(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "synthbench.cli", "improve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


TINY = [
    "--n-prompts",
    "8",
    "--steps",
    "3",
    "--epochs",
    "3",
    "--n-candidates",
    "2",
    "--rater-n-real",
    "100",
]


@pytest.mark.parametrize("method", ["best-of-n", "raft", "dpo"])
def test_rounds_with_the_simulated_rater(minim_checkpoint, tmp_path, method):
    out = tmp_path / "rounds"
    args = [minim_checkpoint, "--rounds", "1", "--rater", "simulated", "--data", SPEC]
    # every model the rounds sample from uses the base's sampling settings given with --set
    args += ["--set", "guidance_scale=2.5"]
    assert load_generator(minim_checkpoint).config.guidance_scale != 2.5
    result = _improve(*args, "--method", method, *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "round 0: top-rated" in result.stdout and "round 1: top-rated" in result.stdout
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    by_round = {}
    for row in rows:
        assert row["task"] == "refine"
        assert row["precision"] == load_generator(minim_checkpoint).sampling_precision()
        by_round.setdefault(row["qualifiers"]["round"], set()).add(row["metric"])
    for r in ("0", "1"):
        assert {"top_rated", "fd", "cas", "prompt_adherence", "near_copy_share"} <= by_round[r]
    assert ("mean_reward" in by_round["1"]) == (method != "dpo")
    # near copies in the copy detector's space too, with the detector named
    copy_rows = [r for r in rows if r["qualifiers"].get("space") == "copy"]
    assert {r["qualifiers"]["round"] for r in copy_rows} == {"0", "1"}
    assert {r["feature_extractor"][:5] for r in copy_rows} == {"copy-"}
    assert "copy detector's near copies" in result.stdout
    refined = load_generator(out / "round-1" / "checkpoint")
    sampler = refined.base_ if method == "best-of-n" else refined
    assert sampler.config.guidance_scale == 2.5
    hashes = {row["generator_config_hash"] for row in rows if row["qualifiers"]["round"] == "0"}
    assert hashes == {load_parent(minim_checkpoint, RefineSettings(sampling=args[-1:])).config_hash}
    assert refined.fit_info_["refined"]["method"] == method
    assert refined.fit_info_["data"] == SPEC
    table = (out / "rounds.md").read_text()
    assert "refinement rounds" in table and f"| {method} | 1 |" in table
    assert "Refinement rounds" in (out / "report.html").read_text()
    # a rerun finds both rounds done and recomputes nothing
    stamp = (out / "round-1" / "rows.jsonl").stat().st_mtime_ns
    again = _improve(*args, "--method", method, *TINY, "--out", out)
    assert again.returncode == 0, again.stderr
    assert (out / "round-1" / "rows.jsonl").stat().st_mtime_ns == stamp


def test_evaluation_prompts_follow_the_test_split_and_stay_put():
    from collections import Counter

    from synthbench.feedback.rounds import evaluation_prompts, round_prompts

    real = load_data("phantom:oct?n=400&size=16")
    test = real.test
    prompts = evaluation_prompts(real, 40, seed=3)
    assert prompts == evaluation_prompts(real, 40, seed=3)  # the same in every round
    assert set(prompts) <= set(test.text) and not set(prompts) & set(real.val.text)
    # each class's share of the prompts is the test split's, to within one prompt
    class_of = {t: int(c) for t, c in zip(test.text, test.label)}
    got = Counter(class_of[p] for p in prompts)
    want = Counter(int(c) for c in test.label)
    for c, k in want.items():
        assert abs(got[c] - 40 * k / len(test)) < 1, (c, got, want)
    assert len(set(prompts)) == 40  # drawn without repeats while the split has enough
    # more than the split holds: every report, some twice
    many = evaluation_prompts(real, len(test) + 5, seed=3)
    assert len(many) == len(test) + 5 and set(many) == set(test.text)
    # the learning prompts are fresh every round, from the validation split
    assert round_prompts(real, 20, 3, 0) != round_prompts(real, 20, 3, 1)
    # a cohort of single-label and multi-label modalities: chest X-ray's sets of findings
    # keep their shares too
    mixed = load_data("phantom:oct,cxr?n=400&size=16").test
    key = {
        t: (str(m), int(c), tuple(f.tolist()))
        for t, m, c, f in zip(mixed.text, mixed.modality, mixed.label, mixed.findings)
    }
    prompts = evaluation_prompts(type(real)("mixed", mixed, mixed, mixed), 60, seed=0)
    got = Counter(key[p] for p in prompts)
    want = Counter(
        (str(m), int(c), tuple(f.tolist()))
        for m, c, f in zip(mixed.modality, mixed.label, mixed.findings)
    )
    assert len({k for k in want if k[0] == "cxr"}) > 2  # several sets of findings
    for k, count in want.items():
        assert abs(got[k] - 60 * count / len(mixed)) < 1, (k, got[k], count)


def test_rounds_scored_on_held_out_prompts(minim_checkpoint, tmp_path):
    """Held-out prompts, scored by a judge trained on a fresh simulation, with a reward model
    that first learns the classes of the base's training images."""
    from synthbench.feedback.batch import load_batch
    from synthbench.feedback.reward import RewardModel

    out = tmp_path / "rounds"
    args = [minim_checkpoint, "--rounds", "1", "--rater", "simulated", "--data", SPEC]
    fresh = "phantom:oct?n=120&size=16&seed=4242"
    extra = ["--eval-prompts", "6", "--extractor-data", fresh, "--reward-pretrain", "2"]
    result = _improve(*args, "--method", "best-of-n", *TINY, *extra, "--out", out)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert {r["protocol"] for r in rows} == {"held-out"}
    # FD and adherence in the fresh simulation's features, not those of the base's data
    from dataclasses import asdict

    from synthbench.metrics.cache import FeatureCache, cohort_hash
    from synthbench.nets import CNNConfig

    def identity(spec):
        parts = {
            "train": cohort_hash(load_data(spec).train, with_text=False),
            "config": asdict(CNNConfig(seed=0)),
        }
        return f"domain-{FeatureCache(enabled=False).key(parts)[:10]}"

    scored = {r["feature_extractor"] for r in rows if r["metric"] in ("fd", "prompt_adherence")}
    assert scored == {identity(fresh)} != {identity(SPEC)}
    # best-of-n's candidates for the held-out prompts are kept for the next round to re-rank
    assert list((out / "features" / "candidates").glob("*.npz"))
    reward = RewardModel.load(out / "round-1" / "reward")
    assert reward.settings.pretrain_epochs == 2
    assert reward.n_pretrain == len(load_data(SPEC).train)
    assert {r["n_synth"] for r in rows if r["metric"] == "top_rated"} == {12}
    learn = [load_batch(out / f"round-{r}" / "batch") for r in (0, 1)]
    held = [load_batch(out / f"round-{r}" / "eval") for r in (0, 1)]
    assert len(learn[0].items) == 16 and len(held[0].items) == 12
    # the evaluation batch: the same prompts and sampling seed in both rounds; learning: fresh
    assert [i.prompt for i in held[0].items] == [i.prompt for i in held[1].items]
    assert held[0].seed == held[1].seed != learn[0].seed
    assert [i.prompt for i in learn[0].items] != [i.prompt for i in learn[1].items]
    assert "held-out prompts" in (out / "rounds.md").read_text()


def test_rounds_refuse_bad_input_in_one_line(minim_checkpoint, tmp_path):
    cases = [
        (["--rounds", "1", "--data", SPEC], "--rater simulated"),
        (["--rounds", "1", "--rater", "simulated"], "--data"),
        (["--rounds", "0", "--rater", "simulated", "--data", SPEC], "--rounds"),
        (["--rounds", "1", "--rater", "simulated", "--data", SPEC, "--method", "ppo"], "ppo"),
        (["--rounds", "1", "--rater", "simulated", "--data", SPEC, "--set", "size=8"], "size"),
        (
            ["--rounds", "1", "--rater", "simulated", "--data", SPEC, "--eval-prompts", "-1"],
            "eval_prompts",
        ),
        (["--ratings", "b", "--eval-prompts", "5"], "--eval-prompts"),
        (["--ratings", "b", "--extractor-data", SPEC], "--extractor-data"),
        (
            ["--rounds", "1", "--rater", "simulated", "--data", SPEC, "--extractor-data", "x:y"],
            "extractor_data",
        ),
        (["--ratings", "b", "--reward-pretrain", "-1"], "reward_pretrain"),
        (["--ratings", "b", "--method", "dpo", "--reward-pretrain", "3"], "dpo"),
        (["--ratings", "b", "--method", "raft", "--pick-quantile", "0.5"], "--pick-quantile"),
        (["--ratings", "b", "--pick-quantile", "-1"], "pick_quantile"),
        (
            ["--rounds", "1", "--rater", "simulated", "--data", SPEC, "--reward-pretrain", "3"],
            "extractor_data",
        ),
        ([], "--ratings"),
    ]
    for extra, needle in cases:
        result = _improve(minim_checkpoint, *extra, "--out", tmp_path / "x")
        assert result.returncode == 2, (extra, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr, extra
        assert not (tmp_path / "x").exists()


def test_a_suite_runs_refinement_rounds(minim_checkpoint, tmp_path):
    from synthbench.leaderboard import render
    from synthbench.results import read_results
    from synthbench.runner.run import run_suite
    from synthbench.runner.suite import load_suite

    suite_file = tmp_path / "feedback.toml"
    suite_file.write_text(
        f"""
name = "feedback-test"
profile = "smoke"
seeds = [0]

[data.oct]
spec = "{SPEC}"

[generators.minim]
generator = "minim"
checkpoint = "{minim_checkpoint}"
sampling = {{ guidance_scale = 2.5 }}

[[refinement]]
data = "oct"
generator = "minim"
methods = ["raft", "dpo"]
rounds = 2
settings = {{ n_prompts = 8, eval_prompts = 4, steps = 3, reward_epochs = 3, n_candidates = 2, n_real = 100 }}

[[refinement]]
data = "oct"
generator = "minim"
methods = ["raft"]
rounds = 1
label = "again"
settings = {{ n_prompts = 8, eval_prompts = 4, steps = 3, reward_epochs = 3, n_candidates = 2, n_real = 100 }}
"""
    )
    suite = load_suite(suite_file)
    out = tmp_path / "results"
    run_suite(suite, out, cache=tmp_path / "cells", workers=1)
    rows = [r for r in read_results(out) if r.task == "refine"]
    rounds = {(r.qualifiers["method"], r.qualifiers["round"]) for r in rows}
    assert rounds == {("base", "0"), ("raft", "1"), ("raft", "2"), ("dpo", "1"), ("dpo", "2")}
    assert all(r.suite == "feedback-test" and r.generator == "minim" for r in rows)
    # scored on 4 held-out prompts x 2 images, and the suite's rows keep the protocol saying so
    assert {r.protocol for r in rows} == {"held-out"}
    assert {r.n_synth for r in rows if r.metric == "top_rated"} == {8}
    md = render(read_results(out), "md")
    assert "minim · refinement rounds (simulated rater, held-out prompts)" in md
    assert "| dpo | 2 |" in md
    # the labelled block's rows, from the same cells (its settings are the first block's)
    again = {
        (r.qualifiers["method"], r.qualifiers["round"]) for r in rows if r.qualifiers.get("variant")
    }
    assert again == {("base", "0"), ("raft", "1")}
    assert "| base · again | 0 |" in md and "| raft · again | 1 |" in md
    cells = sorted((tmp_path / "cells" / "refine").iterdir())
    assert len([c for c in cells if (c / "cell.json").is_file()]) == 5  # round 0 shared
    # the entry's sampling settings reach every round: raft's and dpo's models keep them
    tuned = [load_generator(c / "checkpoint") for c in cells if (c / "checkpoint").is_dir()]
    assert len(tuned) == 4 and {g.config.guidance_scale for g in tuned} == {2.5}
    # each cell's log says which stage a round is in, as it begins it
    for cell in cells:
        log = (cell / "log.txt").read_text()
        stages = ["the batch: 16 images", "the held-out batch: 8 images", "scoring: "]
        if (cell / "checkpoint").is_dir():  # rounds 1 and 2 learn first
            stages.insert(0, "learning from the ratings of ")
        at = [log.find(stage) for stage in stages]
        assert -1 not in at and at == sorted(at), (cell.name, log[-2000:])
