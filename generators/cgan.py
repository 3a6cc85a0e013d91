"""``cgan``: a conditional GAN, one model per data set (label-conditioned).

>>> from synthbench.generators.cgan import CGANConfig
>>> CGANConfig.for_profile("smoke").latent_dim
16

A small convolutional generator against a projection discriminator (Miyato & Koyama 2018) with
spectral normalisation and a minibatch standard-deviation feature, trained with the hinge loss
through the shared training loop with ``d_steps`` discriminator updates per generator update
(SNGAN's n_dis = 5: with one, the generator learns to ignore its noise and gives one image per
class); a training step is one discriminator update. The class's embedding is concatenated to
the noise. The quick profile (the class defaults) turns on what got every OCT class judged as
asked (docs/conditioning.md): ``conditional_norm``, every batch normalisation of the generator
takes its scale and shift from the class (as in SNGAN and BigGAN); ``diff_augment``, the
discriminator sees real and generated images through the same kind of random shifts and cutouts
(DiffAugment); ``aux_classifier``, AC-GAN's auxiliary classification loss (Odena et al. 2017):
a class head on the discriminator's features learns the classes of real images and the
generator is also trained to make images that head assigns to the asked class (weight 2);
``class_std``, the minibatch standard deviation taken within each class (it kept a training
seed from collapsing to one image per class); and ``extra_convs``, one more 3x3 convolution at
each resolution of both networks (SNGAN's "standard CNN").
Samples come from the EMA of the generator's weights, with
``z ~ N(0, T^2 I)`` (``temperature`` T, 1 by default: the truncation trick below 1).
Weights are saved as ``cgan/model.safetensors`` (generator only) beside ``cgan/config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from synthbench.config import ConfigVersion
from synthbench.generators.base import Capabilities
from synthbench.generators.neural import (
    LatentConfig,
    LatentLabelGenerator,
    bottleneck_size,
    class_scale_shift,
    embed_codes,
    labelled_images,
    n_parameters,
    soft_cross_entropy,
)

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class CGANConfig(LatentConfig):
    """Defaults are the ``quick`` profile."""

    widths: tuple[int, ...] = (128, 64, 32)
    latent_dim: int = 64
    lr: float = 2e-4
    adam_beta1: float = 0.0
    warmup_steps: int = 1
    grad_clip: float = 0.0
    ema_decay: float = 0.999
    #: the discriminator also sees the batch's feature spread (minibatch standard deviation,
    #: Karras et al. 2018), so a generator that ignores its noise is caught (mode collapse)
    minibatch_std: bool = True
    #: the minibatch standard deviation is taken within each class, and each image is given its
    #: own class's: a generator that gives one image per class still shows the spread of the
    #: classes between each other in a mixed batch, but none within one
    class_std: bool = True
    #: discriminator updates per generator update; ``steps`` counts discriminator updates
    d_steps: int = 5
    #: class-conditional batch normalisation in the generator (scale and shift per class)
    conditional_norm: bool = True
    #: the discriminator sees real and generated images through the same random, differentiable
    #: shifts and cutouts (DiffAugment, Zhao et al. 2020), against overfitting on small data sets
    diff_augment: bool = True
    #: weight of an auxiliary classification loss (AC-GAN, Odena et al. 2017): a class head on
    #: the discriminator's features learns the classes of real images, and the generator is also
    #: trained to make images that head assigns to the asked class; 0 turns it off
    aux_classifier: float = 2.0
    #: extra 3x3 convolutions at each resolution of both networks (SNGAN's "standard CNN" has
    #: one before each strided convolution of the discriminator): deeper features for lesions
    #: a few pixels wide; 0 is the plain DCGAN-like stack
    extra_convs: int = 1

    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(
            1,
            added={
                "temperature": 1.0,
                "conditional_norm": False,
                "diff_augment": False,
                "aux_classifier": 0.0,
                "class_std": False,
                "extra_convs": 0,
            },
        ),
        ConfigVersion(
            2,
            removed={"class_consistency": 0.0, "twin_classifier": False},
            note="experiment options, last in commit 81a3ccc; findings in docs/conditioning.md",
        ),
    )
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "widths": (32, 16),
            "latent_dim": 16,
            "steps": 30,
            "d_steps": 2,
            "conditional_norm": True,
            "diff_augment": True,
            "batch_size": 16,
            "checkpoint_every": 0,
        },
        "quick": {"steps": 20_000},
        "standard": {
            "widths": (256, 128, 64, 32),
            "latent_dim": 128,
            "steps": 200_000,
            "batch_size": 128,
        },
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require_non_negative("aux_classifier", "extra_convs")


def build_generator(
    channels: int,
    size: int,
    n_classes: int,
    widths: tuple[int, ...],
    latent: int,
    conditional_norm: bool = False,
    extra_convs: int = 0,
) -> Any:
    """The generator network (rebuilt from JSON on load; checkpoints written before
    ``conditional_norm`` or ``extra_convs`` existed have plain batch normalisation and one
    convolution per resolution)."""
    import torch
    from torch import nn

    low = bottleneck_size("cgan", size, len(widths))

    class ClassNorm(nn.Module):
        """Batch normalisation whose scale and shift come from the condition codes (one row of
        ``scale``/``shift`` per condition slot, mixed by the codes' weights)."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.norm = nn.BatchNorm2d(c, affine=False)
            self.scale = nn.Parameter(torch.ones(n_classes, c))
            self.shift = nn.Parameter(torch.zeros(n_classes, c))

        def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return class_scale_shift(self.norm(h), self.scale, self.shift, y)

    def norm(c: int) -> nn.Module:
        return ClassNorm(c) if conditional_norm else nn.BatchNorm2d(c)

    class GeneratorNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_classes, latent)
            self.project = nn.Linear(2 * latent, widths[0] * low * low)
            blocks: list[nn.Module] = []
            for a, b in zip(widths, [*widths[1:], widths[-1]]):
                blocks += [
                    norm(a),
                    nn.ReLU(),
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(a, b, 3, 1, 1),
                ]
                for _ in range(extra_convs):
                    blocks += [norm(b), nn.ReLU(), nn.Conv2d(b, b, 3, 1, 1)]
            self.blocks = nn.ModuleList(blocks)
            self.out = nn.ModuleList(
                [norm(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], channels, 3, 1, 1)]
            )

        def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            e = embed_codes(self.embed.weight, y)
            h = self.project(torch.cat([z, e], 1)).view(len(z), widths[0], low, low)
            for layer in [*self.blocks, *self.out]:
                h = layer(h, y) if isinstance(layer, ClassNorm) else layer(h)
            return torch.tanh(h)

    return GeneratorNet()


def build_discriminator(
    channels: int,
    n_classes: int,
    widths: tuple[int, ...],
    minibatch_std: bool = True,
    classifier: bool = False,
    class_std: bool = False,
    extra_convs: int = 0,
) -> Any:
    """The projection discriminator; called as ``disc(x, y)`` it gives one score per image, and
    with ``classifier`` also ``disc(x, y, logits=True)`` -> (scores, class logits (n, slots)).
    With ``class_std`` the
    minibatch spread is taken within each condition slot (images weighted by their codes).
    ``extra_convs`` 3x3 convolutions come before each strided one, at its input's resolution."""
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    class Discriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = channels
            for w in reversed(widths):
                for _ in range(extra_convs):
                    layers += [spectral_norm(nn.Conv2d(c_in, w, 3, 1, 1)), nn.LeakyReLU(0.2)]
                    c_in = w
                layers += [spectral_norm(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
                c_in = w
            self.features = nn.Sequential(*layers)
            extra = 1 if minibatch_std else 0
            self.linear = spectral_norm(nn.Linear(c_in + extra, 1))
            self.embed = spectral_norm(nn.Embedding(n_classes, c_in + extra))
            self.classify = nn.Linear(c_in + extra, n_classes) if classifier else None

        def forward(self, x: torch.Tensor, y: torch.Tensor, logits: bool = False) -> Any:
            h = self.features(x).sum(dim=(2, 3))
            if minibatch_std:
                spread = _class_spread(h, y) if class_std else _batch_spread(h)
                h = torch.cat([h, spread], dim=1)
            # projection: an unconditional score plus the class embedding's inner product
            score = self.linear(h).squeeze(1) + (embed_codes(self.embed.weight, y) * h).sum(1)
            if logits:
                if self.classify is None:
                    raise ValueError("this discriminator was built without a class head")
                return score, self.classify(h)
            return score

    return Discriminator()


def hinge_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: real scores below 1 and generated ones above -1 cost.

    >>> import torch
    >>> hinge_loss(torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0])).item()
    1.5
    """
    import torch

    return torch.relu(1 - real_score).mean() + torch.relu(1 + fake_score).mean()


def _batch_spread(h: torch.Tensor) -> torch.Tensor:
    """The batch's feature spread (mean over features of the standard deviation over images),
    one column (n, 1)."""
    spread = h.std(dim=0, unbiased=False).mean() if len(h) > 1 else h.new_zeros(())
    return spread.expand(len(h), 1)


def _class_spread(h: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Each image's class's feature spread (n, 1): per condition slot, the standard deviation
    over images weighted by their codes, averaged over features; an image's value mixes its
    slots' by its codes. A slot with fewer than two images' weight has spread 0."""
    w = codes.to(h.dtype)  # (n, slots)
    total = w.sum(0)  # (slots,)
    mean = (w.T @ h) / total.clamp_min(1e-12)[:, None]  # (slots, d)
    var = (w.T @ h.square()) / total.clamp_min(1e-12)[:, None] - mean.square()
    spread = var.clamp_min(0).add(1e-8).sqrt().mean(1) * (total >= 2).to(h.dtype)  # (slots,)
    return ((w @ spread) / w.sum(1).clamp_min(1e-12))[:, None]


class CGAN(LatentLabelGenerator):
    """Conditional GAN (see the module docstring)."""

    name = "cgan"
    Config = CGANConfig
    capabilities = Capabilities(conditioning="label", trains=True)
    config: CGANConfig

    def _arch(self) -> dict[str, Any]:
        return {
            **super()._arch(),
            "conditional_norm": self.config.conditional_norm,
            "extra_convs": self.config.extra_convs,
        }

    def _build_network(self, arch: dict[str, Any]) -> torch.nn.Module:
        return build_generator(**arch)

    def _decode(self, z: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.net_(z, y)

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        import torch

        torch.manual_seed(seed)  # weight init only (``fit`` restores the caller's random state)
        arch = self._arch()
        gen_net = self._network(arch)
        disc = build_discriminator(
            arch["channels"],
            arch["n_classes"],
            tuple(arch["widths"]),
            minibatch_std=self.config.minibatch_std,
            classifier=self.config.aux_classifier > 0,
            class_std=self.config.class_std,
            extra_convs=self.config.extra_convs,
        )
        data = labelled_images(self._require_fit(), train, arch["channels"])
        latent, d_steps = self.config.latent_dim, max(1, self.config.d_steps)
        augmenting, aux = self.config.diff_augment, self.config.aux_classifier
        modules = {"generator": gen_net, "discriminator": disc}
        groups = {name: [name] for name in modules}

        def loss_fn(ctx: Any) -> dict[str, torch.Tensor]:
            idx = ctx.indices.to(ctx.device)
            x, y = data["x"][idx], data["y"][idx]
            z = torch.randn(len(idx), latent, generator=ctx.generator, device=ctx.device)
            disc = ctx.modules["discriminator"]

            def d(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, Any]:
                images = diff_augment(images, ctx.generator) if augmenting else images
                if aux:
                    return disc(images, labels, logits=True)
                return disc(images, labels), None

            def d_loss(fake: torch.Tensor) -> torch.Tensor:
                real_score, real_logits = d(x, y)
                fake_score, _ = d(fake, y)
                loss = hinge_loss(real_score, fake_score)
                if not aux:
                    return loss
                # the class head learns from real images only, so it learns the real classes
                return loss + aux * soft_cross_entropy(real_logits, y)

            if ctx.step % d_steps != d_steps - 1:  # a discriminator-only step
                with torch.no_grad():
                    fake = ctx.modules["generator"](z, y)
                return {"discriminator": d_loss(fake)}
            fake = ctx.modules["generator"](z, y)
            fake_score, fake_logits = d(fake, y)
            g_loss = -fake_score.mean()
            if aux:
                g_loss = g_loss + aux * soft_cross_entropy(fake_logits, y)
            return {"discriminator": d_loss(fake.detach()), "generator": g_loss}

        result, ema = self._train(modules, loss_fn, len(train), data, seed=seed, groups=groups)
        self.net_ = ema["generator"].cpu().eval()
        return {**result.summary(), "parameters": n_parameters(gen_net)}


def diff_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """DiffAugment's translation and cutout, differentiable in ``x`` (n, C, H, W): each image is
    shifted by up to 1/8 of its size (zero padding) and a square of half its size, placed at
    random, is set to 0; random draws come from ``generator`` (on ``x``'s device)."""
    import torch

    n, _, h, w = x.shape
    pad = max(1, h // 8)
    dev = x.device
    dy = torch.randint(-pad, pad + 1, (n, 1), generator=generator, device=dev)
    dx = torch.randint(-pad, pad + 1, (n, 1), generator=generator, device=dev)
    rows = (torch.arange(h, device=dev)[None] + pad + dy)[:, :, None]
    cols = (torch.arange(w, device=dev)[None] + pad + dx)[:, None, :]
    padded = torch.nn.functional.pad(x, [pad, pad, pad, pad])
    shifted = padded[torch.arange(n, device=dev)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    ch, cw = h // 2, w // 2
    cy = torch.randint(0, h - ch + 1, (n, 1, 1), generator=generator, device=dev)
    cx = torch.randint(0, w - cw + 1, (n, 1, 1), generator=generator, device=dev)
    yy, xx = torch.arange(h, device=dev)[None, :, None], torch.arange(w, device=dev)[None, None, :]
    keep = ~((yy >= cy) & (yy < cy + ch) & (xx >= cx) & (xx < cx + cw))
    return shifted * keep[:, None].to(shifted.dtype)
