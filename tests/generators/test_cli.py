"""`synthbench train` / `synthbench generate` command functions, through a typer app."""

import numpy as np
import pytest

from synthbench.cohort import Cohort
from synthbench.errors import SynthbenchError

SPEC = "phantom:oct?n=40&size=16"


@pytest.fixture(scope="module")
def checkpoint(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "cvae"
    result = cli(
        [
            "train",
            "cvae",
            "--data",
            SPEC,
            "--profile",
            "smoke",
            "--out",
            str(out),
            "--steps",
            "6",
            "--set",
            "latent_dim=4",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def test_train_writes_checkpoint_and_card(checkpoint):
    from synthbench.generators.base import read_checkpoint_info

    info = read_checkpoint_info(checkpoint)
    assert info.generator == "cvae" and info.config["latent_dim"] == 4 and info.config["steps"] == 6
    assert info.fit["data"] == SPEC and info.fit["steps"] == 6
    card = (checkpoint / "README.md").read_text()
    assert info.config_hash in card and SPEC in card
    assert not checkpoint.with_name("cvae.training-state").exists()


def test_keep_state_lets_a_finished_run_train_on(cli, checkpoint, tmp_path):
    """With --keep-state a finished 4-step run keeps its state, and the same command with
    --steps 6 trains on from step 4 to the checkpoint of 6 straight steps (the module's)."""
    from synthbench.generators.base import load_generator

    out = tmp_path / "cvae"
    args = ["train", "cvae", "--data", SPEC, "--profile", "smoke", "--out", str(out)]
    args += ["--set", "latent_dim=4", "--no-progress", "--keep-state", "--steps"]
    assert cli([*args, "4"]).exit_code == 0
    assert out.with_name("cvae.training-state").is_dir()
    result = cli([*args, "6"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    longer, straight = load_generator(out), load_generator(checkpoint)
    assert longer.fit_info_["resumed_from"] == 4 and longer.config_hash == straight.config_hash
    np.testing.assert_array_equal(
        longer.sample(6, seed=2).images, straight.sample(6, seed=2).images
    )
    assert "(in runs resumed at step 4)" in (out / "README.md").read_text()
    # the same command once more resumes at the end and trains nothing: the card does not
    # call that a resumed run, and the rate is that of the steps trained before
    assert cli([*args, "6"]).exit_code == 0
    card = (out / "README.md").read_text()
    assert "resumed at" not in card and "images/s 0.0" not in card


def test_generate_grid(cli, checkpoint, tmp_path):
    png = tmp_path / "grid.png"
    result = cli(
        [
            "generate",
            str(checkpoint),
            "--label",
            "oct:drusen",
            "--label",
            "normal",
            "-n",
            "3",
            "--out",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    from PIL import Image

    assert Image.open(png).size[0] > 3 * 16


def test_generate_like_streams_a_cohort(cli, checkpoint, tmp_path):
    from synthbench.data.source import load_data
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions

    out = tmp_path / "synth"
    result = cli(
        [
            "generate",
            str(checkpoint),
            "--like",
            SPEC,
            "--seed",
            "2",
            "--chunk-size",
            "8",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    cohort = Cohort.load(out)
    train_split = load_data(SPEC).train
    assert len(cohort) == len(train_split)
    assert cohort.label.tolist() == train_split.label.tolist()
    expected = load_generator(checkpoint).sample(Conditions.like(train_split), seed=2)
    np.testing.assert_array_equal(cohort.images, expected.images)
    assert not list(tmp_path.glob(".synth*"))  # chunk folders cleaned up


def test_generate_errors_are_synthbench_errors(cli, checkpoint, tmp_path):
    result = cli(
        ["generate", str(checkpoint), "--label", "tumour", "--out", str(tmp_path / "x.png")]
    )
    assert isinstance(result.exception, SynthbenchError) and "tumour" in str(result.exception)
    result = cli(["train", "minin", "--data", SPEC, "--out", str(tmp_path / "m")])
    assert isinstance(result.exception, SynthbenchError)
    result = cli(
        ["train", "cvae", "--data", SPEC, "--out", str(tmp_path / "m"), "--set", "latent_dim=big"],
    )
    assert isinstance(result.exception, SynthbenchError) and "latent_dim" in str(result.exception)


def test_generate_changes_sampling_settings_only(cli, fit_generator, oct_data, tmp_path):
    from synthbench.cohort import Cohort

    ckpt = fit_generator("ddpm", oct_data).save(tmp_path / "ddpm")
    sources = []
    for extra in ([], ["--set", "guidance_scale=5", "--set", "sampling_steps=3"]):
        out = tmp_path / f"cohort{len(extra)}"
        result = cli(["generate", str(ckpt), "-n", "4", "--seed", "0", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        cohort = Cohort.load(out)
        sources.append((cohort.source, cohort.images))
    # another sampling config: other images, and the cohort records another config hash
    assert sources[0][0] != sources[1][0]
    assert not np.array_equal(sources[0][1], sources[1][1])
    result = cli(["generate", str(ckpt), "--set", "lr=1", "--out", str(tmp_path / "x.png")])
    assert isinstance(result.exception, SynthbenchError)
    assert "guidance_scale, sampling_steps" in str(result.exception)


def test_retune_writes_a_copy_with_other_sampling_defaults(cli, fit_generator, oct_data, tmp_path):
    from synthbench.generators.base import load_generator, read_checkpoint_info

    ckpt = fit_generator("ddpm", oct_data).save(tmp_path / "ddpm")
    (ckpt / "README.md").write_text("# ddpm checkpoint\n\n- training time: 1 s\n")
    out = tmp_path / "ddpm-g5"
    result = cli(["retune", str(ckpt), "--set", "guidance_scale=5", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    original, retuned = load_generator(ckpt), load_generator(out)
    trained_guidance = original.config.guidance_scale
    assert retuned.config.guidance_scale == 5.0 != trained_guidance
    assert retuned.config == original.config.replace(guidance_scale=5.0)
    assert read_checkpoint_info(out).config_hash == retuned.config_hash != original.config_hash
    # the same weights: its default samples are the original's samples with --set
    original.config = original.config.with_sampling(["guidance_scale=5"])
    assert np.array_equal(retuned.sample(4, seed=2).images, original.sample(4, seed=2).images)
    card = (out / "README.md").read_text()
    assert card.startswith("# ddpm checkpoint\n\n- training time: 1 s")
    assert (
        retuned.config_hash in card and f"`guidance_scale`: `{trained_guidance}` -> `5.0`" in card
    )
    # only sampling settings; something to set; not in place
    for args, needle in (
        (["--set", "lr=1"], "guidance_scale, sampling_steps"),
        ([], "give at least one --set"),
        (["--set", "guidance_scale=4", "--out", str(ckpt)], "another folder"),
    ):
        out_args = [] if "--out" in args else ["--out", str(tmp_path / "x")]
        result = cli(["retune", str(ckpt), *args, *out_args])
        assert isinstance(result.exception, SynthbenchError), result.output
        assert needle in str(result.exception)
    assert not (tmp_path / "x").exists()


def test_fine_tuning_is_named_on_the_model_card(cli, tmp_path):
    """``train minim --set init_from=CKPT`` writes a card naming the checkpoint it started from,
    and an init checkpoint that does not exist is a one-line error."""
    from synthbench.generators.base import read_checkpoint_info

    base = tmp_path / "base"
    args = ["train", "minim", "--data", SPEC, "--profile", "smoke", "--no-progress"]
    assert cli([*args, "--steps", "2", "--out", str(base)]).exit_code == 0
    tuned = tmp_path / "tuned"
    result = cli([*args, "--steps", "2", "--set", f"init_from={base}", "--out", str(tuned)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    card = (tuned / "README.md").read_text()
    assert f"fine-tuned from `{base}`" in card and "2 steps on `phantom:oct" in card
    # the base's own card comes along, a level down
    kept = card.split("## The checkpoint it was fine-tuned from", 1)[1]
    base_hash = read_checkpoint_info(base).config_hash
    assert "\n## minim checkpoint\n" in kept and f"config hash {base_hash}, profile" in kept
    missing = cli([*args, "--set", f"init_from={tmp_path / 'nope'}", "--out", str(tmp_path / "x")])
    assert missing.exit_code != 0
    assert isinstance(missing.exception, SynthbenchError) and "nope" in str(missing.exception)
