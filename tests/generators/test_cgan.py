"""The conditional GAN's options: class-conditional batch normalisation and DiffAugment."""

import numpy as np
import torch

from synthbench.generators.cgan import build_generator


def test_conditional_norm_takes_scale_and_shift_from_the_class():
    """With ``conditional_norm`` each class has its own row of scales and shifts in every
    normalisation: changing class 1's rows changes class 1's images and leaves class 0's alone.
    Without it the layers are the plain batch norms of earlier checkpoints (same state keys)."""
    torch.manual_seed(0)
    net = build_generator(1, 16, 3, (8, 4), 6, conditional_norm=True).eval()
    z = torch.randn(4, 6)
    y = torch.eye(3)[[0, 0, 1, 1]]
    with torch.no_grad():
        before = net(z, y)
        for norm in (m for m in net.modules() if hasattr(m, "scale")):
            norm.scale[1] += 0.5
            norm.shift[1] -= 0.3
        after = net(z, y)
    assert torch.equal(before[:2], after[:2])
    assert (before[2:] - after[2:]).abs().max() > 1e-3

    plain = build_generator(1, 16, 3, (8, 4), 6)
    keys = set(plain.state_dict())
    assert "blocks.0.weight" in keys and "out.0.running_mean" in keys
    assert not any("scale" in k for k in keys)


def test_diff_augment_shifts_and_cuts_out_differentiably():
    """Each image is shifted (content moves, zero padding comes in) and a quarter of it is
    zeroed; the same seed gives the same augmentation, and gradients reach every input image."""
    from synthbench.generators.cgan import diff_augment

    x = (torch.rand(16, 1, 16, 16) + 0.5).requires_grad_()
    out = diff_augment(x, torch.Generator().manual_seed(0))
    again = diff_augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out, again)
    zeros = (out == 0).flatten(1).float().mean(1)
    assert (zeros >= 0.25).all()  # the cutout, plus the padding a shift brings in
    assert (zeros > 0.25).any()  # some images were shifted
    out.sum().backward()
    assert (x.grad.flatten(1).sum(1) > 0).all()
    kept = x.grad[0, 0] > 0  # pixels of image 0 that survived: a shifted block of it
    assert torch.allclose(out[0, 0][out[0, 0] != 0].sort().values, x[0, 0][kept].sort().values)


def test_aux_classifier_head_and_loss():
    """The discriminator built with a class head gives one logit per condition slot beside its
    scores (and the scores do not change with the head); the loss is the cross-entropy against
    the condition codes: plain cross-entropy for one-hot codes, the codes' mix for soft ones."""
    import pytest

    from synthbench.generators.cgan import build_discriminator
    from synthbench.generators.neural import soft_cross_entropy

    torch.manual_seed(0)
    with_head = build_discriminator(1, 3, (8, 4), classifier=True)
    torch.manual_seed(0)
    plain = build_discriminator(1, 3, (8, 4))
    x, y = torch.randn(5, 1, 16, 16), torch.eye(3)[[0, 1, 2, 1, 0]]
    score, logits = with_head(x, y, logits=True)
    assert score.shape == (5,) and logits.shape == (5, 3)
    assert torch.allclose(score, plain(x, y))
    with pytest.raises(ValueError, match="class head"):
        plain(x, y, logits=True)

    labels = torch.tensor([0, 1, 2, 1, 0])
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(soft_cross_entropy(logits, torch.eye(3)[labels]), expected)
    half = torch.tensor([[0.5, 0.5, 0.0]])
    one = logits[:1]
    mixed = 0.5 * torch.nn.functional.cross_entropy(one, torch.tensor([0]))
    mixed = mixed + 0.5 * torch.nn.functional.cross_entropy(one, torch.tensor([1]))
    assert torch.allclose(soft_cross_entropy(one, half), mixed)


def test_negative_aux_classifier_is_rejected():
    import pytest

    from synthbench.errors import SynthbenchError
    from synthbench.generators.cgan import CGANConfig

    with pytest.raises(SynthbenchError, match="aux_classifier must be >= 0"):
        CGANConfig.for_profile("smoke", aux_classifier=-1.0)
    assert CGANConfig.for_profile("smoke", aux_classifier=0.0).aux_classifier == 0.0


def _record_class_losses(monkeypatch, head: str) -> tuple[list, list]:
    """Record, while ``cgan`` trains, whether each class cross-entropy it takes is
    differentiable, and each discriminator it builds with a copy of its ``head``'s weights
    (None without that head)."""
    import synthbench.generators.cgan as cgan_mod

    calls, discs = [], []
    original_ce, original_disc = cgan_mod.soft_cross_entropy, cgan_mod.build_discriminator

    def recording_ce(logits, codes):
        calls.append(logits.requires_grad)
        return original_ce(logits, codes)

    def recording_disc(*args, **kwargs):
        disc = original_disc(*args, **kwargs)
        layer = getattr(disc, head)
        discs.append((disc, None if layer is None else layer.weight.clone()))
        return disc

    monkeypatch.setattr(cgan_mod, "soft_cross_entropy", recording_ce)
    monkeypatch.setattr(cgan_mod, "build_discriminator", recording_disc)
    return calls, discs


def test_aux_classifier_enters_both_losses(oct_data, monkeypatch):
    """In training, the class head's cross-entropy is taken on real images at every
    discriminator update and, at generator updates, also on the generated images; the head
    learns (its weights move). With weight 0 the discriminator has no head and the loss is
    never taken."""
    from synthbench.generators.base import create_generator

    calls, discs = _record_class_losses(monkeypatch, "classify")
    gen = create_generator("cgan", profile="smoke", steps=4, d_steps=2, diff_augment=False)
    gen.progress = False
    gen.fit(oct_data.train, seed=0)
    # steps 0 and 2 update the discriminator only (one term), 1 and 3 both networks (two)
    assert len(calls) == 6 and all(calls)  # all differentiable
    disc, before = discs[-1]
    assert not torch.equal(disc.classify.weight, before)

    calls.clear()
    off = create_generator("cgan", profile="smoke", steps=4, d_steps=2, aux_classifier=0.0)
    off.progress = False
    off.fit(oct_data.train, seed=0)
    assert calls == [] and discs[-1][0].classify is None


def test_class_std_sees_a_generator_that_gives_one_image_per_class():
    """Four images per class, alike within a class but not between classes: the batch's
    spread is large, each class's is 0; with varied images each image gets its class's spread
    (weighted by the codes; a soft code mixes its slots' values)."""
    from synthbench.generators.cgan import _batch_spread, _class_spread

    torch.manual_seed(0)
    per_class = torch.randn(3, 8)
    y = torch.eye(3)[[0, 1, 2] * 4]
    alike = per_class[[0, 1, 2] * 4]
    assert _batch_spread(alike).min() > 0.5
    assert _class_spread(alike, y).abs().max() < 1e-3

    varied = alike + torch.randn(12, 8) * torch.tensor([0.1, 1.0, 2.0]).repeat(4)[:, None]
    spread = _class_spread(varied, y)
    assert spread.shape == (12, 1)
    for k in range(3):
        rows = varied[k::3]
        expected = rows.std(dim=0, unbiased=False).mean()
        assert torch.allclose(spread[k::3], expected.expand(4, 1), atol=1e-4)
    assert spread[0] < spread[1] < spread[2]
    soft = _class_spread(varied, torch.cat([y, torch.tensor([[0.5, 0.5, 0.0]])])[:12])
    assert torch.allclose(soft, spread)

    from synthbench.generators.cgan import build_discriminator

    disc = build_discriminator(1, 3, (8, 4), class_std=True)
    assert disc(torch.randn(6, 1, 16, 16), torch.eye(3)[[0, 1, 2, 0, 1, 2]]).shape == (6,)


def test_extra_convs_deepen_both_networks_and_survive_save_and_load(oct_data, tmp_path):
    """``extra_convs`` adds 3x3 convolutions at each resolution of the generator and before each
    strided one of the discriminator; the saved architecture rebuilds the deeper generator, and
    without the setting the networks are the earlier ones (checkpoints keep loading)."""
    from torch import nn

    from synthbench.generators.base import create_generator, load_generator
    from synthbench.generators.cgan import build_discriminator

    def convs(net):
        return [m for m in net.modules() if isinstance(m, nn.Conv2d)]

    plain, deep = (build_generator(1, 16, 3, (8, 4), 6, extra_convs=k) for k in (0, 2))
    assert (len(convs(plain)), len(convs(deep))) == (3, 7)
    d_plain, d_deep = (build_discriminator(1, 3, (8, 4), extra_convs=k) for k in (0, 1))
    assert (len(convs(d_plain)), len(convs(d_deep))) == (2, 4)
    assert [c.kernel_size for c in convs(d_deep)] == [(3, 3), (4, 4), (3, 3), (4, 4)]
    with torch.no_grad():
        assert d_deep(torch.zeros(2, 1, 16, 16), torch.eye(3)[[0, 2]]).shape == (2,)

    gen = create_generator("cgan", profile="smoke", steps=2, d_steps=2, extra_convs=1)
    gen.progress = False
    gen.fit(oct_data.train, seed=0)
    assert len(convs(gen.net_)) == 5
    gen.save(tmp_path / "ckpt")
    again = load_generator(tmp_path / "ckpt")
    a = gen.sample(4, seed=3).images
    b = again.sample(4, seed=3).images
    assert len(convs(again.net_)) == 5 and np.array_equal(a, b)
