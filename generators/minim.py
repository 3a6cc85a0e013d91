"""``minim``: one text-conditioned diffusion model for every modality of a cohort (Wang et al.,
Nature Medicine 2025).

>>> from synthbench.generators.minim import MinimConfig
>>> MinimConfig.for_profile("smoke").image_size
16

A diffusers ``UNet2DConditionModel`` cross-attends to a text encoder that reads the ``"Modality:
findings"`` report: by default a small BERT trained jointly with the UNet on the training reports,
with a word-level tokenizer built from them (both saved with the checkpoint); or a pretrained
encoder from a local folder (``text_encoder_path``). All modalities share one image space:
``image_size`` px, 3 channels, grayscale replicated in and averaged back out. With ``pooled_text``
(the default) the prompt also reaches every resolution through the timestep embedding: a prompt
embedding, projected, is added to it (as in Imagen; diffusers' ``projection`` class embedding).
The prompt embedding is the mean of the token states: trained through the diffusion loss alone,
that mean came out nearly
the same for every class of report (the distance between OCT class means was 0.1-0.3 against a
spread of 0.13 within a class and a norm of 2 after projection, while ``ddpm``'s class embeddings
are about 15 apart), so it told the UNet little. ``pooled_norm`` standardises that mean per
dimension with its mean and spread over the training reports (from the encoder as the UNet starts
training; saved with the checkpoint). For an encoder as built that puts OCT class means 2.2-3.8
apart with a spread of 3.8-4.6 within a class, against 0.3-0.5 and 0.5-0.6 unstandardised: the
classes separate no better, but on the scale that the projection's initial weights and learning
rate work at. ``text_class_loss`` adds, in training only, a linear head on the pooled prompt that
predicts the report's class from the training cohort's labels, so the text encoder learns to set
the classes apart where the pooled path reads them (the head is not saved; prompts stay free text).
Those three are on by default: together they took the quick model's OCT CNV samples from 30-50%
judged as asked to 74% at 1,000 steps (``docs/conditioning.md``). Training drops the prompt with probability ``cond_dropout`` (the empty prompt is the
unconditional input); sampling runs classifier-free guidance with the conditional and unconditional
passes in one batch, DPM-Solver++ with ``sampling_steps`` steps, on EMA weights. The UNet predicts
v (``prediction_type``): at the quick profile, with noise prediction the samples kept grey,
speckled backgrounds after 3,000 steps and followed their prompts far less; with v they had dark
backgrounds and real-looking layers from 500 steps on. ``init_from`` fine-tunes a trained
checkpoint: its tokenizer, text encoder, UNet and prompt standardisation start the training (new
words in the reports map to the tokenizer's unknown token; the class head starts afresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.config import ConfigVersion
from synthbench.errors import SynthbenchError
from synthbench.generators.base import Capabilities
from synthbench.generators.conditions import ResolvedConditions
from synthbench.generators.neural import (
    NeuralConfig,
    NeuralGenerator,
    check_prediction_type,
    condition_codes,
    condition_slots,
    n_parameters,
    soft_cross_entropy,
    to_native,
)

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort

MODEL_CHANNELS = 3
PROMPT_NORM = "prompt_norm.safetensors"


@dataclass(frozen=True)
class MinimConfig(NeuralConfig):
    """Defaults are the ``quick`` profile (32 px, a ~2M-parameter cross-attention UNet)."""

    SAMPLING: ClassVar[tuple[str, ...]] = ("guidance_scale", "sampling_steps")
    #: the settings a fine-tuning run (``init_from``) changes besides the budget
    FINE_TUNING: ClassVar[tuple[str, ...]] = ("init_from", "lr", "warmup_steps")
    #: checkpoints written before the settings of version 1 existed condition through
    #: cross-attention only and predict the noise
    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(
            1,
            added={
                "pooled_text": False,
                "prediction_type": "epsilon",
                "pooled_norm": False,
                "text_class_loss": 0.0,
                "init_from": None,
            },
        ),
        ConfigVersion(
            2,
            removed={
                "text_pretrain_steps": 0,
                "text_pretrain_batch": 256,
                "text_pretrain_lr": 1e-3,
                "full_res_attention": False,
            },
            note="experiment options, last in commit 81a3ccc; findings in docs/conditioning.md",
        ),
    )

    image_size: int = 32
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_heads: int = 4
    norm_num_groups: int = 8
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    vocab_size: int = 2000
    max_tokens: int = 64
    #: a local folder with a pretrained ``transformers`` encoder and its tokenizer; None: train one
    text_encoder_path: str | None = None
    train_text_encoder: bool = True
    #: add the pooled prompt to the timestep embedding (besides cross-attention)
    pooled_text: bool = True
    #: standardise the pooled prompt per dimension (mean and spread of the mean-pooled token
    #: states over the training reports, from the text encoder as the UNet starts training);
    #: applies with ``pooled_text`` (``uses_prompt_norm``)
    pooled_norm: bool = True
    #: weight of an auxiliary loss that shapes the text encoder in training: a linear head on
    #: the pooled prompt predicts the report's class (the training cohort's labels); 0: none.
    #: Applies where the text encoder trains (``train_text_encoder``) and the training cohort
    #: has more than one class (of its modalities, labels and findings)
    text_class_loss: float = 1.0
    #: what the UNet predicts: ``v_prediction`` or ``epsilon`` (checkpoints before it existed)
    prediction_type: str = "v_prediction"
    cond_dropout: float = 0.1
    #: fine-tune: a trained ``minim`` checkpoint (folder) whose tokenizer, text encoder and UNet
    #: (the EMA weights it samples with) start the training instead of fresh ones; its
    #: architecture must be this config's. None: train from scratch
    init_from: str | None = None
    guidance_scale: float = 6.0
    sampling_steps: int = 20

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "image_size": 16,
            "block_out_channels": (16, 32),
            "attention_heads": 2,
            "text_dim": 32,
            "text_layers": 1,
            "text_heads": 2,
            "vocab_size": 400,
            "max_tokens": 48,
            "steps": 30,
            "batch_size": 16,
            "warmup_steps": 5,
            "lr": 1e-3,
            "checkpoint_every": 0,
            "sampling_steps": 6,
        },
        "quick": {"steps": 5_000},
        "standard": {
            "image_size": 64,
            "block_out_channels": (64, 128, 256, 256),
            "layers_per_block": 2,
            "attention_heads": 8,
            "text_dim": 256,
            "text_layers": 4,
            "text_heads": 8,
            "vocab_size": 8000,
            "max_tokens": 96,
            "steps": 60_000,
            "batch_size": 128,
            "ema_decay": 0.9995,
            "checkpoint_every": 2000,
            "sampling_steps": 25,
        },
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size % 2 ** (len(self.block_out_channels) - 1):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2^{len(self.block_out_channels) - 1}"
            )
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1), got {self.cond_dropout}")
        self.require_non_negative("text_class_loss")
        check_prediction_type(self.prediction_type)

    @property
    def uses_prompt_norm(self) -> bool:
        """Whether ``pooled_norm`` applies: only where the UNet reads a pooled prompt."""
        return self.pooled_norm and self.pooled_text

    @property
    def uses_text_class_loss(self) -> bool:
        """Whether ``text_class_loss`` can apply (a frozen encoder has nothing for it to shape);
        a training cohort with one class (one modality, unlabelled) turns it off as well."""
        return self.text_class_loss > 0 and self.train_text_encoder


class Minim(NeuralGenerator):
    """MINIM (see the module docstring)."""

    name = "minim"
    Config = MinimConfig
    capabilities = Capabilities(conditioning="text", feedback=True, transfer=True, trains=True)
    autocast_sampling = True
    config: MinimConfig
    block_size = 32
    #: with ``pooled_norm``: the per-dimension mean and standard deviation it standardises with
    prompt_norm_: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ model
    def _build_unet(self, cross_dim: int) -> Any:
        from diffusers import UNet2DConditionModel

        cfg = self.config
        levels = len(cfg.block_out_channels)
        # no attention at full resolution: at 32 px its 1024-token self-attention made a CPU
        # training step 10x slower (measured)
        down = ["DownBlock2D"] + ["CrossAttnDownBlock2D"] * (levels - 1)
        up = ["CrossAttnUpBlock2D"] * (levels - 1) + ["UpBlock2D"]
        pooled = {
            "class_embed_type": "projection",
            "projection_class_embeddings_input_dim": cross_dim,
        }
        return UNet2DConditionModel(
            sample_size=cfg.image_size,
            in_channels=MODEL_CHANNELS,
            out_channels=MODEL_CHANNELS,
            block_out_channels=tuple(cfg.block_out_channels),
            layers_per_block=cfg.layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            cross_attention_dim=cross_dim,
            attention_head_dim=cfg.attention_heads,  # diffusers' name for the number of heads
            norm_num_groups=cfg.norm_num_groups,
            only_cross_attention=(False,) * levels,
            **(pooled if cfg.pooled_text else {}),
        )

    @staticmethod
    def denoiser(unet: Any, states: torch.Tensor, mask: torch.Tensor, pooled: Any = None) -> Any:
        """``f(x, t)``: the UNet's output (noise or v, as ``prediction_type`` says) conditioned
        on encoded prompts, and on their embedding ``pooled`` when the UNet was built to take one
        (default: the mean of the token states)."""
        from synthbench.generators.text import pool

        extra = {}
        if unet.config.class_embed_type == "projection":
            extra["class_labels"] = pool(states, mask) if pooled is None else pooled
        return lambda x, t: (
            unet(x, t, encoder_hidden_states=states, encoder_attention_mask=mask, **extra).sample
        )

    def encode_prompts(
        self, encoder: Any, ids: torch.Tensor, mask: torch.Tensor
    ) -> tuple[Any, Any]:
        """Token states and the prompt embedding the pooled path reads: the mean of the token
        states, standardised with ``prompt_norm_`` where it is set (``pooled_norm``)."""
        from synthbench.generators import text

        states = text.encode(encoder, ids, mask)
        pooled = text.pool(states, mask)
        if self.prompt_norm_ is None:
            return states, pooled
        mean, std = (v.to(states.device) for v in self.prompt_norm_)
        return states, (pooled.float() - mean) / std

    def _resize(self, x: torch.Tensor, size: int) -> torch.Tensor:
        import torch.nn.functional as F

        if x.shape[-1] == size and x.shape[-2] == size:
            return x
        return F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        import torch

        from synthbench.generators import diffusion, text
        from synthbench.generators.image_space import to_model_space

        cfg = self.config
        if not any(train.text):
            raise SynthbenchError("minim needs reports (text) to train on; this cohort has none")
        # weight init only; every later draw uses explicit generators (and ``fit`` restores the
        # caller's random state)
        torch.manual_seed(seed)
        base = self._init_checkpoint()
        if base is not None:  # its tokenizer, so token ids mean what its encoder learned
            tokenizer = base.tokenizer_
        elif cfg.text_encoder_path:
            tokenizer = text.PromptTokenizer.load(
                Path(cfg.text_encoder_path), cfg.max_tokens, pretrained=True
            )
        else:
            tokenizer = text.PromptTokenizer.build(
                train.text, vocab_size=cfg.vocab_size, max_tokens=cfg.max_tokens
            )
        if cfg.text_encoder_path:
            encoder = text.load_text_encoder(Path(cfg.text_encoder_path))
        else:
            encoder = text.small_text_encoder(
                tokenizer.vocab_size,
                cfg.text_dim,
                cfg.text_layers,
                cfg.text_heads,
                cfg.max_tokens,
            )
        unet = self._build_unet(encoder.config.hidden_size)
        if base is not None:
            _load_weights(unet, base.unet_, "UNet", cfg.init_from)
            _load_weights(encoder, base.text_encoder_, "text encoder", cfg.init_from)
        scheduler = diffusion.noise_scheduler(cfg.prediction_type)
        ids, mask = tokenizer(train.text)
        null_ids, null_mask = tokenizer([""])
        x = self._resize(to_model_space(train.images, MODEL_CHANNELS), cfg.image_size)
        encoder.requires_grad_(cfg.train_text_encoder)
        # from the encoder as built or loaded: a resumed run rebuilds the same one (seeded)
        # before its training state replaces the weights, so it standardises alike
        self.prompt_norm_ = None
        if cfg.uses_prompt_norm and base is not None and base.prompt_norm_ is not None:
            self.prompt_norm_ = base.prompt_norm_  # what the base's UNet learned to read
        elif cfg.uses_prompt_norm:
            pooled = self._prompt_embeddings(encoder, ids, mask)
            self.prompt_norm_ = (pooled.mean(0), pooled.std(0).clamp_min(1e-6))
        data = {
            "x": x,
            "ids": ids,
            "mask": mask,
            "null_ids": null_ids,
            "null_mask": null_mask,
        }
        dropout = cfg.cond_dropout
        modules = {"unet": unet, "text_encoder": encoder}
        if cfg.uses_text_class_loss and len(condition_slots(self._require_fit())) > 1:
            # built after the UNet and encoder, so their initial weights stay those of runs
            # without it
            data["codes"] = self._class_codes(train)
            modules["text_head"] = torch.nn.Linear(
                encoder.config.hidden_size, data["codes"].shape[1]
            )

        def loss_fn(ctx: Any) -> torch.Tensor:
            idx = ctx.indices.to(ctx.device)
            x0, ids, mask = data["x"][idx], data["ids"][idx], data["mask"][idx]
            drop = (torch.rand(len(idx), generator=ctx.generator, device=ctx.device) < dropout)[
                :, None
            ]
            ids = torch.where(drop, data["null_ids"], ids)
            mask = torch.where(drop, data["null_mask"], mask)
            states, pooled = self.encode_prompts(ctx.modules["text_encoder"], ids, mask)
            loss = diffusion.diffusion_loss(
                self.denoiser(ctx.modules["unet"], states, mask, pooled),
                x0,
                scheduler,
                ctx.generator,
            )
            if "text_head" in ctx.modules:  # on the reports kept, not the dropped prompts
                logits = ctx.modules["text_head"](pooled.float())
                loss = loss + cfg.text_class_loss * soft_cross_entropy(
                    logits, data["codes"][idx], ~drop[:, 0]
                )
            return loss

        result, ema = self._train(modules, loss_fn, len(train), data, seed=seed)
        self.unet_ = ema["unet"].cpu().eval()
        self.text_encoder_ = ema["text_encoder"].cpu().eval()
        self.tokenizer_ = tokenizer
        self.scheduler_config_ = {
            k: v for k, v in scheduler.config.items() if not k.startswith("_")
        }
        extra = {}
        if "text_head" in modules:
            extra["text_class_accuracy"] = self._text_class_accuracy(ema["text_head"], data)
        if base is not None:
            extra["init_from"] = {
                "path": cfg.init_from,
                "config_hash": base.config_hash,
                "steps": base.fit_info_.get("steps"),
                "data": base.fit_info_.get("data"),
            }
        return {
            **result.summary(),
            **extra,
            "parameters": n_parameters(unet),
            "text_encoder_parameters": n_parameters(encoder),
        }

    def _init_checkpoint(self) -> Minim | None:
        """The trained ``minim`` that ``init_from`` names (None without it)."""
        if not self.config.init_from:
            return None
        from synthbench.generators.base import load_generator

        base = load_generator(Path(self.config.init_from))
        if not isinstance(base, Minim):
            raise SynthbenchError(
                f"init_from {self.config.init_from}: a {base.name} checkpoint; "
                "minim fine-tunes from a minim checkpoint"
            )
        return base

    def _class_codes(self, train: Cohort) -> torch.Tensor:
        """The training reports' classes as condition codes, for ``text_class_loss``."""
        return condition_codes(self._require_fit(), train.modality, train.label, train.findings)

    def _text_class_accuracy(self, head: Any, data: dict[str, Any]) -> float:
        """How often the (averaged) class head names the largest code of a training report."""
        import torch

        ids, mask, codes = (data[k].cpu() for k in ("ids", "mask", "codes"))
        pooled = self._prompt_embeddings(self.text_encoder_, ids, mask)
        with torch.no_grad():
            right = head.cpu()(pooled).argmax(1) == codes.argmax(1)
        return round(float(right.float().mean()), 4)

    def _prompt_embeddings(
        self, encoder: Any, ids: torch.Tensor, mask: torch.Tensor, chunk: int = 1024
    ) -> torch.Tensor:
        """:meth:`encode_prompts`' prompt embeddings of a corpus, in chunks, in eval mode and
        without gradients; float32 on the CPU."""
        import torch

        was_training = encoder.training
        encoder.eval()
        with torch.no_grad():
            out = [
                self.encode_prompts(encoder, ids[i : i + chunk], mask[i : i + chunk])[1]
                .float()
                .cpu()
                for i in range(0, len(ids), chunk)
            ]
        encoder.train(was_training)
        return torch.cat(out)

    # ------------------------------------------------------------------ sample
    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        import torch

        from synthbench.generators import diffusion
        from synthbench.generators.training import autocast

        cfg = self.config
        schema = self._require_fit()
        device, precision = self._inference_device()
        unet, encoder = self.unet_.to(device), self.text_encoder_.to(device)
        n = len(conditions)
        ids, mask = self.tokenizer_(list(conditions.text))
        guided = cfg.guidance_scale != 1.0
        if guided:
            null_ids, null_mask = self.tokenizer_([""])
            ids = torch.cat([null_ids.expand(n, -1), ids])
            mask = torch.cat([null_mask.expand(n, -1), mask])
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad(), autocast(device, precision):
            states, pooled = self.encode_prompts(encoder, ids, mask)

        x = diffusion.sample(
            self.denoiser(unet, states, mask, pooled),
            (n, MODEL_CHANNELS, cfg.image_size, cfg.image_size),
            self.scheduler_config_,
            cfg.sampling_steps,
            generator,
            device,
            precision,
            cfg.guidance_scale,
        )
        return to_native(self._resize(x, schema.image_shape[-1]), schema, conditions.modality)

    # ------------------------------------------------------------------ checkpoints
    def _save_state(self, path: Path) -> None:
        from synthbench.generators.diffusion import save_scheduler
        from synthbench.generators.text import quiet_hf

        quiet_hf()
        self.unet_.save_pretrained(path / "unet", safe_serialization=True)
        self.text_encoder_.save_pretrained(path / "text_encoder", safe_serialization=True)
        self.tokenizer_.save(path / "tokenizer")
        save_scheduler(self.scheduler_config_, path / "scheduler")
        if self.prompt_norm_ is not None:
            from safetensors.torch import save_file

            mean, std = self.prompt_norm_
            save_file({"mean": mean.contiguous(), "std": std.contiguous()}, path / PROMPT_NORM)

    def _load_state(self, path: Path) -> None:
        from diffusers import UNet2DConditionModel

        from synthbench.generators import text
        from synthbench.generators.diffusion import load_scheduler_config

        self.unet_ = UNet2DConditionModel.from_pretrained(
            path / "unet", use_safetensors=True
        ).eval()
        self.text_encoder_ = text.load_text_encoder(path / "text_encoder").eval()
        self.tokenizer_ = text.PromptTokenizer.load(
            path / "tokenizer",
            self.config.max_tokens,
            pretrained=bool(self.config.text_encoder_path),
        )
        self.scheduler_config_ = load_scheduler_config(path / "scheduler")
        self.prompt_norm_ = None
        if self.config.uses_prompt_norm:
            from safetensors.torch import load_file

            if not (path / PROMPT_NORM).is_file():
                raise SynthbenchError(f"{path}: missing {PROMPT_NORM} (the config has pooled_norm)")
            stats = load_file(str(path / PROMPT_NORM))
            self.prompt_norm_ = (stats["mean"], stats["std"])


def _load_weights(module: Any, trained: Any, what: str, source: str | None) -> None:
    """Copy ``trained``'s weights into ``module``, built from this config; a checkpoint of
    another architecture is a one-line error naming a few of the weights that differ."""
    own, theirs = module.state_dict(), trained.state_dict()
    differ = {
        "missing": [k for k in own if k not in theirs],
        "unexpected": [k for k in theirs if k not in own],
        "of another shape": [k for k in own if k in theirs and own[k].shape != theirs[k].shape],
    }
    detail = "; ".join(
        f"{len(keys)} weights {kind} (e.g. {', '.join(keys[:3])})"
        for kind, keys in differ.items()
        if keys
    )
    if detail:
        raise SynthbenchError(
            f"init_from {source}: its {what} does not fit this config's architecture "
            f"({detail}); use the settings it was trained with"
        )
    module.load_state_dict(theirs)
