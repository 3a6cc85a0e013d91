"""The one training loop every neural generator uses.

``train(modules, loss_fn, n_items, settings, seed=...)`` runs AdamW through `accelerate`
(bf16 autocast on CPU, mixed precision and multiple GPUs elsewhere) with linear warm-up,
gradient clipping, EMA weights, a progress bar showing loss and images/s, a budget in steps
and/or minutes, and periodic checkpoints that a later call resumes from: every
``checkpoint_every`` steps and, whatever that setting, at least every ``STATE_EVERY_S`` seconds
of training (so a short smoke run killed midway resumes too).

Every step draws its batch indices and noise from a generator seeded by (seed, step), so a run
resumed from a checkpoint takes exactly the steps an uninterrupted run would have taken.
Checkpoints are one safetensors file (weights, EMA, optimizer moments, with the step and
settings in its metadata, so a kill while saving never pairs one step's weights with another's
step) plus the same metadata as JSON to read.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthbench.errors import SynthbenchError

STATE_WEIGHTS = "training_state.safetensors"
STATE_JSON = "training_state.json"
#: the final loss reported is the mean of this many last steps
RECENT_LOSSES = 20
#: with a state folder, training state is saved at least this often (seconds of training)...
STATE_EVERY_S = 10.0
#: ...but no more often than saving, timed, allows for this overhead
STATE_MAX_OVERHEAD = 0.05
#: the key of the state's metadata inside the safetensors file
STATE_META_KEY = "synthbench_training_state"


@dataclass(frozen=True)
class TrainSettings:
    """Loop settings, read from a generator config's fields of the same names."""

    steps: int = 1000
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    mixed_precision: str = "auto"  # auto | no | bf16 | fp16
    checkpoint_every: int = 0  # steps; 0: by time only (``STATE_EVERY_S``) and at the end
    log_every: int = 10
    adam_beta1: float = 0.9

    @classmethod
    def from_config(cls, config: Any) -> TrainSettings:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in config.to_dict().items() if k in names})


@dataclass
class StepContext:
    """What ``loss_fn`` gets each step: the (prepared) modules, the batch's item indices,
    a generator for this step's noise, the device, and the step number."""

    modules: dict[str, nn.Module]
    indices: torch.Tensor
    generator: torch.Generator
    device: torch.device
    step: int


@dataclass
class TrainResult:
    steps: int
    seconds: float
    images_per_s: float
    final_loss: float
    resumed_from: int
    mixed_precision: str
    losses: list[float] = field(default_factory=list)
    #: timed seconds of the earlier runs this one resumed
    earlier_seconds: float = 0.0
    #: steps of earlier runs whose state did not record their time (older training states)
    untimed_steps: int = 0

    def summary(self) -> dict[str, Any]:
        untimed = {"untimed_steps": self.untimed_steps} if self.untimed_steps else {}
        return {
            "steps": self.steps,
            "train_seconds": round(self.seconds + self.earlier_seconds, 2),
            **untimed,
            "images_per_s": round(self.images_per_s, 1),
            "final_loss": round(self.final_loss, 5),
            "resumed_from": self.resumed_from,
            "mixed_precision": self.mixed_precision,
        }


def resolve_mixed_precision(choice: str, device: torch.device | str | None = None) -> str:
    """``auto`` -> bf16 on GPUs that support it (fp16 on older ones) and on CPUs with native
    bf16 arithmetic; fp32 on other CPUs, where bf16 autocast is emulated and much slower."""
    if choice not in ("auto", "no", "bf16", "fp16"):
        raise SynthbenchError(f"mixed_precision must be auto, no, bf16 or fp16, got {choice!r}")
    if choice != "auto":
        return choice
    kind = torch.device(device).type if device is not None else default_device().type
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if kind == "cpu" and cpu_has_native_bf16() else "no"


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX). Without it, bf16 autocast
    is emulated: measured 8-16x slower than fp32 on an AVX2-only 2-core EPYC for 0.2-1M-parameter
    UNets, while CPUs with native bf16 gain 1.4-2.5x."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set(text.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device, mixed_precision: str) -> Any:
    """An autocast context for inference with the resolved precision (fp32 when 'no')."""
    import contextlib

    if mixed_precision == "no":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _accelerator(mixed_precision: str, cpu: bool) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") not in (None, mixed_precision):
        if AcceleratorState().num_processes > 1:
            raise SynthbenchError(
                f"accelerate already runs with mixed precision {state.get('_mixed_precision')!r}; "
                f"cannot switch to {mixed_precision!r} in a multi-process run"
            )
        # one process training several generators one after another (tests, suites)
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


class EMA:
    """Exponential moving average of parameters (diffusers' EMAModel: decay warms up as
    (1 + step) / (10 + step), capped at ``decay``), kept as whole modules for sampling."""

    def __init__(self, modules: dict[str, nn.Module], decay: float) -> None:
        import copy

        from diffusers.training_utils import EMAModel

        self.modules = {
            k: copy.deepcopy(m).eval().requires_grad_(False) for k, m in modules.items()
        }
        # frozen modules (a pretrained text encoder) need no average: their copy is exact
        self.trackers = {
            k: EMAModel(list(m.parameters()), decay=decay, foreach=True)
            for k, m in modules.items()
            if any(p.requires_grad for p in m.parameters())
        }
        self._params: dict[str, tuple[nn.Module, list[nn.Parameter]]] = {}

    def step(self, modules: dict[str, nn.Module], names: list[str] | None = None) -> None:
        """Average the modules in ``names`` (default: all), the ones just updated."""
        for k, tracker in self.trackers.items():
            if names is not None and k not in names:
                continue
            # walking the module tree each step costs more than the averaging: list it once
            cached = self._params.get(k)
            if cached is None or cached[0] is not modules[k]:
                cached = self._params[k] = (modules[k], list(modules[k].parameters()))
            tracker.step(cached[1])

    def copy_to_modules(self, trained: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """The averaged modules; buffers (batch-norm statistics) are taken from ``trained``."""
        for k, module in self.modules.items():
            if k in self.trackers:
                self.trackers[k].copy_to(list(module.parameters()))
            for mine, theirs in zip(module.buffers(), trained[k].buffers()):
                mine.copy_(theirs)
        return self.modules


def _batch_indices(
    step: int, n_items: int, batch_size: int, seed: int, rank: int, world: int
) -> torch.Tensor:
    """Item indices of one step: the stream of per-epoch permutations, cut into batches."""
    start = (step * world + rank) * batch_size
    stop = start + batch_size
    out = []
    for epoch in range(start // n_items, (stop - 1) // n_items + 1):
        perm = torch.randperm(
            n_items, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)
        )
        lo = max(start, epoch * n_items) - epoch * n_items
        hi = min(stop, (epoch + 1) * n_items) - epoch * n_items
        out.append(perm[lo:hi])
    return torch.cat(out)


def train(
    modules: dict[str, nn.Module],
    loss_fn: Callable[[StepContext], torch.Tensor | dict[str, torch.Tensor]],
    n_items: int,
    settings: TrainSettings,
    *,
    seed: int,
    state_dir: Path | None = None,
    config_hash: str = "",
    trajectory_hash: str = "",
    progress: bool = False,
    description: str = "train",
    on_device: Callable[[torch.device], None] | None = None,
    groups: dict[str, list[str]] | None = None,
) -> tuple[TrainResult, dict[str, nn.Module]]:
    """Train ``modules`` on ``loss_fn`` for the settings' budget; returns the result and the EMA
    modules (for sampling and saving). The trained modules are updated in place.

    ``state_dir`` keeps periodic checkpoints; when it holds one for the same seed and the
    same ``config_hash``, or the same ``trajectory_hash`` (a config that trains the same steps
    under another budget, see ``NeuralConfig.trajectory_hash``), training resumes from it.
    ``on_device`` is called once with the training device (to move preloaded data there).

    ``groups`` splits the modules into separately optimised groups (a GAN's generator and
    discriminator): ``loss_fn`` then returns one loss per group, each stepping only its group's
    parameters (simultaneous updates). A step may return losses for only some groups (a GAN's
    several discriminator updates per generator update): only those groups are updated and
    averaged that step. The reported loss is the sum of what was returned.
    """
    if n_items < 1:
        raise SynthbenchError("cannot train on an empty data set")
    if settings.steps < 1 and not settings.minutes:
        raise SynthbenchError("the training budget needs steps >= 1 or minutes > 0")
    device_guess = default_device()
    precision = resolve_mixed_precision(settings.mixed_precision, device_guess)
    accelerator = _accelerator(precision, cpu=device_guess.type == "cpu")
    device = accelerator.device
    if on_device is not None:
        on_device(device)
    for m in modules.values():
        m.to(device).train()
    groups = groups or {"main": list(modules)}
    params = {
        g: [p for name in names for p in modules[name].parameters() if p.requires_grad]
        for g, names in groups.items()
    }
    optimizers = {
        g: torch.optim.AdamW(
            ps,
            lr=settings.lr,
            weight_decay=settings.weight_decay,
            betas=(settings.adam_beta1, 0.999),
        )
        for g, ps in params.items()
    }
    ema = EMA(modules, settings.ema_decay)
    for m in ema.modules.values():
        m.to(device)

    start_step, earlier, untimed, earlier_losses = 0, 0.0, 0, []
    hashes = (config_hash, trajectory_hash)
    max_steps = settings.steps if settings.steps > 0 else 2**62
    if state_dir is not None:
        start_step, earlier, untimed, earlier_losses = _load_state(
            state_dir, modules, ema, optimizers, hashes, seed
        )
        if start_step > max_steps:
            raise SynthbenchError(
                f"{state_dir}: holds training state at step {start_step}, past this run's budget "
                f"of {max_steps} steps; give a budget of at least {start_step} steps, another "
                "folder, or delete it"
            )
    losses: list[float] = []

    def recent_losses() -> list[float]:
        """The last losses, those of the run this one resumed included."""
        return (earlier_losses + losses)[-RECENT_LOSSES:]

    last_save = {"at": time.perf_counter(), "took": 0.0}

    def save_due(step: int) -> bool:
        if state_dir is None or not accelerator.is_main_process:
            return False
        if settings.checkpoint_every > 0 and step % settings.checkpoint_every == 0:
            return True
        since = time.perf_counter() - last_save["at"]
        return since >= max(STATE_EVERY_S, last_save["took"] / STATE_MAX_OVERHEAD)

    def save(step: int, train_seconds: float) -> None:
        assert state_dir is not None
        t = time.perf_counter()
        _save_state(
            state_dir,
            modules,
            ema,
            optimizers,
            step,
            hashes,
            seed,
            train_seconds,
            untimed,
            recent_losses(),
        )
        last_save["at"] = time.perf_counter()
        last_save["took"] = last_save["at"] - t

    names, group_names = list(modules), list(optimizers)
    prepared = accelerator.prepare(*modules.values(), *optimizers.values())
    prepared_modules = dict(zip(names, prepared[: len(names)]))
    optimizers = dict(zip(group_names, prepared[len(names) :]))

    budget_s = settings.minutes * 60 if settings.minutes else math.inf
    images_seen, t0 = 0, time.perf_counter()
    step = start_step
    bar = _progress(progress and accelerator.is_main_process, max_steps, start_step, description)
    running = float("nan")
    try:
        while step < max_steps and time.perf_counter() - t0 < budget_s:
            indices = _batch_indices(
                step,
                n_items,
                settings.batch_size,
                seed,
                accelerator.process_index,
                accelerator.num_processes,
            )
            gen = torch.Generator(device).manual_seed(
                (seed * 1_000_003 + step) * 64 + accelerator.process_index
            )
            lr = settings.lr * min(1.0, (step + 1) / max(1, settings.warmup_steps))
            with accelerator.autocast():
                out = loss_fn(StepContext(prepared_modules, indices, gen, device, step))
            group_losses = out if isinstance(out, dict) else {group_names[0]: out}
            if not group_losses or not set(group_losses) <= set(group_names):
                raise ValueError(
                    f"loss_fn returned losses for {sorted(group_losses)}, not a subset of "
                    f"{group_names}"
                )
            stepped = [g for g in group_names if g in group_losses]
            loss = sum(group_losses.values())
            if not torch.isfinite(loss):
                raise SynthbenchError(
                    f"{description}: loss became {loss.item()} at step {step}; lower lr or check the data"
                )
            for g in stepped:
                optimizers[g].zero_grad(set_to_none=True)
            for g in stepped:
                # each group's loss moves only that group's parameters
                accelerator.backward(group_losses[g], inputs=params[g])
            for g in stepped:
                if settings.grad_clip > 0:
                    accelerator.clip_grad_norm_(params[g], settings.grad_clip)
                for pg in optimizers[g].param_groups:
                    pg["lr"] = lr
                optimizers[g].step()
            ema.step(modules, [name for g in stepped for name in groups[g]])
            step += 1
            images_seen += len(indices) * accelerator.num_processes
            value = float(loss.detach())
            losses.append(value)
            running = value if math.isnan(running) else 0.9 * running + 0.1 * value
            if bar is not None and (step % settings.log_every == 0 or step == max_steps):
                rate = images_seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{running:.4f}", img_s=f"{rate:.0f}", refresh=False)
                bar.update(step - bar.n)
            if save_due(step):
                save(step, earlier + time.perf_counter() - t0)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    # the rate over every timed step, this run's and the timed earlier runs' (every step takes
    # a batch of the same size), so a run resumed at its end does not report 0 images/s
    earlier_images = max(0, start_step - untimed) * settings.batch_size * accelerator.num_processes
    if state_dir is not None and accelerator.is_main_process and step > start_step:
        save(step, earlier + seconds)
    for m in modules.values():
        m.eval()
    result = TrainResult(
        steps=step,
        seconds=seconds,
        images_per_s=(images_seen + earlier_images) / max(seconds + earlier, 1e-9),
        final_loss=float(sum(recent) / len(recent)) if (recent := recent_losses()) else math.nan,
        resumed_from=start_step,
        mixed_precision=precision,
        losses=losses,
        earlier_seconds=earlier,
        untimed_steps=untimed,
    )
    return result, ema.copy_to_modules(modules)


def _progress(enabled: bool, total: int, initial: int, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total if total < 2**62 else None,
        initial=initial,
        desc=description,
        dynamic_ncols=True,
    )


# ---------------------------------------------------------------------------------- state
def _save_state(
    state_dir: Path,
    modules: dict[str, nn.Module],
    ema: EMA,
    optimizers: dict[str, torch.optim.Optimizer],
    step: int,
    hashes: tuple[str, str],
    seed: int,
    train_seconds: float = 0.0,
    untimed_steps: int = 0,
    recent_losses: list[float] | None = None,
) -> None:
    from safetensors.torch import save_file

    state_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"model/{name}/{k}"] = v
        for i, v in enumerate(ema.trackers[name].shadow_params if name in ema.trackers else []):
            tensors[f"ema/{name}/{i}"] = v
    param_groups = {}
    for g, optimizer in optimizers.items():
        opt_state = optimizer.state_dict()
        for pid, slots in opt_state["state"].items():
            for k, v in slots.items():
                tensors[f"opt/{g}/{pid}/{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        param_groups[g] = opt_state["param_groups"]
    meta = {
        "step": step,
        "config_hash": hashes[0],
        "trajectory_hash": hashes[1],
        "seed": seed,
        "param_groups": param_groups,
        "ema_steps": {k: t.optimization_step for k, t in ema.trackers.items()},
        "train_seconds": train_seconds,
        "untimed_steps": untimed_steps,
        "recent_losses": recent_losses or [],
    }
    tag = uuid.uuid4().hex[:8]
    tmp_w, tmp_j = state_dir / f".{STATE_WEIGHTS}.{tag}", state_dir / f".{STATE_JSON}.{tag}"
    text = json.dumps(meta)
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
        str(tmp_w),
        metadata={STATE_META_KEY: text},
    )
    tmp_j.write_text(text)
    # the weights file, with its metadata, is the state: replacing it is the one atomic step
    os.replace(tmp_w, state_dir / STATE_WEIGHTS)
    os.replace(tmp_j, state_dir / STATE_JSON)


def _load_state(
    state_dir: Path,
    modules: dict[str, nn.Module],
    ema: EMA,
    optimizers: dict[str, torch.optim.Optimizer],
    hashes: tuple[str, str],
    seed: int,
) -> tuple[int, float, int, list[float]]:
    """Restore a saved state; returns the step to continue from (0 when there is none), the
    training seconds spent to reach it, how many of its steps were never timed (a state
    written before training time was recorded counts all its steps as untimed) and the losses
    of its last steps."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    meta_path, weights_path = state_dir / STATE_JSON, state_dir / STATE_WEIGHTS
    if not weights_path.is_file():
        return 0, 0.0, 0, []
    try:
        with safe_open(str(weights_path), "pt") as fh:
            embedded = (fh.metadata() or {}).get(STATE_META_KEY)
        if embedded is None and not meta_path.is_file():
            return 0, 0.0, 0, []
        # states written before the metadata moved into the weights file keep it beside it
        meta = json.loads(embedded if embedded is not None else meta_path.read_text())
        tensors = load_file(str(weights_path))
    except Exception as exc:
        raise SynthbenchError(
            f"{state_dir}: unreadable training state ({type(exc).__name__}); delete it to start afresh"
        ) from None
    config_hash, trajectory_hash = hashes
    same_path = meta.get("config_hash") == config_hash or (
        bool(trajectory_hash) and meta.get("trajectory_hash") == trajectory_hash
    )
    if not same_path or meta.get("seed") != seed:
        raise SynthbenchError(
            f"{state_dir}: holds training state of config {meta.get('config_hash')} seed "
            f"{meta.get('seed')} (training path {meta.get('trajectory_hash', 'unrecorded')}), "
            f"not {config_hash} seed {seed} (training path {trajectory_hash or 'not given'}); use "
            "another folder or delete it"
        )
    for name, m in modules.items():
        prefix = f"model/{name}/"
        m.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        if name not in ema.trackers:
            ema.modules[name].load_state_dict(m.state_dict())
            continue
        tracker = ema.trackers[name]
        tracker.shadow_params = [
            tensors[f"ema/{name}/{i}"].to(p.device) for i, p in enumerate(tracker.shadow_params)
        ]
        tracker.optimization_step = int(meta["ema_steps"][name])
    for g, optimizer in optimizers.items():
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith(f"opt/{g}/"):
                _, _, pid, slot = k.split("/", 3)
                slots.setdefault(int(pid), {})[slot] = v
        optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"][g]})
    step = int(meta["step"])
    if meta.get("train_seconds") is None:
        return step, 0.0, step, []
    recent = [float(v) for v in meta.get("recent_losses", [])]
    return step, float(meta["train_seconds"]), int(meta.get("untimed_steps", 0)), recent
