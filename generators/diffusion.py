"""Diffusion pieces shared by ``ddpm`` and ``minim``: the noise schedule, the training loss,
and the DPM-Solver++ sampling loop with classifier-free guidance in one batched pass.

The model code (diffusers UNets), the sampling algorithm (diffusers schedulers) and the loop
that joins them (here) are kept apart, as in diffusers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

#: the cosine schedule; DPM-Solver++ on it diverges without thresholding (measured), hence
#: ``thresholding=True`` with ``sample_max_value=1.0`` for images in [-1, 1]
NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
    "clip_sample_range": 1.0,
}


def noise_scheduler(prediction_type: str = "epsilon") -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(**{**NOISE_SCHEDULE, "prediction_type": prediction_type})


def save_scheduler(config: dict[str, Any], path: Path) -> None:
    """The training noise schedule, as diffusers' ``scheduler/scheduler_config.json``."""
    from diffusers import DDPMScheduler

    DDPMScheduler.from_config(
        {k: v for k, v in config.items() if not k.startswith("_")}
    ).save_config(path)


def load_scheduler_config(path: Path) -> dict[str, Any]:
    from diffusers import DDPMScheduler

    config = DDPMScheduler.load_config(path)
    return {
        k: v for k, v in DDPMScheduler.from_config(config).config.items() if not k.startswith("_")
    }


def solver(config: dict[str, Any], steps: int, device: torch.device) -> Any:
    """A fresh DPM-Solver++ (2nd order, multistep) from a saved DDPM scheduler config."""
    from diffusers import DPMSolverMultistepScheduler

    # diffusers' private keys (``_use_default_values`` ...) would override the settings below
    public = {k: v for k, v in config.items() if not k.startswith("_")}
    sched = DPMSolverMultistepScheduler.from_config(
        public,
        algorithm_type="dpmsolver++",
        solver_order=2,
        thresholding=True,
        sample_max_value=1.0,
        lower_order_final=True,
    )
    sched.set_timesteps(steps, device=device)
    return sched


def training_target(
    scheduler: Any, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """What the network learns to output for ``x0`` noised with ``noise`` at ``t``: the noise,
    or v for v prediction, as the scheduler's ``prediction_type`` says."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    return noise


def diffusion_loss(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    scheduler: Any,
    generator: torch.Generator,
) -> torch.Tensor:
    """MSE of the network's output against its :func:`training_target` at uniformly drawn
    timesteps."""
    n = x0.shape[0]
    t = torch.randint(
        0, scheduler.config.num_train_timesteps, (n,), generator=generator, device=x0.device
    )
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    noisy = scheduler.add_noise(x0, noise, t)
    pred = model_fn(noisy, t)
    return torch.nn.functional.mse_loss(
        pred.float(), training_target(scheduler, x0, noise, t).float()
    )


def sample(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    scheduler_config: dict[str, Any],
    steps: int,
    generator: torch.Generator,
    device: torch.device,
    mixed_precision: str,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """:func:`sample_loop` with a fresh :func:`solver` of ``steps`` steps, calling
    ``denoise`` under autocast at the resolved ``mixed_precision``."""
    from synthbench.generators.training import autocast

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with autocast(device, mixed_precision):
            return denoise(x, t)

    scheduler = solver(scheduler_config, steps, device)
    return sample_loop(model_fn, shape, scheduler, generator, device, guidance_scale)


@torch.no_grad()
def sample_loop(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    scheduler: Any,
    generator: torch.Generator,
    device: torch.device,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """Run a solver from pure noise. ``model_fn`` returns the network's output (noise or v; the
    solver's ``prediction_type`` says which). With ``guidance_scale != 1`` it receives the batch
    twice (unconditional first, then conditional) and must return both halves in one call."""
    x = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
    guided = guidance_scale != 1.0
    for t in scheduler.timesteps:
        t_batch = t.expand(shape[0] * (2 if guided else 1)).to(device)
        if guided:
            out = model_fn(torch.cat([x, x]), t_batch).float()
            uncond, cond = out.chunk(2)
            out = uncond + guidance_scale * (cond - uncond)
        else:
            out = model_fn(x, t_batch).float()
        x = scheduler.step(out, t, x, generator=generator).prev_sample
    return x.clamp(-1, 1)
