"""Phantom simulation speed, one core: images per second per modality at 32 px (reports included).

The requirement is at least 2,000 images per second per core.

    python benchmarks/perf/phantom_speed.py [--n 4000] [--size 32]
"""

from __future__ import annotations

import os

# one core: pin every BLAS / FFT thread pool before numpy is imported
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

from synthbench.data.phantoms import MODALITIES, simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(
        f"{'modality':<11} {'images/s/core':>14}  (n={args.n}, {args.size} px, best of {args.repeats})"
    )
    worst = float("inf")
    for modality in MODALITIES:
        simulate(modality, 64, size=args.size, seed=99)  # warm-up: imports, caches
        best = min(_timed(modality, args) for _ in range(args.repeats))
        rate = args.n / best
        worst = min(worst, rate)
        print(f"{modality:<11} {rate:>14,.0f}  {'ok' if rate >= 2000 else 'TOO SLOW'}", flush=True)
    print(f"slowest: {worst:,.0f} images/s/core (target >= 2,000)")


def _timed(modality: str, args: argparse.Namespace) -> float:
    t0 = time.perf_counter()
    simulate(modality, args.n, size=args.size, seed=0)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
