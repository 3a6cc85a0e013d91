"""The shared training loop: budget, EMA, resume after interruption gives the same weights."""

import numpy as np
import pytest
import torch

from synthbench.errors import SynthbenchError
from synthbench.generators.training import TrainSettings, resolve_mixed_precision, train

DATA = torch.linspace(-1, 1, 24)[:, None].repeat(1, 4)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))


def _loss(ctx, fail_at=None):
    if fail_at is not None and ctx.step == fail_at:
        raise KeyboardInterrupt
    x = DATA[ctx.indices]
    noise = torch.randn(x.shape, generator=ctx.generator)
    return (ctx.modules["net"](x + 0.1 * noise) - x).pow(2).mean()


SETTINGS = TrainSettings(
    steps=12,
    batch_size=5,
    lr=1e-2,
    warmup_steps=3,
    mixed_precision="no",
    checkpoint_every=4,
    ema_decay=0.9,
)


def test_trains_and_reports():
    model = _model()
    result, ema = train({"net": model}, _loss, len(DATA), SETTINGS, seed=0)
    assert result.steps == 12 and result.resumed_from == 0
    assert result.losses[-1] < result.losses[0]
    assert result.images_per_s > 0
    # EMA lags behind the trained weights
    diff = (ema["net"][0].weight - model[0].weight).abs().max()
    assert 0 < diff < 1


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    straight = _model()
    _, ema_straight = train({"net": straight}, _loss, len(DATA), SETTINGS, seed=0)
    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):
        train(
            {"net": interrupted},
            lambda c: _loss(c, fail_at=9),
            len(DATA),
            SETTINGS,
            seed=0,
            state_dir=tmp_path,
            config_hash="abc",
        )
    resumed = _model()
    result, ema_resumed = train(
        {"net": resumed}, _loss, len(DATA), SETTINGS, seed=0, state_dir=tmp_path, config_hash="abc"
    )
    assert result.resumed_from == 8 and result.steps == 12
    # the training time counts the interrupted run's seconds too
    import json

    meta = json.loads((tmp_path / "training_state.json").read_text())
    assert meta["train_seconds"] >= result.seconds > 0
    assert result.earlier_seconds > 0 and result.untimed_steps == 0
    assert result.summary()["train_seconds"] == pytest.approx(
        result.seconds + result.earlier_seconds, abs=0.01
    )
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    for a, b in zip(ema_straight["net"].parameters(), ema_resumed["net"].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # the rate is over all timed steps: 12 batches in both runs' seconds
    total = result.seconds + result.earlier_seconds
    assert result.images_per_s == pytest.approx(12 * SETTINGS.batch_size / total)
    # run again on the finished state: no steps, the same steps' rate, not 0
    again, _ = train(
        {"net": _model()}, _loss, len(DATA), SETTINGS, seed=0, state_dir=tmp_path, config_hash="abc"
    )
    assert again.resumed_from == 12 and again.images_per_s > 0


def test_untimed_steps_of_an_older_state_are_carried_over_resumes(tmp_path):
    """A state that did not record its training time (written by older code) is reported as
    untimed steps, and stays so however many more times the run is interrupted and resumed."""
    import json

    from safetensors.torch import load_file, save_file

    def run(fail_at=None):
        return train(
            {"net": _model()},
            lambda c: _loss(c, fail_at=fail_at),
            len(DATA),
            SETTINGS,
            seed=0,
            state_dir=tmp_path,
            config_hash="abc",
        )

    with pytest.raises(KeyboardInterrupt):
        run(fail_at=5)  # leaves the state of step 4
    meta_path = tmp_path / "training_state.json"
    meta = json.loads(meta_path.read_text())
    del meta["train_seconds"], meta["untimed_steps"]
    meta_path.write_text(json.dumps(meta))
    # older code kept the state's metadata only beside the weights, not inside them
    weights = tmp_path / "training_state.safetensors"
    save_file(load_file(str(weights)), str(weights))
    with pytest.raises(KeyboardInterrupt):
        run(fail_at=9)  # resumes at 4, leaves the state of step 8
    assert json.loads(meta_path.read_text())["untimed_steps"] == 4
    result, _ = run()
    assert result.resumed_from == 8 and result.untimed_steps == 4
    assert result.summary()["untimed_steps"] == 4
    assert result.summary()["train_seconds"] > result.seconds


def test_state_of_another_config_is_refused(tmp_path):
    train(
        {"net": _model()}, _loss, len(DATA), SETTINGS, seed=0, state_dir=tmp_path, config_hash="abc"
    )
    with pytest.raises(SynthbenchError, match="training state of config abc"):
        train(
            {"net": _model()},
            _loss,
            len(DATA),
            SETTINGS,
            seed=0,
            state_dir=tmp_path,
            config_hash="other",
        )


def test_minutes_budget_stops():
    settings = TrainSettings(steps=0, minutes=0.5 / 60, batch_size=4, mixed_precision="no")
    result, _ = train({"net": _model()}, _loss, len(DATA), settings, seed=0)
    assert result.steps >= 1 and result.seconds < 5


def test_gradients_are_clipped():
    seen = []

    def huge(ctx):
        return ctx.modules["net"](DATA[ctx.indices]).sum() * 1e6

    model = _model()
    settings = TrainSettings(
        steps=1,
        batch_size=4,
        lr=1.0,
        warmup_steps=1,
        grad_clip=0.5,
        mixed_precision="no",
        ema_decay=0.0,
    )
    before = [p.detach().clone() for p in model.parameters()]
    train({"net": model}, huge, len(DATA), settings, seed=0)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    seen.append(step.abs().max())
    assert seen[0] <= 1.0 + 1e-5  # AdamW's first step is at most lr per weight


def test_mixed_precision_choice():
    assert resolve_mixed_precision("no") == "no"
    assert resolve_mixed_precision("auto", "cpu") in ("no", "bf16")
    with pytest.raises(SynthbenchError):
        resolve_mixed_precision("fp64")


def test_ema_modules_take_trained_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    settings = TrainSettings(steps=3, batch_size=8, mixed_precision="no")

    def loss(ctx):
        return ctx.modules["net"](DATA[ctx.indices] * 5 + 3).pow(2).mean()

    _, ema = train({"net": model}, loss, len(DATA), settings, seed=0)
    torch.testing.assert_close(ema["net"][1].running_mean, model[1].running_mean)
    assert ema["net"][1].running_mean.abs().sum() > 0


def test_groups_step_only_when_given_a_loss():
    """A GAN's several discriminator updates per generator update: a group whose loss a step
    leaves out keeps its weights that step (its EMA: the next test)."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    b_before = b.weight.detach().clone()
    seen = []

    def loss(ctx):
        x = DATA[ctx.indices]
        out = {"a": (ctx.modules["a"](x) - x).pow(2).mean()}
        if ctx.step % 3 == 2:
            out["b"] = (ctx.modules["b"](x) - x).pow(2).mean()
            seen.append(ctx.modules["b"].weight.detach().clone())
        return out

    train(
        {"a": a, "b": b},
        loss,
        len(DATA),
        SETTINGS,
        seed=0,
        groups={"a": ["a"], "b": ["b"]},
    )
    # b changed only at its own steps: it was still at its initial weights at its first one
    assert torch.equal(seen[0], b_before)
    assert len(seen) == 4 and not torch.equal(seen[1], seen[0])
    with pytest.raises(ValueError, match="subset"):
        train(
            {"a": a}, lambda c: {"c": DATA.sum()}, len(DATA), SETTINGS, seed=0, groups={"a": ["a"]}
        )


def test_ema_averages_only_the_modules_named():
    from synthbench.generators.training import EMA

    torch.manual_seed(0)
    modules = {"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 2)}
    ema = EMA(modules, 0.5)
    initial = {k: m.weight.detach().clone() for k, m in modules.items()}
    with torch.no_grad():
        for m in modules.values():
            m.weight.add_(1.0)
    ema.step(modules, ["a"])
    assert ema.trackers["a"].optimization_step == 1 and ema.trackers["b"].optimization_step == 0
    averaged = ema.copy_to_modules(modules)
    assert not torch.equal(averaged["a"].weight, initial["a"])  # moved toward the new weights
    assert torch.equal(averaged["b"].weight, initial["b"])  # still the initial weights


def test_resume_under_a_longer_budget_matches_a_longer_run(tmp_path):
    """A state of a run with the same trajectory hash (another budget) resumes: 8 steps, then
    the same run asked for 12, ends where 12 uninterrupted steps end."""
    straight = _model()
    straight_result, _ = train({"net": straight}, _loss, len(DATA), SETTINGS, seed=0)
    short = TrainSettings(**{**SETTINGS.__dict__, "steps": 8})
    kw = {"seed": 0, "state_dir": tmp_path, "trajectory_hash": "path"}
    train({"net": _model()}, _loss, len(DATA), short, config_hash="c8", **kw)
    resumed = _model()
    result, _ = train({"net": resumed}, _loss, len(DATA), SETTINGS, config_hash="c12", **kw)
    assert result.resumed_from == 8 and result.steps == 12
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # the final loss counts the earlier run's last steps too (all 12 here), also when a run
    # resumes a state already at its budget and trains no step
    assert result.final_loss == pytest.approx(straight_result.final_loss, rel=1e-5)
    again, _ = train({"net": _model()}, _loss, len(DATA), SETTINGS, config_hash="c12", **kw)
    assert again.resumed_from == 12 and again.losses == []
    assert again.final_loss == pytest.approx(straight_result.final_loss, rel=1e-5)
    # another trajectory is refused, and so is a budget shorter than the state's step
    with pytest.raises(SynthbenchError, match="training state of config c12"):
        train(
            {"net": _model()},
            _loss,
            len(DATA),
            SETTINGS,
            config_hash="x",
            **{**kw, "trajectory_hash": "other"},
        )
    with pytest.raises(SynthbenchError, match="at step 12, past this run's budget of 8 steps"):
        train({"net": _model()}, _loss, len(DATA), short, config_hash="c8", **kw)


def test_trajectory_hash_leaves_out_only_the_budget_and_sampling():
    from synthbench.generators.ddpm import DDPMConfig

    base = DDPMConfig.for_profile("smoke")
    same = base.replace(steps=999, minutes=5.0, checkpoint_every=7, log_every=3, guidance_scale=9.0)
    assert same.config_hash("ddpm") != base.config_hash("ddpm")
    assert same.trajectory_hash("ddpm") == base.trajectory_hash("ddpm")
    for change in ({"lr": 1e-2}, {"batch_size": 3}, {"warmup_steps": 1}, {"ema_decay": 0.5}):
        assert base.replace(**change).trajectory_hash("ddpm") != base.trajectory_hash("ddpm")


def test_a_generator_resumes_under_a_longer_budget(oct_data, tmp_path):
    """The generators pass their trajectory hash: a cvae stopped at 4 steps and resumed with a
    budget of 6 samples the images of 6 uninterrupted steps."""
    from synthbench.generators.base import create_generator

    def fit(steps, state_dir=None):
        gen = create_generator("cvae", profile="smoke", steps=steps)
        gen.state_dir = state_dir
        return gen.fit(oct_data.train, seed=0)

    straight = fit(6)
    fit(4, tmp_path / "state")
    resumed = fit(6, tmp_path / "state")
    assert resumed.fit_info_["resumed_from"] == 4
    assert resumed.config_hash == straight.config_hash
    np.testing.assert_array_equal(
        resumed.sample(8, seed=1).images, straight.sample(8, seed=1).images
    )


def test_state_is_saved_by_time_without_checkpoint_every(tmp_path, monkeypatch):
    """With ``checkpoint_every`` 0 (the smoke profiles) the state is still saved every
    ``STATE_EVERY_S`` seconds of training, so an interrupted short run resumes where it was and
    ends with the weights of an uninterrupted one."""
    from dataclasses import replace

    from synthbench.generators import training

    monkeypatch.setattr(training, "STATE_EVERY_S", 0.0)  # every step, however fast
    monkeypatch.setattr(training, "STATE_MAX_OVERHEAD", float("inf"))
    settings = replace(SETTINGS, checkpoint_every=0)
    _, straight = train({"net": _model()}, _loss, len(DATA), settings, seed=0)
    run = {"n_items": len(DATA), "settings": settings, "seed": 0, "state_dir": tmp_path}
    with pytest.raises(KeyboardInterrupt):
        train({"net": _model()}, lambda c: _loss(c, fail_at=7), config_hash="abc", **run)
    result, resumed = train({"net": _model()}, _loss, config_hash="abc", **run)
    assert result.resumed_from == 7 and result.steps == 12
    for a, b in zip(straight["net"].parameters(), resumed["net"].parameters()):
        assert torch.equal(a, b)


def test_the_state_metadata_travels_inside_the_weights_file(tmp_path):
    """The step and hashes are in the safetensors file's own metadata, so the state stays
    whole however a kill falls between writing its two files: a stale JSON beside it is not
    read."""
    import json

    from safetensors import safe_open

    with pytest.raises(KeyboardInterrupt):
        train(
            {"net": _model()},
            lambda c: _loss(c, fail_at=9),
            len(DATA),
            SETTINGS,
            seed=0,
            state_dir=tmp_path,
            config_hash="abc",
        )
    with safe_open(str(tmp_path / "training_state.safetensors"), "pt") as fh:
        meta = json.loads(fh.metadata()["synthbench_training_state"])
    assert meta["step"] == 8 and meta["config_hash"] == "abc"
    (tmp_path / "training_state.json").write_text(json.dumps({**meta, "step": 4}))
    result, _ = train(
        {"net": _model()},
        _loss,
        len(DATA),
        SETTINGS,
        seed=0,
        state_dir=tmp_path,
        config_hash="abc",
    )
    assert result.resumed_from == 8


@pytest.mark.slow
def test_a_killed_smoke_train_resumes(tmp_path):
    """``synthbench train`` at the smoke profile, killed (SIGKILL) once it has saved state, and
    run again: the second run resumes from the saved step instead of starting over."""
    import json
    import os
    import subprocess
    import sys
    import time

    from safetensors import safe_open

    out = tmp_path / "cgan"
    state = tmp_path / "cgan.training-state" / "training_state.safetensors"
    args = [sys.executable, "-m", "synthbench.cli", "train", "cgan", "--profile", "smoke"]
    args += ["--data", "phantom:oct?n=40&size=16", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*args, "--steps", "1000000"], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not state.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    assert state.is_file(), "no training state was saved"
    with safe_open(str(state), "pt") as fh:
        step = json.loads(fh.metadata()["synthbench_training_state"])["step"]
    assert step > 0
    done = subprocess.run(
        [*args, "--steps", str(step + 2)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    fit = json.loads((out / "synthbench_generator.json").read_text())["fit"]
    assert fit["resumed_from"] == step and fit["steps"] == step + 2
    assert not state.parent.exists()  # a finished run removes its state
