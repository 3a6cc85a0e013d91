"""bf16 autocast vs fp32 on this CPU: training steps per second of a small diffusers UNet.

Prints both rates and their ratio, measured side by side in one run, and what the generators'
``mixed_precision="auto"`` picks here. bf16 pays off only where the CPU has native bf16 support.

    python benchmarks/perf/autocast_cpu.py [--size 32] [--batch 64] [--steps 6]
"""

from __future__ import annotations

import argparse
import time

import torch
from diffusers import UNet2DModel


def step_time(
    model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, bf16: bool, steps: int
) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(x, t).sample.float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return sorted(times[1:])[len(times[1:]) // 2]  # median, first step is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = UNet2DModel(
        sample_size=args.size,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
    )
    params = sum(p.numel() for p in model.parameters()) / 1e6
    x = torch.randn(args.batch, 3, args.size, args.size)
    t = torch.randint(0, 1000, (args.batch,))
    fp32 = step_time(model, x, t, False, args.steps)
    bf16 = step_time(model, x, t, True, args.steps)
    from synthbench.generators.training import resolve_mixed_precision

    print(
        f"UNet {params:.2f}M params, batch {args.batch} at {args.size} px, {torch.get_num_threads()} threads"
    )
    print(f"fp32: {args.batch / fp32:8.1f} img/s")
    print(f"bf16: {args.batch / bf16:8.1f} img/s")
    print(f"bf16 / fp32 speed ratio: {fp32 / bf16:.2f}")
    print(f"mixed_precision='auto' picks on this machine: {resolve_mixed_precision('auto', 'cpu')}")


if __name__ == "__main__":
    main()
