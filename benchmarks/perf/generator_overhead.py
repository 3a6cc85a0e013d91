"""What the generators' own code costs on top of the networks they run, measured side by side.

Sampling: ``generator.sample(n)`` against the bare UNet forward passes it needs (the same batch
shapes per sampling block, the same number of solver steps, conditional and unconditional halves
in one batch, the same precision and threads). Training: the shared training loop for ``--steps``
steps (the whole ``training.train`` call a ``fit`` makes, setup included) against bare
forward + backward + AdamW steps on preloaded batches with the same model, batch size and
precision. The requirement is a ratio of at most 1.10 for both.

Both sides alternate, ``--repeats`` times after a warm-up; each side's best time is reported.
Times are this process's CPU seconds by default (``--clock cpu``), which other jobs on the
machine disturb far less than wall-clock time; use ``--clock wall`` on an idle machine with
several threads.

    python benchmarks/perf/generator_overhead.py [--n 128] [--steps 60] [--repeats 5]
        [--threads 1] [--clock cpu] [--profile smoke] [--data SPEC]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from synthbench.data.source import load_data
from synthbench.generators import diffusion, text
from synthbench.generators.base import Generator, create_generator
from synthbench.generators.ddpm import DDPM
from synthbench.generators.minim import Minim
from synthbench.generators.neural import condition_codes
from synthbench.generators.training import (
    TrainSettings,
    autocast,
    default_device,
    resolve_mixed_precision,
)

DATA_SPEC = "phantom:oct?n=200&size=16"  # smoke profile
SIZED_DATA_SPEC = "phantom:oct?n=200&size=32"  # quick and larger profiles (their 32 px nets)
GENERATORS = ("ddpm", "minim")
MAX_RATIO = 1.10

Batch = dict[str, torch.Tensor]
Modules = dict[str, torch.nn.Module]


# ---------------------------------------------------------------------------------- timing
def best_times(
    measured: Callable[[], float], bare: Callable[[], float], repeats: int
) -> tuple[float, float]:
    """Best of ``repeats`` alternating runs of each (after one warm-up run of each); each
    callable returns the seconds it measured."""
    measured(), bare()
    pairs = [(measured(), bare()) for _ in range(repeats)]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


#: the clock every measurement reads (set from --clock)
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def timed(fn: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        t0 = clock()
        fn()
        return clock() - t0

    return run


def verdict(ratio: float) -> str:
    return "ok" if ratio <= MAX_RATIO else "OVER"


# ---------------------------------------------------------------------------------- sampling
def bare_sampling(gen: Generator, n: int, seed: int) -> tuple[Callable[[], None], int]:
    """The UNet forward passes ``gen.sample(n, seed=seed)`` makes, as one callable, and their
    number: one batch per sampling block (both guidance halves), one pass per solver step."""
    device = default_device()
    precision = resolve_mixed_precision(gen.config.mixed_precision, device)
    cfg = gen.config
    schema = gen.schema_
    assert schema is not None
    resolved = gen.resolve(n, seed=seed)
    timesteps = diffusion.solver(gen.scheduler_config_, cfg.sampling_steps, device).timesteps
    guided = cfg.guidance_scale != 1.0
    unet = gen.unet_.to(device)
    blocks: list[tuple[torch.Tensor, Callable[[torch.Tensor, torch.Tensor], Any]]] = []
    for start in range(0, len(resolved), gen.block_size):
        block = resolved.subset(start, start + gen.block_size)
        if gen.name == "ddpm":
            codes = condition_codes(schema, block.modality, block.label, block.findings)
            labels, null = DDPM.guidance_codes(codes)
            if guided:
                labels = torch.cat([null, labels])
            model_fn = partial(unet, class_labels=labels.to(device))
            shape = (len(labels), *schema.image_shape)
        else:
            ids, mask = gen.tokenizer_(list(block.text))
            if guided:
                null_ids, null_mask = gen.tokenizer_([""])
                ids = torch.cat([null_ids.expand(len(block), -1), ids])
                mask = torch.cat([null_mask.expand(len(block), -1), mask])
            ids, mask = ids.to(device), mask.to(device)
            with torch.no_grad(), autocast(device, precision):
                states = text.encode(gen.text_encoder_.to(device), ids, mask)
                model_fn = Minim.denoiser(unet, states, mask)
            shape = (len(ids), 3, cfg.image_size, cfg.image_size)
        blocks.append((torch.randn(shape, generator=torch.Generator().manual_seed(0)), model_fn))

    def run() -> None:
        with torch.no_grad(), autocast(device, precision):
            for x, model_fn in blocks:
                x = x.to(device)
                for t in timesteps:
                    model_fn(x, t.expand(len(x)).to(device))

    return run, len(blocks) * len(timesteps)


# ---------------------------------------------------------------------------------- training
def ddpm_forward(modules: Modules, batch: Batch) -> torch.Tensor:
    return modules["unet"](batch["noisy"], batch["t"], class_labels=batch["y"]).sample


def minim_forward(modules: Modules, batch: Batch) -> torch.Tensor:
    states = text.encode(modules["text_encoder"], batch["ids"], batch["mask"])
    return Minim.denoiser(modules["unet"], states, batch["mask"])(batch["noisy"], batch["t"])


FORWARD = {"ddpm": ddpm_forward, "minim": minim_forward}
#: the per-image tensors of each generator's training data that a batch carries (beside x)
BATCH_KEYS = {"ddpm": ("y",), "minim": ("ids", "mask")}


class TrainCapture:
    """Wraps a generator's call into the shared loop: times the whole call and keeps a copy of
    the freshly initialised modules and the training data, for the bare baseline."""

    def __init__(self, gen: Generator) -> None:
        self.seconds: list[float] = []
        self.modules: Modules = {}
        self.data: dict[str, torch.Tensor] = {}
        self._train = gen._train
        gen._train = self  # type: ignore[method-assign]

    def __call__(
        self, modules: Modules, loss_fn: Any, n_items: int, data: dict[str, torch.Tensor], **kw: Any
    ) -> Any:
        if not self.modules:
            self.modules = {k: copy.deepcopy(m) for k, m in modules.items()}
            self.data = dict(data)
        t0 = clock()
        out = self._train(modules, loss_fn, n_items, data, **kw)
        self.seconds.append(clock() - t0)
        return out


def preloaded_batches(
    gen: Generator, data: dict[str, torch.Tensor], settings: TrainSettings, steps: int, seed: int
) -> list[Batch]:
    """``steps`` ready batches: noised images at random timesteps, the generator's training
    target for them (noise or v) and conditions."""
    scheduler = diffusion.noise_scheduler(gen.config.prediction_type)
    rng = torch.Generator().manual_seed(seed)
    n_items = len(data["x"])
    batches = []
    for _ in range(steps):
        idx = torch.randint(0, n_items, (settings.batch_size,), generator=rng)
        x0 = data["x"][idx]
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), generator=rng)
        noise = torch.randn(x0.shape, generator=rng)
        batch = {
            "noisy": scheduler.add_noise(x0, noise, t),
            "target": diffusion.training_target(scheduler, x0, noise, t),
            "t": t,
        }
        batches.append(batch | {k: data[k][idx] for k in BATCH_KEYS[gen.name]})
    return batches


def bare_training(
    gen: Generator, capture: TrainCapture, settings: TrainSettings, steps: int, seed: int
) -> Callable[[], None]:
    """Forward, MSE, backward and an AdamW step per preloaded batch, on a copy of the model."""
    device = default_device()
    precision = resolve_mixed_precision(settings.mixed_precision, device)
    modules = {k: copy.deepcopy(m).to(device).train() for k, m in capture.modules.items()}
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        betas=(settings.adam_beta1, 0.999),
    )
    batches = [
        {k: v.to(device) for k, v in b.items()}
        for b in preloaded_batches(gen, capture.data, settings, steps, seed)
    ]
    forward = FORWARD[gen.name]

    def run() -> None:
        for batch in batches:
            with autocast(device, precision):
                pred = forward(modules, batch)
                loss = torch.nn.functional.mse_loss(pred.float(), batch["target"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=128, help="images per sample() call")
    parser.add_argument("--steps", type=int, default=60, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument(
        "--data",
        default=None,
        help=f"training data (default {DATA_SPEC}, or {SIZED_DATA_SPEC} beyond smoke)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 unless the machine is idle)"
    )
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    seed = 0
    spec = args.data or (DATA_SPEC if args.profile == "smoke" else SIZED_DATA_SPEC)
    train = load_data(spec).train
    device = default_device()
    print(
        f"data {spec} ({len(train)} training images), profile {args.profile}, "
        f"device {device.type}, {torch.get_num_threads()} thread(s), "
        f"load average {os.getloadavg()[0]:.2f}, {args.clock} time, best of {args.repeats} "
        "alternating runs"
    )

    sampling_rows, training_rows = [], []
    for name in GENERATORS:
        gen = create_generator(name, profile=args.profile, steps=args.steps, checkpoint_every=0)
        capture = TrainCapture(gen)
        settings = TrainSettings.from_config(gen.config)
        precision = resolve_mixed_precision(settings.mixed_precision, device)

        # training: the shared loop (one fit, setup included) vs bare steps
        def fit(gen: Generator = gen, capture: TrainCapture = capture) -> float:
            gen.fit(train, seed=seed)
            return capture.seconds[-1]

        fit()  # builds the modules the bare baseline copies
        bare_train = timed(bare_training(gen, capture, settings, args.steps, seed))
        loop_s, bare_s = best_times(fit, bare_train, args.repeats)
        training_rows.append((name, settings.batch_size, precision, loop_s, bare_s))

        # sampling: sample(n) vs the bare UNet passes it needs
        bare_sample, passes = bare_sampling(gen, args.n, seed)
        sample_s, unet_s = best_times(
            timed(lambda gen=gen: gen.sample(args.n, seed=seed)), timed(bare_sample), args.repeats
        )
        batch = 2 * gen.block_size if gen.config.guidance_scale != 1.0 else gen.block_size
        steps = gen.config.sampling_steps
        sampling_rows.append((name, batch, steps, passes, precision, sample_s, unet_s))

    print(
        f"\nsampling {args.n} images: sample() vs the bare UNet forward passes (limit {MAX_RATIO:.2f})"
    )
    print(
        f"{'generator':<10}{'batch':>6}{'solver steps':>13}{'passes':>7}{'precision':>10}"
        f"{'sample() s':>12}{'bare UNet s':>12}{'ratio':>7}"
    )
    for name, batch, steps, passes, precision, sample_s, unet_s in sampling_rows:
        ratio = sample_s / unet_s
        print(
            f"{name:<10}{batch:>6}{steps:>13}{passes:>7}{precision:>10}"
            f"{sample_s:>12.3f}{unet_s:>12.3f}{ratio:>7.3f}  {verdict(ratio)}"
        )

    print(
        f"\ntraining {args.steps} steps: the shared loop (the whole train() call) vs bare "
        f"forward+backward+AdamW on preloaded batches (limit {MAX_RATIO:.2f})"
    )
    print(
        f"{'generator':<10}{'batch':>6}{'precision':>10}{'train() s':>11}"
        f"{'bare s':>9}{'ms/step more':>13}{'ratio':>7}"
    )
    for name, batch, precision, loop_s, bare_s in training_rows:
        ratio = loop_s / bare_s
        print(
            f"{name:<10}{batch:>6}{precision:>10}{loop_s:>11.3f}"
            f"{bare_s:>9.3f}{(loop_s - bare_s) / args.steps * 1e3:>13.2f}{ratio:>7.3f}"
            f"  {verdict(ratio)}"
        )


if __name__ == "__main__":
    main()
