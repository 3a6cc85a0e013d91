"""Damaged checkpoints and unknown names give one-line errors a user can act on."""

import json

import pytest

from synthbench.errors import SynthbenchError
from synthbench.generators.base import CheckpointError, create_generator, load_generator


def _one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text and len(text) < 400, text
    return text


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mixed_data, fit_generator):
    out = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for name in ("minim", "cvae", "classical-aug"):
        paths[name] = fit_generator(name, mixed_data).save(out / name)
    return paths


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("name", ["minim", "cvae", "classical-aug"])
def test_truncated_weights(saved, tmp_path, name):
    ckpt = _copy(saved[name], tmp_path / "c")
    weights = sorted(ckpt.rglob("*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError) as info:
        load_generator(ckpt)
    assert str(ckpt) in _one_line(info)


def test_garbage_weights(saved, tmp_path):
    ckpt = _copy(saved["minim"], tmp_path / "c")
    (ckpt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError) as info:
        load_generator(ckpt)
    _one_line(info)


def test_corrupt_metadata(saved, tmp_path):
    ckpt = _copy(saved["cvae"], tmp_path / "c")
    (ckpt / "synthbench_generator.json").write_text('{"generator": "cvae", ')
    with pytest.raises(CheckpointError, match="corrupt checkpoint metadata") as info:
        load_generator(ckpt)
    _one_line(info)


def test_edited_config_is_caught(saved, tmp_path):
    ckpt = _copy(saved["cvae"], tmp_path / "c")
    meta = json.loads((ckpt / "synthbench_generator.json").read_text())
    meta["config"]["latent_dim"] = 99
    (ckpt / "synthbench_generator.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="config hash"):
        load_generator(ckpt)


def test_missing_component(saved, tmp_path):
    import shutil

    ckpt = _copy(saved["minim"], tmp_path / "c")
    shutil.rmtree(ckpt / "tokenizer")
    with pytest.raises(SynthbenchError) as info:
        load_generator(ckpt)
    _one_line(info)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_generator(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        load_generator(tmp_path)


def test_unknown_generator_name():
    with pytest.raises(SynthbenchError, match="unknown generator 'minin'") as info:
        create_generator("minin")
    _one_line(info)


def test_unknown_setting_and_profile():
    with pytest.raises(SynthbenchError, match="unknown setting"):
        create_generator("ddpm", profile="smoke", stepz=3)
    with pytest.raises(SynthbenchError, match="unknown profile"):
        create_generator("ddpm", profile="huge")


def test_checkpoint_of_an_earlier_version_still_loads(mixed_data, tmp_path):
    """A minim checkpoint written before the settings in ``LEGACY`` existed (``pooled_text``,
    ``prediction_type`` and the rest: cross-attention only, noise prediction, no such keys in
    its config) loads with their earlier values (``pooled_text=False``,
    ``prediction_type="epsilon"``, ...) under its original hash and samples as before;
    removing the key from a newer checkpoint is still caught as an edit."""
    legacy = create_generator("minim", profile="smoke").config.LEGACY
    old = create_generator("minim", profile="smoke", **legacy).fit(mixed_data.train)
    assert old.unet_.config.class_embed_type is None
    assert old.scheduler_config_["prediction_type"] == "epsilon"
    ckpt = old.save(tmp_path / "old")
    meta = json.loads((ckpt / "synthbench_generator.json").read_text())
    for key in legacy:
        del meta["config"][key]
    (ckpt / "synthbench_generator.json").write_text(json.dumps(meta))
    loaded = load_generator(ckpt)
    assert loaded.config.pooled_text is False and loaded.config_hash == old.config_hash
    assert loaded.config.prediction_type == "epsilon"
    assert (loaded.sample(4, seed=1).images == old.sample(4, seed=1).images).all()

    new = create_generator("minim", profile="smoke", pooled_text=True, prediction_type="epsilon")
    assert new.config_hash != old.config_hash
    meta["config_hash"] = new.config_hash
    (ckpt / "synthbench_generator.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="config hash"):
        load_generator(ckpt)
