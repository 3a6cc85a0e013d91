"""Files the metrics read but did not just write: a damaged cache entry is recomputed, never
fatal; pickle-format weights offered to the local extractor are refused by name, in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthbench.errors import SynthbenchError
from synthbench.metrics.evaluate import EvalSettings, evaluate


def _values(rows):
    return {(r.metric, tuple(sorted(r.qualifiers.items()))): r.value for r in rows}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(
            lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3]), id="truncated"
        ),
        pytest.param(lambda f: f.write_bytes(b"\x00" * 64), id="zeroed"),
        pytest.param(lambda f: f.write_text("{not json"), id="garbage-text"),
        pytest.param(lambda f: f.unlink(), id="missing"),
    ],
)
def test_damaged_cache_entries_are_recomputed(oct_data, tmp_path, damage):
    real = type(oct_data)(oct_data.spec, oct_data.train, oct_data.val, oct_data.test)
    synthetic = oct_data.val
    settings = EvalSettings(cache_dir=tmp_path, breakdown=False)
    first = evaluate(real, synthetic, ["fd", "memorisation"], settings)
    files = sorted(
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix in (".safetensors", ".npy", ".json")
    )
    encoder_files = [p for p in files if "domain-encoder" in p.parts]
    assert {p.name for p in encoder_files} == {"model.safetensors", "config.json"}
    assert any(p.suffix == ".npy" for p in files)
    for f in files:
        damage(f)
    again = evaluate(real, synthetic, ["fd", "memorisation"], settings)
    assert again.cache_hits == 0  # nothing damaged was used
    assert _values(again.rows) == pytest.approx(_values(first.rows), rel=1e-6)
    third = evaluate(real, synthetic, ["fd", "memorisation"], settings)
    assert third.cache_misses == 0  # the entries were rewritten whole
    assert not [p for p in tmp_path.rglob(".*") if p.name.startswith(".")]  # no temporary debris


def _vit(folder, *, safe: bool):
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    ViTModel(cfg).save_pretrained(folder)
    if not safe:  # the same weights in the pickle format older transformers wrote
        from safetensors.torch import load_file

        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


def test_pickle_weights_are_refused_by_name(tmp_path):
    from synthbench.metrics.local_encoder import LocalEncoder

    folder = _vit(tmp_path / "vit-bin", safe=False)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    with pytest.raises(SynthbenchError) as err:
        LocalEncoder.create(None, path=str(folder))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(folder / "pytorch_model.bin")) and "pickle-format" in message

    # a pickle file offered directly, whatever its name
    blob = tmp_path / "encoder.weights"
    torch.save({"w": torch.zeros(2)}, blob)
    with pytest.raises(SynthbenchError, match=r"encoder\.weights: pickle-format weights"):
        LocalEncoder.create(None, path=str(blob))

    # beside safetensors a stray .bin is never read: the safetensors weights are
    safe = _vit(tmp_path / "vit-both", safe=True)
    (safe / "pytorch_model.bin").write_bytes(b"not a pickle at all")
    encoder = LocalEncoder.create(None, path=str(safe))
    images = np.random.default_rng(0).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8)
    assert encoder(images).shape == (3, 32)


def test_timm_folder_with_pickle_weights_is_refused(tmp_path):
    import json

    from synthbench.metrics.local_encoder import LocalEncoder

    folder = tmp_path / "resnet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet10t", "num_classes": 0}))
    torch.save({}, folder / "pytorch_model.bin")
    with pytest.raises(SynthbenchError, match=r"pytorch_model\.bin: pickle-format weights"):
        LocalEncoder.create(None, path=str(folder))
