"""Shared pieces of the tasks: timm backbones, batch augmentation, a supervised loop with model
selection on real validation data, and prediction in batches.

Training runs for a fixed number of optimiser steps whatever the size of the mix, so a 20x mix
costs what real-only costs and differences come from the data, not from the budget.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synthbench.errors import SynthbenchError


def images_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, C, H, W) -> float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)


#: Small timm ResNets for 32-64 px images trained from scratch on a CPU: timm's ``resnet18`` with
#: one BasicBlock per stage, few channels, and the stem conv at stride 1 (its max-pool kept), so a
#: 32 px image enters the first stage at 16x16 and the last at 2x2 instead of 1x1.
SMALL_RESNETS: dict[str, dict[str, tuple[int, ...]]] = {
    "small_resnet10_w16": {"layers": (1, 1, 1, 1), "channels": (16, 32, 64, 128)},
    "small_resnet10_w32": {"layers": (1, 1, 1, 1), "channels": (32, 64, 128, 256)},
}


def build_backbone(
    name: str, *, in_chans: int, num_classes: int, pretrained_path: str | None = None
) -> nn.Module:
    """A timm model from scratch, or with weights from a local safetensors file or a folder
    holding one (what ``timm.models.save_for_hf`` writes); weights are never downloaded.

    ``num_classes=0`` gives the pooled-feature backbone without a head. Names in
    :data:`SMALL_RESNETS` build those small-image ResNets (from scratch only).
    """
    import timm

    kwargs = {"num_classes": num_classes, "in_chans": in_chans}
    if name in SMALL_RESNETS:
        if pretrained_path:
            raise SynthbenchError(f"{name} has no pretrained weights; it trains from scratch")
        args = SMALL_RESNETS[name]
        model = timm.create_model(
            "resnet18", pretrained=False, stem_width=args["channels"][0], **args, **kwargs
        )
        model.conv1.stride = (1, 1)
        return model
    if pretrained_path:
        return timm.create_model(
            name,
            pretrained=True,
            pretrained_cfg_overlay={"file": str(safetensors_weights(Path(pretrained_path)))},
            **kwargs,
        )
    try:
        return timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as exc:  # timm: unknown model
        raise SynthbenchError(f"timm backbone {name!r}: {exc}") from None


def safetensors_weights(path: Path) -> Path:
    """The safetensors file of a weights file or folder; pickle-format weights are refused by
    name, since unpickling can run code."""
    from synthbench.metrics.local_encoder import (
        check_safetensors_folder,
        is_pickle_file,
        refuse_pickle,
    )

    if path.is_dir():
        check_safetensors_folder(path)
        found = sorted(path.glob("*.safetensors"))
        named = path / "model.safetensors"
        if named.is_file() or len(found) == 1:
            return named if named.is_file() else found[0]
        raise SynthbenchError(
            f"pretrained weights {path}: no model.safetensors and {len(found)} other safetensors "
            "files at its top level; give the weights file"
        )
    if not path.is_file():
        raise SynthbenchError(f"pretrained weights {path} not found (weights are never downloaded)")
    if is_pickle_file(path):
        raise refuse_pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise SynthbenchError(f"pretrained weights {path}: not a .safetensors file")
    return path


def augment(x: torch.Tensor, generator: torch.Generator, *, strength: float = 1.0) -> torch.Tensor:
    """Per-sample random flip, small shift and scale, brightness and contrast (label-preserving)."""
    n = x.shape[0]
    u = torch.rand(n, 6, generator=generator)
    flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0)
    scale = 1.0 + strength * 0.1 * (2 * u[:, 1] - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flip / scale
    theta[:, 1, 1] = 1.0 / scale
    theta[:, 0, 2] = strength * 0.08 * (2 * u[:, 2] - 1)
    theta[:, 1, 2] = strength * 0.08 * (2 * u[:, 3] - 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = (1.0 + strength * 0.15 * (2 * u[:, 4] - 1)).view(n, 1, 1, 1)
    bright = (strength * 0.06 * (2 * u[:, 5] - 1)).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + bright).clamp_(0.0, 1.0)


def batches(n: int, batch_size: int, generator: torch.Generator, steps: int):
    """``steps`` index batches, reshuffling at every pass over the data."""
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            if done >= steps:
                return
            idx = order[start : start + batch_size]
            if len(idx) < min(batch_size, n) // 2:
                continue  # a tiny last batch upsets batch norm
            yield idx
            done += 1


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Model outputs in eval mode, in batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def fit_supervised(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    eval_every: int,
    seed: int,
    multilabel: bool = False,
    class_weight: torch.Tensor | None = None,
    augment_strength: float = 1.0,
    val_score: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Train with AdamW and a cosine schedule; keep the weights with the best validation score
    (default: lowest validation loss). Returns the model and a summary of the selection."""
    if len(x) == 0:
        raise SynthbenchError("the training set is empty")
    loss_fn: nn.Module = (
        nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss(weight=class_weight)
    )
    eval_loss = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1
    )
    gen = torch.Generator().manual_seed(seed)

    def score() -> float:
        out = predict(model, x_val)
        if val_score is not None:
            return float(val_score(out, y_val))
        return -float(eval_loss(out, y_val))

    best, best_state, best_step = -np.inf, None, 0
    for step, idx in enumerate(batches(len(x), batch_size, gen, steps), 1):
        model.train()
        xb = x[idx]
        if augment_strength > 0:
            xb = augment(xb, gen, strength=augment_strength)
        loss = loss_fn(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            s = score()
            if s > best:
                best, best_state, best_step = s, copy.deepcopy(model.state_dict()), step
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, {"best_val_score": float(best), "best_step": float(best_step)}
