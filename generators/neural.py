"""Pieces shared by the neural generators (ddpm, cvae, cgan, minim): training-loop settings in
their configs, the global class index that label-conditioned networks embed, the call into the
shared training loop, and the conversion of model outputs back to each modality's channels.

>>> NeuralConfig().mixed_precision
'auto'
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.generators.base import (
    Generator,
    GeneratorConfig,
    load_module_state,
    load_safetensors,
    save_safetensors,
)
from synthbench.generators.conditions import CohortSchema, ResolvedConditions

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort
    from synthbench.generators.training import TrainResult


@dataclass(frozen=True)
class NeuralConfig(GeneratorConfig):
    """Training-loop settings shared by the neural generators (see ``training.TrainSettings``)."""

    steps: int = 3000
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    mixed_precision: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 10

    #: settings that do not change what a training step computes: the budget and how often
    #: to checkpoint and log (the learning rate is constant after warm-up and every step draws
    #: its batch and noise from the step number), so a run can resume under another budget
    BUDGET: ClassVar[tuple[str, ...]] = ("steps", "minutes", "checkpoint_every", "log_every")

    def __post_init__(self) -> None:
        self.check_training_settings()

    def check_training_settings(self) -> None:
        """A ``ValueError`` (one line, naming the setting) for a training-loop setting no loop
        can run with: a learning rate that is not a positive number, a negative weight decay,
        warm-up or clipping, an EMA decay outside [0, 1], a batch below 1."""
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.ema_decay <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1], got {self.ema_decay}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"minutes must be a positive number or None, got {self.minutes}")
        self.require_non_negative("steps", "warmup_steps", "grad_clip", "checkpoint_every")

    def trajectory_hash(self, name: str) -> str:
        """The config hash without the budget and the sampling settings: equal for two
        configs whose training takes the same steps, however long each trains."""
        return self.config_hash(name, leave_out=(*self.BUDGET, *self.SAMPLING))


@dataclass(frozen=True)
class LatentConfig(NeuralConfig):
    """Settings of the generators that decode noise ``z`` (``cgan``, ``cvae``)."""

    #: sampling draws ``z ~ N(0, temperature^2 I)``: below 1 it trades variety for images
    #: nearer the typical one of each class (the truncation trick of GANs, the reduced
    #: temperature of VAEs and flows); a sampling setting, so a trained model can change it
    temperature: float = 1.0

    SAMPLING: ClassVar[tuple[str, ...]] = ("temperature",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


#: what a diffusion generator's network predicts (diffusers' names; see ``diffusion``)
PREDICTION_TYPES = ("epsilon", "v_prediction")


def check_prediction_type(value: str) -> None:
    if value not in PREDICTION_TYPES:
        raise ValueError(
            f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {value!r}"
        )


def class_ids(schema: CohortSchema, modality: Sequence[str], label: np.ndarray) -> np.ndarray:
    """Global class indices (see ``CohortSchema.class_index``) of (modality, label) rows;
    unlabelled rows of a multi-label modality map to that modality's single class."""
    index = schema.class_index()
    return np.asarray(
        [index.get((m, int(k)), index.get((m, -1), 0)) for m, k in zip(modality, label)], np.int64
    )


def condition_slots(schema: CohortSchema) -> dict[tuple[str, int | str], int]:
    """The rows of a label-conditioned network's condition embedding: every class of
    ``CohortSchema.class_index`` (a multi-label modality is one class), then one per finding of
    each multi-label modality, keyed ``(modality, finding name)``. A data set without multi-label
    modalities has exactly its classes, so its embedding is an ordinary class embedding."""
    slots: dict[tuple[str, int | str], int] = dict(schema.class_index())
    for mod in schema.modalities:
        if not schema.label_names.get(mod):
            for name in schema.finding_names:
                slots[(mod, name)] = len(slots)
    return slots


def condition_codes(
    schema: CohortSchema, modality: Sequence[str], label: np.ndarray, findings: np.ndarray
) -> torch.Tensor:
    """(n, slots) float weights over :func:`condition_slots`, each row summing to 1: the row's
    class for a single-label modality (one-hot, so ``codes @ embedding.weight`` is the class's
    embedding), and for a multi-label modality the mean of its class slot and the slots of the
    findings the row asks for. ``findings`` is a bool matrix over ``schema.finding_names``."""
    import torch

    slots = condition_slots(schema)
    rows = class_ids(schema, modality, label)
    codes = np.zeros((len(rows), len(slots)), np.float32)
    codes[np.arange(len(rows)), rows] = 1.0
    findings = np.asarray(findings, bool).reshape(len(rows), -1)
    for i, mod in enumerate(modality):
        if schema.label_names.get(mod):
            continue
        for j in np.flatnonzero(findings[i]):
            codes[i, slots[(mod, schema.finding_names[j])]] = 1.0
    codes /= codes.sum(axis=1, keepdims=True)
    return torch.from_numpy(codes)


def soft_cross_entropy(
    logits: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of class ``logits`` (n, slots) against condition ``codes`` (n, slots),
    rows summing to 1: the plain cross-entropy for one-hot codes. Averaged over the rows, or
    weighted by ``weights`` (n,) (0 leaves a row out).

    >>> import torch
    >>> round(float(soft_cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4)
    0.6931
    >>> logits, codes = torch.tensor([[0.0, 0.0], [9.0, 0.0]]), torch.eye(2)
    >>> round(float(soft_cross_entropy(logits, codes, torch.tensor([1.0, 0.0]))), 4)
    0.6931
    """
    import torch

    rows = -(codes.to(logits.dtype) * torch.log_softmax(logits, dim=1)).sum(1)
    if weights is None:
        return rows.mean()
    weights = weights.to(rows.dtype)
    return (rows * weights).sum() / weights.sum().clamp_min(1e-12)


def embed_codes(weight: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Condition embeddings: ``codes`` (n, slots) weights times an embedding table (slots, d)."""
    return codes.to(weight.dtype) @ weight


def class_scale_shift(
    h: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, codes: torch.Tensor
) -> torch.Tensor:
    """``h`` (n, C, H, W) times a per-channel scale plus a shift, both from tables of one row
    per condition slot (slots, C) mixed by the condition ``codes``: the affine step of a
    class-conditional normalisation."""
    return (
        h * embed_codes(scale, codes)[:, :, None, None]
        + embed_codes(shift, codes)[:, :, None, None]
    )


def code_embedding(embedding: Any) -> Any:
    """An ``nn.Module`` to stand in for an ``nn.Embedding`` inside a network that calls it (a
    diffusers UNet's class embedding): it takes condition codes (n, slots) instead of indices,
    keeps the embedding's ``weight`` parameter (so state-dict keys and saved files do not
    change) and gives exactly the embedding's rows for one-hot codes."""
    from torch import nn

    class CodeEmbedding(nn.Module):
        def __init__(self, weight: nn.Parameter) -> None:
            super().__init__()
            self.weight = weight

        def forward(self, codes: torch.Tensor) -> torch.Tensor:
            return embed_codes(self.weight, codes)

    return CodeEmbedding(embedding.weight)


def labelled_images(schema: CohortSchema, train: Cohort, channels: int) -> dict[str, torch.Tensor]:
    """A label-conditioned network's training data (``train`` is the cohort ``schema`` was
    made from): images ``x`` in model space with ``channels`` channels, and their condition
    codes ``y`` (see :func:`condition_codes`)."""
    from synthbench.generators.image_space import to_model_space

    return {
        "x": to_model_space(train.images, channels),
        # the schema was made from this cohort, so its finding columns are the schema's
        "y": condition_codes(schema, train.modality, train.label, train.findings),
    }


def to_native(x: torch.Tensor, schema: CohortSchema, modality: Sequence[str]) -> np.ndarray:
    """Model-space images back to uint8 in the training image shape, each row in its
    modality's native channels."""
    from synthbench.generators.image_space import from_model_space

    native = np.asarray([schema.channels[m] for m in modality])
    return from_model_space(x, native, schema.image_shape[0])


def bottleneck_size(generator: str, size: int, levels: int) -> int:
    """The side of the feature map after ``levels`` halvings of ``size`` px images."""
    if size % 2**levels:
        raise ValueError(f"{generator} needs an image size divisible by {2**levels}, got {size}")
    return size // 2**levels


def n_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class NeuralGenerator(Generator):
    """Base of the generators that train through the shared loop (``training.train``)."""

    config: NeuralConfig
    #: True where ``_generate`` runs the network under autocast at the config's precision
    autocast_sampling: ClassVar[bool] = False

    def sampling_precision(self) -> str:
        if not self.autocast_sampling:
            return "fp32"
        precision = self._inference_device()[1]
        return "fp32" if precision == "no" else precision

    def sampling_device(self) -> str:
        return str(self._inference_device()[0])

    def _train(
        self,
        modules: dict[str, torch.nn.Module],
        loss_fn: Callable[[Any], torch.Tensor | dict[str, torch.Tensor]],
        n_items: int,
        data: dict[str, torch.Tensor],
        *,
        seed: int,
        groups: dict[str, list[str]] | None = None,
    ) -> tuple[TrainResult, dict[str, torch.nn.Module]]:
        """``training.train`` with this generator's settings, resume folder and progress bar;
        the tensors in ``data`` are moved (in place) to the training device first."""
        from synthbench.generators.training import TrainSettings, train

        def to_device(device: torch.device) -> None:
            data.update({k: v.to(device) for k, v in data.items()})

        return train(
            modules,
            loss_fn,
            n_items,
            TrainSettings.from_config(self.config),
            seed=seed,
            state_dir=self.state_dir,
            config_hash=self.config_hash,
            trajectory_hash=self.config.trajectory_hash(self.name),
            progress=self.progress,
            description=self.name,
            on_device=to_device,
            groups=groups,
        )

    def _inference_device(self) -> tuple[torch.device, str]:
        """The device to sample on and the mixed precision the config resolves to there."""
        from synthbench.generators.training import default_device, resolve_mixed_precision

        device = default_device()
        return device, resolve_mixed_precision(self.config.mixed_precision, device)


class LatentLabelGenerator(NeuralGenerator):
    """Base of ``cgan`` and ``cvae``: a network that turns noise ``z ~ N(0, T^2 I)`` of
    ``config.latent_dim`` (``T`` the config's ``temperature``) and condition codes
    (:func:`condition_codes`) into an image, kept in ``net_`` and saved as ``<name>/model.safetensors`` beside ``<name>/config.json``."""

    def _build_network(self, arch: dict[str, Any]) -> torch.nn.Module:
        """The network of an architecture from :meth:`_arch` (``widths`` a tuple)."""
        raise NotImplementedError

    def _decode(self, z: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Model-space images from unit noise ``z`` (times the temperature) and condition codes
        ``y`` with ``net_``; ``generator`` for any further random draws."""
        raise NotImplementedError

    def _arch(self) -> dict[str, Any]:
        schema = self._require_fit()
        c, h, _ = schema.image_shape
        return {
            "channels": c,
            "size": h,
            "n_classes": len(condition_slots(schema)),  # rows of the condition embedding
            "widths": list(self.config.widths),
            "latent": self.config.latent_dim,
        }

    def _network(self, arch: dict[str, Any]) -> torch.nn.Module:
        return self._build_network({**arch, "widths": tuple(arch["widths"])})

    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        import torch

        schema = self._require_fit()
        y = condition_codes(schema, conditions.modality, conditions.label, conditions.findings)
        z = torch.randn(len(conditions), self.config.latent_dim, generator=generator)
        z = z * self.config.temperature
        with torch.no_grad():
            x = self._decode(z, y, generator)
        return to_native(x, schema, conditions.modality)

    def _save_state(self, path: Path) -> None:
        (path / self.name).mkdir()
        save_safetensors(dict(self.net_.state_dict()), path / self.name / "model.safetensors")
        (path / self.name / "config.json").write_text(json.dumps(self._arch(), indent=2))

    def _load_state(self, path: Path) -> None:
        arch = json.loads((path / self.name / "config.json").read_text())
        self.net_ = self._network(arch).eval()
        load_module_state(self.net_, load_safetensors(path / self.name / "model.safetensors"), path)
