"""``ddpm``: class-conditional pixel diffusion, one model per data set (the single-domain baseline).

>>> from synthbench.generators.ddpm import DDPM, DDPMConfig
>>> DDPMConfig.for_profile("smoke").block_out_channels
(16, 32)

A diffusers ``UNet2DModel`` with a class embedding (one class per (modality, label) of the
training data, plus a null class for classifier-free guidance), trained on the data's own
channels and size, sampled with DPM-Solver++. Multi-label modalities get one class each, so for
them it conditions on the modality only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.config import ConfigVersion
from synthbench.generators.base import Capabilities
from synthbench.generators.conditions import ResolvedConditions
from synthbench.generators.neural import (
    NeuralConfig,
    NeuralGenerator,
    check_prediction_type,
    code_embedding,
    condition_codes,
    condition_slots,
    labelled_images,
    n_parameters,
    to_native,
)

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class DDPMConfig(NeuralConfig):
    """Defaults are the ``quick`` profile (a ~1M-parameter UNet for 32 px)."""

    SAMPLING: ClassVar[tuple[str, ...]] = ("guidance_scale", "sampling_steps")
    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(1, added={"prediction_type": "epsilon"}),
    )

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention: bool = True
    norm_num_groups: int = 8
    #: what the UNet predicts: ``epsilon`` or ``v_prediction``
    prediction_type: str = "epsilon"
    cond_dropout: float = 0.1
    #: judged by a real-trained CNN, the quick ``ddpm-oct`` renders every OCT class as asked
    #: (at least 80%) at guidance 6 and not at 2 (normal 50%, drusen 76%)
    guidance_scale: float = 6.0
    sampling_steps: int = 20

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "block_out_channels": (16, 32),
            "attention": False,
            "steps": 30,
            "batch_size": 16,
            "warmup_steps": 5,
            "checkpoint_every": 0,
            "sampling_steps": 6,
            "lr": 1e-3,
        },
        "quick": {},
        "standard": {
            "block_out_channels": (64, 128, 256, 256),
            "layers_per_block": 2,
            "steps": 40_000,
            "batch_size": 128,
            "ema_decay": 0.9995,
            "checkpoint_every": 2000,
            "sampling_steps": 25,
        },
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check_prediction_type(self.prediction_type)


class DDPM(NeuralGenerator):
    """Class-conditional DDPM (see the module docstring)."""

    name = "ddpm"
    Config = DDPMConfig
    capabilities = Capabilities(conditioning="label", trains=True)
    autocast_sampling = True
    config: DDPMConfig

    def _build_unet(self, channels: int, size: int, n_classes: int) -> Any:
        from diffusers import UNet2DModel

        cfg = self.config
        levels = len(cfg.block_out_channels)
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if cfg.attention and levels > 1:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        return UNet2DModel(
            sample_size=size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(cfg.block_out_channels),
            layers_per_block=cfg.layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            norm_num_groups=cfg.norm_num_groups,
            attention_head_dim=8,
            add_attention=cfg.attention,
            num_class_embeds=n_classes + 1,  # the last one is the null class
        )

    @staticmethod
    def _take_codes(unet: Any) -> Any:
        """The UNet with its class embedding taking condition codes (same weights, same keys)."""
        unet.class_embedding = code_embedding(unet.class_embedding)
        return unet

    @staticmethod
    def guidance_codes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition codes with a last column for the null condition of classifier-free
        guidance: the codes themselves (that column 0) and the null codes (one-hot on it)."""
        import torch

        padded = torch.nn.functional.pad(codes, (0, 1))
        null = torch.zeros_like(padded)
        null[:, -1] = 1.0
        return padded, null

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        import torch

        from synthbench.generators import diffusion

        schema = self._require_fit()
        c, h, _ = schema.image_shape
        n_slots = len(condition_slots(schema))
        torch.manual_seed(seed)  # weight init only; every later draw uses explicit generators
        unet = self._take_codes(self._build_unet(c, h, n_slots))
        scheduler = diffusion.noise_scheduler(self.config.prediction_type)
        data = labelled_images(schema, train, c)
        data["y"], nulls = self.guidance_codes(data["y"])
        null = nulls[0]
        dropout = self.config.cond_dropout

        def loss_fn(ctx: Any) -> torch.Tensor:
            idx = ctx.indices.to(ctx.device)
            x0, y = data["x"][idx], data["y"][idx]
            drop = torch.rand(len(y), generator=ctx.generator, device=ctx.device) < dropout
            y = torch.where(drop[:, None], null.to(y.device), y)
            model = ctx.modules["unet"]
            return diffusion.diffusion_loss(
                lambda x, t: model(x, t, class_labels=y).sample, x0, scheduler, ctx.generator
            )

        result, ema = self._train({"unet": unet}, loss_fn, len(train), data, seed=seed)
        self.unet_ = ema["unet"].cpu().eval()
        self.scheduler_config_ = dict(scheduler.config)
        return {**result.summary(), "parameters": n_parameters(unet)}

    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        import torch

        from synthbench.generators import diffusion

        schema = self._require_fit()
        device, precision = self._inference_device()
        unet = self.unet_.to(device)
        codes = condition_codes(schema, conditions.modality, conditions.label, conditions.findings)
        y, null = (c.to(device) for c in self.guidance_codes(codes))
        scale = self.config.guidance_scale
        labels = torch.cat([null, y]) if scale != 1.0 else y
        x = diffusion.sample(
            lambda x, t: unet(x, t, class_labels=labels).sample,
            (len(conditions), *schema.image_shape),
            self.scheduler_config_,
            self.config.sampling_steps,
            generator,
            device,
            precision,
            scale,
        )
        return to_native(x, schema, conditions.modality)

    def _save_state(self, path: Path) -> None:
        from synthbench.generators.diffusion import save_scheduler

        self.unet_.save_pretrained(path / "unet", safe_serialization=True)
        save_scheduler(self.scheduler_config_, path / "scheduler")

    def _load_state(self, path: Path) -> None:
        from diffusers import UNet2DModel

        from synthbench.generators.diffusion import load_scheduler_config

        unet = UNet2DModel.from_pretrained(path / "unet", use_safetensors=True)
        self.unet_ = self._take_codes(unet).eval()
        self.scheduler_config_ = load_scheduler_config(path / "scheduler")
