"""MINIM specifics: prompts, guidance in one batched pass, shared 3-channel space, errors."""

import pytest

from synthbench.errors import SynthbenchError
from synthbench.generators.conditions import Conditions


@pytest.fixture()
def minim(mixed_data, fit_generator):
    return fit_generator("minim", mixed_data)


def test_guidance_runs_cond_and_uncond_in_one_batch(minim):
    calls = []
    hook = minim.unet_.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        minim.sample(Conditions.from_prompts(["OCT: drusen.", "Fundus: glaucoma."] * 2), seed=0)
    finally:
        hook.remove()
    assert calls == [8] * minim.config.sampling_steps


def test_prompts_pick_the_modality(minim):
    out = minim.sample(
        Conditions.from_prompts(["Fundus: optic disc cupping.", "oct: drusen."]), seed=0
    )
    assert out.modality.tolist() == ["fundus", "oct"]
    assert out.text == ["Fundus: optic disc cupping.", "oct: drusen."]
    assert out.channels.tolist() == [3, 1]


def test_labels_become_prompts_rebuilt_from_their_findings(minim):
    out = minim.sample(Conditions.from_labels(["dme", "normal"], modality="oct"), seed=0)
    assert out.text == ["OCT: dme.", "OCT: normal."]
    assert out.label.tolist() == [2, 0]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("Brain MRI: a tumour.", "never seen in training"),
        ("a tumour somewhere", "does not start with 'Modality:'"),
    ],
)
def test_bad_prompts_are_clear_errors(minim, prompt, message):
    with pytest.raises(SynthbenchError, match=message) as info:
        minim.sample(Conditions.from_prompts([prompt]), seed=0)
    assert "\n" not in str(info.value)


def test_tokenizer_is_deterministic_and_saved(minim, mixed_data, tmp_path):
    from synthbench.generators.text import PromptTokenizer

    a = PromptTokenizer.build(mixed_data.train.text, vocab_size=100, max_tokens=16)
    b = PromptTokenizer.build(list(reversed(mixed_data.train.text)), vocab_size=100, max_tokens=16)
    assert a.tokenizer.get_vocab() == b.tokenizer.get_vocab()
    ids, mask = a(["OCT: drusen.", ""])
    assert ids.shape == (2, 16) and mask[1].sum() == 2  # [CLS] [SEP]
    minim.save(tmp_path / "m")
    assert (tmp_path / "m" / "tokenizer" / "tokenizer.json").is_file()
    assert (tmp_path / "m" / "text_encoder" / "model.safetensors").is_file()
    assert (tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def test_pretrained_text_encoder_from_local_folder(mixed_data, tmp_path):
    """A transformers encoder + tokenizer saved locally plug in through text_encoder_path."""
    from transformers import PreTrainedTokenizerFast

    from synthbench.generators.base import create_generator
    from synthbench.generators.text import PromptTokenizer, small_text_encoder

    tok = PromptTokenizer.build(mixed_data.train.text, vocab_size=200, max_tokens=48)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok.tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    fast.save_pretrained(tmp_path / "enc")
    small_text_encoder(200, 32, 1, 2, 48).save_pretrained(tmp_path / "enc")
    gen = create_generator(
        "minim",
        profile="smoke",
        steps=2,
        text_encoder_path=str(tmp_path / "enc"),
        train_text_encoder=False,
    )
    gen.fit(mixed_data.train, seed=0)
    a = gen.sample(4, seed=0)
    gen.save(tmp_path / "ckpt")
    from synthbench.generators.base import load_generator

    b = load_generator(tmp_path / "ckpt").sample(4, seed=0)
    assert (a.images == b.images).all()


def test_pooled_prompt_reaches_the_timestep_embedding(mixed_data):
    """With ``pooled_text`` the prompt's pooled states enter the UNet's timestep embedding too,
    so it reaches every resolution, not only the cross-attention levels; prompts still steer
    sampling (on by default; with ``pooled_text=False`` the UNet has no such embedding)."""
    import torch

    from synthbench.generators.base import create_generator
    from synthbench.generators.text import encode, pool

    assert create_generator("minim", profile="smoke").config.pooled_text
    plain = create_generator("minim", profile="smoke", pooled_text=False)
    assert plain._build_unet(32).config.class_embed_type is None
    assert not plain.config.uses_prompt_norm  # nothing to standardise
    minim = create_generator("minim", profile="smoke", pooled_text=True, pooled_norm=False).fit(
        mixed_data.train
    )
    assert minim.unet_.config.class_embed_type == "projection"
    a, b = (
        minim.sample(Conditions.from_prompts([p] * 2), seed=0)
        for p in ("OCT: drusen.", "OCT: normal.")
    )
    assert not (a.images == b.images).all()
    ids, mask = minim.tokenizer_(["OCT: drusen.", "Fundus: optic disc cupping."])
    with torch.no_grad():
        states = encode(minim.text_encoder_, ids, mask)
        pooled = pool(states, mask)
        emb = minim.unet_.class_embedding(pooled)
    assert emb.shape == (2, minim.unet_.config.block_out_channels[0] * 4)
    assert not torch.allclose(emb[0], emb[1])


def test_standardised_pooled_prompt(mixed_data, tmp_path):
    """With ``pooled_norm`` the pooled prompt is standardised per dimension over the training
    reports (the mean of the token states differs little between reports until then): with the
    encoder as built, the training reports' pooled prompts have mean 0 and spread 1 in every
    dimension. The statistics are saved, loaded and needed; a resumed run rebuilds the same."""
    import torch

    from synthbench.generators.base import create_generator, load_generator
    from synthbench.generators.minim import PROMPT_NORM

    settings = dict(pooled_text=True, pooled_norm=True, train_text_encoder=False)
    minim = create_generator("minim", profile="smoke", **settings)
    minim.state_dir = tmp_path / "state"
    minim.fit(mixed_data.train)
    ids, mask = minim.tokenizer_(list(mixed_data.train.text))
    with torch.no_grad():
        _, pooled = minim.encode_prompts(minim.text_encoder_, ids, mask)
    torch.testing.assert_close(pooled.mean(0), torch.zeros(pooled.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(pooled.std(0), torch.ones(pooled.shape[1]), atol=1e-4, rtol=0)
    prompts = Conditions.from_prompts(["OCT: drusen.", "OCT: normal."])
    a = minim.sample(prompts, seed=0)
    minim.save(tmp_path / "ckpt")
    b = load_generator(tmp_path / "ckpt").sample(prompts, seed=0)
    assert (a.images == b.images).all()
    again = create_generator("minim", profile="smoke", **settings)
    again.state_dir = tmp_path / "state"
    again.fit(mixed_data.train)  # resumes from the finished state: trains no further
    for x, y in zip(again.prompt_norm_, minim.prompt_norm_):
        assert torch.equal(x, y)
    assert (again.sample(prompts, seed=0).images == a.images).all()
    (tmp_path / "ckpt" / PROMPT_NORM).unlink()
    with pytest.raises(SynthbenchError, match=PROMPT_NORM):
        load_generator(tmp_path / "ckpt")
    unnormed = create_generator("minim", profile="smoke", pooled_norm=False)
    unnormed.fit(mixed_data.train)
    assert unnormed.prompt_norm_ is None
    unnormed.save(tmp_path / "unnormed")
    assert not (tmp_path / "unnormed" / PROMPT_NORM).exists()


def test_text_class_loss_teaches_the_encoder_the_classes(mixed_data, tmp_path):
    """With ``text_class_loss`` a linear head on the pooled prompt learns the training reports'
    classes along with the UNet (its accuracy on them goes into the fit summary, well above
    the largest class's share), the loss reaches the text encoder, and the head, used in
    training only, is not saved. It does not apply to a frozen encoder, nor to a cohort
    with one class (one unlabelled modality), which trains as with ``text_class_loss=0``."""
    import numpy as np

    from synthbench.cohort import Cohort
    from synthbench.generators.base import create_generator, load_generator

    train = mixed_data.train
    settings = dict(profile="smoke", pooled_text=True, pooled_norm=True)
    plain = create_generator("minim", text_class_loss=0.0, **settings).fit(train)
    minim = create_generator("minim", text_class_loss=1.0, **settings).fit(train)
    classes = [f"{m}/{lab}" for m, lab in zip(train.modality, train.label)]
    largest = max(np.unique(classes, return_counts=True)[1]) / len(classes)
    assert "text_class_accuracy" not in plain.fit_info_
    assert minim.fit_info_["text_class_accuracy"] >= max(0.8, largest + 0.3)
    a, b = plain.text_encoder_.state_dict(), minim.text_encoder_.state_dict()
    assert any(not (a[k] == b[k]).all() for k in a)
    minim.save(tmp_path / "ckpt")
    assert not list((tmp_path / "ckpt").rglob("*head*"))
    prompts = Conditions.from_prompts(["OCT: drusen.", "Fundus: glaucoma."])
    again = load_generator(tmp_path / "ckpt").sample(prompts, seed=0)
    assert (again.images == minim.sample(prompts, seed=0).images).all()
    oct_prompts = Conditions.from_prompts(["OCT: drusen.", "OCT: normal."])
    frozen = create_generator("minim", profile="smoke", train_text_encoder=False)
    assert frozen.config.text_class_loss > 0 and not frozen.config.uses_text_class_loss
    oct_rows = train.subset(np.flatnonzero(np.asarray(train.modality) == "oct"))
    unlabelled = Cohort.from_arrays(oct_rows.images, modality="oct", text=oct_rows.text)
    default = create_generator("minim", profile="smoke").fit(unlabelled, seed=3)
    off = create_generator("minim", profile="smoke", text_class_loss=0.0).fit(unlabelled, seed=3)
    assert "text_class_accuracy" not in default.fit_info_
    a, b = (g.sample(oct_prompts, seed=0).images for g in (default, off))
    assert (a == b).all()


def test_fine_tuning_starts_from_a_trained_checkpoint(minim, mixed_data, fit_generator, tmp_path):
    """``init_from`` starts training from a checkpoint's tokenizer, text encoder and UNet: with
    a vanishing learning rate one step leaves its weights (and so its images) as they were,
    while the same step from scratch gives other weights. Another architecture or another
    generator's checkpoint is a one-line error naming it."""
    import torch

    from synthbench.generators.base import create_generator

    minim.save(tmp_path / "base")
    base = str(tmp_path / "base")
    tuned = create_generator("minim", profile="smoke", init_from=base, steps=1, lr=1e-12)
    tuned.fit(mixed_data.train, seed=3)
    scratch = create_generator("minim", profile="smoke", steps=1, lr=1e-12).fit(mixed_data.train)
    for name, w in minim.unet_.state_dict().items():
        torch.testing.assert_close(tuned.unet_.state_dict()[name], w, atol=1e-6, rtol=0)
    assert any(
        not torch.allclose(scratch.unet_.state_dict()[k], w)
        for k, w in minim.unet_.state_dict().items()
    )
    assert tuned.tokenizer_.tokenizer.get_vocab() == minim.tokenizer_.tokenizer.get_vocab()
    assert tuned.fit_info_["init_from"]["config_hash"] == minim.config_hash
    prompts = Conditions.from_prompts(["OCT: drusen.", "Fundus: glaucoma."])
    a, b = tuned.sample(prompts, seed=1).images, minim.sample(prompts, seed=1).images
    assert abs(a.astype(float) - b.astype(float)).max() < 1e-2
    wider = create_generator("minim", profile="smoke", init_from=base, block_out_channels=(16, 48))
    with pytest.raises(SynthbenchError, match="its UNet does not fit") as info:
        wider.fit(mixed_data.train)
    assert "\n" not in str(info.value)
    # a few of the differing weights, with counts, not every one of them
    assert "weights of another shape (e.g. " in str(info.value) and len(str(info.value)) < 600
    fit_generator("cvae", mixed_data).save(tmp_path / "cvae")
    other = create_generator("minim", profile="smoke", init_from=str(tmp_path / "cvae"))
    with pytest.raises(SynthbenchError, match="a cvae checkpoint"):
        other.fit(mixed_data.train)
