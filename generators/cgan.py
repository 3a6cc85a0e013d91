"""``cgan``: a conditional GAN, one model per data set (label-conditioned).

>>> from synthbench.generators.cgan import CGANConfig
>>> CGANConfig.for_profile("smoke").latent_dim
16

A small convolutional generator (class embedding concatenated to the noise) against a
projection discriminator (Miyato & Koyama 2018) with spectral normalisation, trained with the
hinge loss and simultaneous updates through the shared training loop; samples come from the
EMA of the generator's weights. Weights are saved as ``cgan/model.safetensors`` (generator
only) beside ``cgan/config.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.generators.base import (
    Capabilities,
    Generator,
    load_module_state,
    load_safetensors,
    save_safetensors,
)
from synthbench.generators.conditions import ResolvedConditions
from synthbench.generators.neural import NeuralConfig, class_ids

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class CGANConfig(NeuralConfig):
    """Defaults are the ``quick`` profile."""

    widths: tuple[int, ...] = (128, 64, 32)
    latent_dim: int = 64
    lr: float = 2e-4
    adam_beta1: float = 0.0
    warmup_steps: int = 1
    grad_clip: float = 0.0
    ema_decay: float = 0.999

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "widths": (32, 16),
            "latent_dim": 16,
            "steps": 30,
            "batch_size": 16,
            "checkpoint_every": 0,
        },
        "quick": {},
        "standard": {
            "widths": (256, 128, 64, 32),
            "latent_dim": 128,
            "steps": 40_000,
            "batch_size": 128,
        },
    }


def build_generator(
    channels: int, size: int, n_classes: int, widths: tuple[int, ...], latent: int
) -> Any:
    """The generator network (rebuilt from JSON on load)."""
    import torch
    from torch import nn

    levels = len(widths)
    if size % 2**levels:
        raise ValueError(f"cgan needs an image size divisible by {2**levels}, got {size}")
    low = size // 2**levels

    class GeneratorNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_classes, latent)
            self.project = nn.Linear(2 * latent, widths[0] * low * low)
            blocks: list[nn.Module] = []
            for a, b in zip(widths, [*widths[1:], widths[-1]]):
                blocks += [
                    nn.BatchNorm2d(a),
                    nn.ReLU(),
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(a, b, 3, 1, 1),
                ]
            self.blocks = nn.Sequential(*blocks)
            self.out = nn.Sequential(
                nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], channels, 3, 1, 1)
            )

        def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            h = self.project(torch.cat([z, self.embed(y)], 1)).view(len(z), widths[0], low, low)
            return torch.tanh(self.out(self.blocks(h)))

    return GeneratorNet()


def build_discriminator(channels: int, n_classes: int, widths: tuple[int, ...]) -> Any:
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    class Discriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = channels
            for w in reversed(widths):
                layers += [spectral_norm(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
                c_in = w
            self.features = nn.Sequential(*layers)
            self.linear = spectral_norm(nn.Linear(c_in, 1))
            self.embed = spectral_norm(nn.Embedding(n_classes, c_in))

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            h = self.features(x).sum(dim=(2, 3))
            # projection: an unconditional score plus the class embedding's inner product
            return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)

    return Discriminator()


class CGAN(Generator):
    """Conditional GAN (see the module docstring)."""

    name = "cgan"
    Config = CGANConfig
    capabilities = Capabilities(conditioning="label", trains=True)
    config: CGANConfig

    def _arch(self) -> dict[str, Any]:
        schema = self._require_fit()
        c, h, _ = schema.image_shape
        return {
            "channels": c,
            "size": h,
            "n_classes": len(schema.class_index()),
            "widths": list(self.config.widths),
            "latent": self.config.latent_dim,
        }

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        import torch

        from synthbench.generators.image_space import to_model_space
        from synthbench.generators.training import TrainSettings
        from synthbench.generators.training import train as train_loop

        torch.manual_seed(seed)
        arch = self._arch()
        gen_net = build_generator(**{**arch, "widths": tuple(arch["widths"])})
        disc = build_discriminator(arch["channels"], arch["n_classes"], tuple(arch["widths"]))
        data = {
            "x": to_model_space(train.images, arch["channels"]),
            "y": torch.from_numpy(class_ids(self._require_fit(), train.modality, train.label)),
        }
        latent = self.config.latent_dim

        def to_device(device: torch.device) -> None:
            data.update({k: v.to(device) for k, v in data.items()})

        def loss_fn(ctx: Any) -> dict[str, torch.Tensor]:
            idx = ctx.indices.to(ctx.device)
            x, y = data["x"][idx], data["y"][idx]
            z = torch.randn(len(idx), latent, generator=ctx.generator, device=ctx.device)
            fake = ctx.modules["generator"](z, y)
            d = ctx.modules["discriminator"]
            d_loss = torch.relu(1 - d(x, y)).mean() + torch.relu(1 + d(fake.detach(), y)).mean()
            g_loss = -d(fake, y).mean()
            return {"discriminator": d_loss, "generator": g_loss}

        result, ema = train_loop(
            {"generator": gen_net, "discriminator": disc},
            loss_fn,
            len(train),
            TrainSettings.from_config(self.config),
            seed=seed,
            state_dir=self.state_dir,
            config_hash=self.config_hash,
            progress=self.progress,
            description="cgan",
            on_device=to_device,
            groups={"generator": ["generator"], "discriminator": ["discriminator"]},
        )
        self.net_ = ema["generator"].cpu().eval()
        return {**result.summary(), "parameters": sum(p.numel() for p in gen_net.parameters())}

    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        import torch

        from synthbench.generators.image_space import from_model_space

        schema = self._require_fit()
        y = torch.from_numpy(class_ids(self._require_fit(), conditions.modality, conditions.label))
        z = torch.randn(len(conditions), self.config.latent_dim, generator=generator)
        with torch.no_grad():
            x = self.net_(z, y)
        native = np.asarray([schema.channels[m] for m in conditions.modality])
        return from_model_space(x, native, schema.image_shape[0])

    def _save_state(self, path: Path) -> None:
        (path / "cgan").mkdir()
        save_safetensors(dict(self.net_.state_dict()), path / "cgan" / "model.safetensors")
        (path / "cgan" / "config.json").write_text(json.dumps(self._arch(), indent=2))

    def _load_state(self, path: Path) -> None:
        arch = json.loads((path / "cgan" / "config.json").read_text())
        self.net_ = build_generator(**{**arch, "widths": tuple(arch["widths"])}).eval()
        load_module_state(self.net_, load_safetensors(path / "cgan" / "model.safetensors"), path)
