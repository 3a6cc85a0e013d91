"""Damaged checkpoints and unknown names give one-line errors a user can act on."""

import json
from pathlib import Path

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


def _as_format_1(ckpt, *, drop=(), add=None):
    """Rewrite a checkpoint's metadata as synthbench wrote it before checkpoint format 2: no
    config version, provenance or digests; ``drop`` settings missing, ``add`` ones present."""
    meta_path = ckpt / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    for key in ("config_version", "source_revision", "training_precision", "weights_sha256"):
        del meta[key]
    meta["format"] = 1
    meta["converted"] = None
    del meta["converted"]
    for key in drop:
        del meta["config"][key]
    meta["config"].update(add or {})
    meta_path.write_text(json.dumps(meta))
    return meta


def test_checkpoint_of_an_earlier_version_still_loads(mixed_data, tmp_path, recwarn):
    """A minim checkpoint written before the settings of config version 1 existed
    (``pooled_text``, ``prediction_type`` and the rest: cross-attention only, noise prediction,
    no such keys in its config) loads with their earlier values under its original hash and
    samples as before, with one notice; removing the key from a current checkpoint is still
    caught as an edit."""
    from synthbench.generators.base import CheckpointNotice

    added = create_generator("minim", profile="smoke").config.VERSIONS[0].added
    old = create_generator("minim", profile="smoke", **added).fit(mixed_data.train)
    assert old.unet_.config.class_embed_type is None
    assert old.scheduler_config_["prediction_type"] == "epsilon"
    ckpt = old.save(tmp_path / "old")
    meta = _as_format_1(ckpt, drop=added)
    loaded = load_generator(ckpt)
    assert loaded.config.pooled_text is False and loaded.config_hash == old.config_hash
    assert loaded.config.prediction_type == "epsilon"
    assert (loaded.sample(4, seed=1).images == old.sample(4, seed=1).images).all()
    (notice,) = [w for w in recwarn.list if issubclass(w.category, CheckpointNotice)]
    text = str(notice.message)
    assert "\n" not in text and "pooled_text read as False" in text
    assert f"python -m synthbench.generators.upgrade {ckpt}" in text

    new = create_generator("minim", profile="smoke", pooled_text=True, prediction_type="epsilon")
    assert new.config_hash != old.config_hash
    meta["config_hash"] = new.config_hash
    (ckpt / "synthbench_generator.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="config hash"):
        load_generator(ckpt)


FORMAT_1 = Path(__file__).parent / "data" / "minim-format1"


def test_a_checkpoint_written_by_the_earlier_format_loads_and_converts(tmp_path, recwarn):
    """``data/minim-format1`` was written by synthbench before checkpoint format 2 (commit
    81a3ccc): its config has the removed ``text_pretrain_*`` and ``full_res_attention`` keys
    at their defaults and its schema a bank of training reports. It loads with one notice
    naming the conversion command, under its hash; the conversion rewrites only the metadata
    (no report left, digests recorded, the same hash), after which it loads without notice
    and samples the same images."""
    import shutil

    from synthbench.generators.base import CheckpointNotice, read_checkpoint_info
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.upgrade import main, upgrade_checkpoint

    ckpt = shutil.copytree(FORMAT_1, tmp_path / "old")
    before = json.loads((ckpt / "synthbench_generator.json").read_text())
    assert before["format"] == 1 and "text_pretrain_steps" in before["config"]
    reports = [r[2] for rows in before["training_schema"]["bank"]["oct"].values() for r in rows]
    assert reports and all(r.startswith("OCT: ") for r in reports)
    old = load_generator(ckpt)
    assert old.config_hash == before["config_hash"]
    (notice,) = [w for w in recwarn.list if issubclass(w.category, CheckpointNotice)]
    assert "text_pretrain_steps=0 dropped" in str(notice.message)
    assert "training reports were dropped" in str(notice.message)
    prompts = Conditions.from_prompts(["OCT: drusen.", "OCT: normal foveal contour."] * 2)
    expected = old.sample(prompts, seed=1).images

    files = {p: p.read_bytes() for p in ckpt.rglob("*") if p.is_file() and p.suffix != ".json"}
    assert main([str(ckpt)]) == 0
    assert {p: p.read_bytes() for p in files} == files  # weights and tokenizer untouched
    text = (ckpt / "synthbench_generator.json").read_text()
    assert not any(r in text for r in reports)
    info = read_checkpoint_info(ckpt)
    assert info.format == 2 and info.config_version == 2 and info.config_hash == old.config_hash
    assert "text_pretrain_steps" not in info.config and info.training_precision == "bf16"
    assert info.converted["from_format"] == 1 and len(info.weights_sha256) == 7
    recwarn.clear()
    again = load_generator(ckpt)
    assert not [w for w in recwarn.list if issubclass(w.category, CheckpointNotice)]
    assert (again.sample(prompts, seed=1).images == expected).all()
    assert upgrade_checkpoint(ckpt) == []  # already current: left alone


def test_a_removed_option_that_was_on_is_refused(tmp_path, capsys):
    """A checkpoint trained with an experiment option since removed, at a value other than
    the one that had it off, is refused in one line naming the setting and where its code
    went; the conversion command refuses it too and leaves it as it was."""
    import shutil

    from synthbench.generators.upgrade import main

    ckpt = shutil.copytree(FORMAT_1, tmp_path / "old")
    meta_path = ckpt / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["full_res_attention"] = True
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="full_res_attention=True was removed") as info:
        load_generator(ckpt)
    assert "81a3ccc" in _one_line(info)
    assert main([str(ckpt)]) == 2
    assert "full_res_attention=True was removed" in capsys.readouterr().err
    assert json.loads(meta_path.read_text()) == meta


def test_one_changed_byte_of_the_weights_is_refused(saved, tmp_path):
    """Loading checks every file against the sha256 recorded when the checkpoint was written:
    one changed byte (the file still loads as safetensors) is a one-line error naming it."""
    ckpt = _copy(saved["cvae"], tmp_path / "c")
    weights = ckpt / "cvae" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"cvae/model\.safetensors has sha256") as info:
        load_generator(ckpt)
    assert "changed or damaged" in _one_line(info)


def test_checkpoint_records_what_made_it(saved):
    """The metadata names the package version (from the installed package's metadata), the
    source revision, the precision training ran at and every file's digest."""
    from importlib.metadata import version

    from synthbench.generators.base import file_digests, read_checkpoint_info

    info = read_checkpoint_info(saved["cvae"])
    assert info.synthbench_version == version("synthbench")
    assert len(info.source_revision) == 40 or info.source_revision == "unknown"
    assert info.training_precision in ("bf16", "fp32")
    assert info.weights_sha256 == file_digests(saved["cvae"])
    assert set(info.weights_sha256) >= {"cvae/model.safetensors", "cvae/config.json"}
    assert read_checkpoint_info(saved["classical-aug"]).training_precision is None
