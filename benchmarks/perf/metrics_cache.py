"""Reference-feature cache: the second evaluation against the same real set must be at least
5x faster than the first.

The first run trains the domain encoder on the real training split and computes the real
features (and the real MS-SSIM diversity); the second finds all of them in the cache and only
processes the synthetic images. Both runs use a fresh temporary cache folder, the default
metric set and the same synthetic cohort (a stand-in: phantoms of another seed).

    python benchmarks/perf/metrics_cache.py [--spec 'phantom:oct?n=400&size=32'] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", default="phantom:oct?n=400&size=32")
    parser.add_argument("--synthetic", default="phantom:oct?n=200&size=32&seed=7")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--min-speedup", type=float, default=5.0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.data.source import load_data
    from synthbench.metrics import DEFAULT_METRICS
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    real = load_data(args.spec)
    synthetic = load_data(args.synthetic).train
    with tempfile.TemporaryDirectory() as tmp:
        settings = EvalSettings(cache_dir=Path(tmp))
        times = []
        for run in ("first", "second"):
            start = time.perf_counter()
            result = evaluate(real, synthetic, DEFAULT_METRICS, settings)
            times.append(time.perf_counter() - start)
            print(
                f"{run:>6} evaluation: {times[-1]:6.2f} s  ({len(result.rows)} rows; cache "
                f"{result.cache_hits} hits, {result.cache_misses} misses)"
            )
    speedup = times[0] / times[1]
    print(
        f"speed-up {speedup:.1f}x (need >= {args.min_speedup:g}x); metrics {','.join(DEFAULT_METRICS)}"
    )
    print(
        f"real {args.spec}: {len(real.train)} train; synthetic {args.synthetic}: {len(synthetic)}; torch threads {args.threads}"
    )
    if speedup < args.min_speedup:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
