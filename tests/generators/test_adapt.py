"""``synthbench adapt``: a trained minim moves to a modality it never saw, in full or with LoRA;
the domain's new words get their own tokens; a LoRA checkpoint is small, keeps the base frozen
and refuses a base that is not the one it was trained on."""

import subprocess
import sys

import numpy as np
import pytest

from synthbench.data.source import load_data
from synthbench.generators.base import load_generator

BASE_DATA = "phantom:oct?n=40&size=16"
NEW_DATA = "phantom:brain_mri?n=40&size=16"


def _train_base(folder, seed=0):
    import torch

    from synthbench.generators.base import create_generator

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = create_generator("minim", profile="smoke", steps=8)
        gen.fit(load_data(BASE_DATA).train, seed=seed)
    finally:
        torch.set_num_threads(before)
    gen.fit_info_["data"] = BASE_DATA
    return gen.save(folder)


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """The base and its full and LoRA adaptations to brain MRI, made by the command line."""
    root = tmp_path_factory.mktemp("adapt")
    base = _train_base(root / "base")
    for method in ("full", "lora"):
        result = _adapt(base, method, root / method)
        assert result.returncode == 0, result.stderr
        assert "new words" in result.stdout
    return root


def _adapt(base, method, out, *extra):
    command = [
        sys.executable,
        "-m",
        "synthbench.cli",
        "adapt",
        str(base),
        "--data",
        NEW_DATA,
        "--shots",
        "20",
        "--method",
        method,
        "--profile",
        "smoke",
        "--steps",
        "6",
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _size(folder):
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_new_words_get_their_own_tokens(adapted):
    base = load_generator(adapted / "base")
    unknown = base.tokenizer_(["MRI brain tumour"])[0][0, 1:4].tolist()
    assert len(set(unknown)) == 1, "the base reads all three new words as one unknown token"
    for method in ("full", "lora"):
        gen = load_generator(adapted / method)
        assert {"mri", "brain", "tumour"} <= set(gen.new_words_)
        ids = gen.tokenizer_(["MRI brain tumour"])[0][0].tolist()
        assert len(set(ids[1:4])) == 3 and ids[1] >= base.tokenizer_.vocab_size
        # the base's words keep their ids
        old = base.tokenizer_(["OCT macula drusen"])[0]
        assert gen.tokenizer_(["OCT macula drusen"])[0].tolist() == old.tolist()


def test_lora_is_small_keeps_the_base_frozen_and_samples_the_new_modality(adapted):
    full, lora = adapted / "full", adapted / "lora"
    assert _size(lora) <= 0.10 * _size(full), (_size(lora), _size(full))
    base = load_generator(adapted / "base")
    gen = load_generator(lora)
    assert gen.fit_info_["adaptation"]["method"] == "lora"
    state = gen.unet_.state_dict()
    for key, value in base.unet_.state_dict().items():
        kept = (
            key
            if key in state
            else key.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        )
        assert kept in state, key
        assert np.array_equal(state[kept].numpy(), value.numpy()), key
    adapted_layers = {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in state if ".lora_" in k}
    assert adapted_layers == {"to_q", "to_k", "to_v", "0"}, adapted_layers  # "0": to_out.0
    out = gen.sample(4, seed=0)
    assert set(out.modality) == {"brain_mri"} and out.images.shape[1:] == (1, 16, 16)
    again = load_generator(lora).sample(4, seed=0)
    np.testing.assert_array_equal(out.images, again.images)


def test_lora_on_every_layer_adapts_the_convolutions_and_reloads(adapted, tmp_path):
    """``lora_targets=all``: an adapter on every linear layer and convolution of the UNet, the
    base's weights still frozen; the checkpoint reloads to the same samples."""
    import torch

    out = tmp_path / "all"
    result = _adapt(
        adapted / "base", "lora", out, "--set", "lora_targets=all", "--set", "lora_rank=2"
    )
    assert result.returncode == 0, result.stderr
    gen = load_generator(out)
    assert gen.config.lora_targets == "all"
    base = load_generator(adapted / "base").unet_
    layers = {
        name
        for name, module in base.named_modules()
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d)
    }
    state = gen.unet_.state_dict()
    adapted_layers = {k.split(".lora_")[0] for k in state if ".lora_" in k}
    assert adapted_layers == layers
    assert {"conv_in", "conv_out", "time_embedding.linear_1"} <= adapted_layers
    for key, value in base.state_dict().items():
        layer = key.rsplit(".", 1)[0]
        kept = f"{layer}.base_layer.{key.rsplit('.', 1)[1]}" if layer in layers else key
        assert np.array_equal(state[kept].numpy(), value.numpy()), key
    trained = [v for k, v in state.items() if ".lora_B" in k and "conv" in k]
    assert any(v.abs().sum() > 0 for v in trained), "no convolution's adapter moved"
    images = gen.sample(4, seed=0).images
    np.testing.assert_array_equal(images, load_generator(out).sample(4, seed=0).images)


def test_full_adaptation_changes_the_base_weights(adapted):
    base = load_generator(adapted / "base").unet_.state_dict()
    tuned = load_generator(adapted / "full").unet_.state_dict()
    assert any(not np.array_equal(base[k].numpy(), tuned[k].numpy()) for k in base)


def test_lora_refuses_another_base_in_one_line(adapted, tmp_path):
    import shutil

    shutil.copytree(adapted / "lora", tmp_path / "lora")
    other = _train_base(tmp_path / "other", seed=1)
    # the adapter's config names its base by path: put another trained base there
    base_path = adapted / "base"
    saved = tmp_path / "saved-base"
    shutil.move(base_path, saved)
    shutil.copytree(other, base_path)
    try:
        from synthbench.errors import SynthbenchError

        with pytest.raises(
            SynthbenchError, match="not the checkpoint the adapters were trained on"
        ):
            load_generator(tmp_path / "lora")
    finally:
        shutil.rmtree(base_path)
        shutil.move(saved, base_path)


def test_adapt_refuses_bad_input_in_one_line(adapted, tmp_path):
    cases = [
        (["--method", "dora"], "--method"),
        (["--shots", "0"], "--shots"),
        (["--set", "lora_rank=0"], "lora_rank"),
        (["--set", "lora_conv_rank=1"], "lora_conv_rank"),
        (["--set", "lora_targets=convs"], "lora_targets"),
    ]
    for extra, needle in cases:
        args = _adapt(adapted / "base", "lora", tmp_path / "x", *extra)
        assert args.returncode == 2, (extra, args.stderr)
        lines = args.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (extra, lines)
        assert not (tmp_path / "x").exists()
    not_minim = _adapt(adapted / "lora", "lora", tmp_path / "x")
    assert not_minim.returncode == 2 and "adapt starts from a minim" in not_minim.stderr


def test_shots_are_balanced_over_classes():
    from synthbench.cli.adapt import draw_shots

    train = load_data("phantom:brain_mri?n=200&size=16").train
    picked = draw_shots(train, 40, seed=3)
    assert len(picked) == 40
    share = np.bincount(picked.label) / 40
    expected = np.bincount(train.label) / len(train)
    assert np.allclose(share, expected, atol=0.03)
    assert draw_shots(train, 40, seed=3).images.tobytes() == picked.images.tobytes()
    assert draw_shots(train, None, seed=3) is train


def test_a_pretrained_tokenizer_learns_the_words_it_could_only_read_as_unknown():
    """With a ``transformers`` tokenizer (``text_encoder_path``), a word of the new domain that
    it reads as its unknown token is added whole, matched as a word (not inside a longer one);
    words it knows keep their ids, and the base's tokenizer is left as it was."""
    from transformers import PreTrainedTokenizerFast

    from synthbench.generators.adapt import extend_tokenizer
    from synthbench.generators.text import PromptTokenizer

    built = PromptTokenizer.build(["OCT: drusen in the macula."] * 3, vocab_size=50, max_tokens=16)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=built.tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    base = PromptTokenizer(fast, 16)
    before = base(["OCT macula tumour"])[0].tolist()
    grown, new = extend_tokenizer(base, ["Breast MRI: tumour tumour.", "MRI of the breast tumour"])
    assert new == ["tumour", "breast", "mri", "of"]  # by count, then alphabetical
    assert base(["OCT macula tumour"])[0].tolist() == before  # the base's own is unchanged
    assert grown.vocab_size == base.vocab_size + 4
    ids = grown(["OCT macula tumour tumours"])[0][0].tolist()
    assert ids[:3] == before[0][:3]  # [CLS] oct macula keep their ids
    assert ids[3] >= base.vocab_size  # tumour: a new id of its own
    assert ids[4] == fast.unk_token_id  # tumours is not tumour
    assert extend_tokenizer(grown, ["MRI of the breast"])[1] == []
