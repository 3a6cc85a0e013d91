"""Peak memory while streaming 1,000 vs 20,000 generated images to a cohort folder.

Fits ``classical-aug`` and ``cvae`` (smoke profile) on a small phantom set and saves them; then,
for each generator and size, a fresh Python process loads the checkpoint and streams the images
to disk with ``streaming.sample_to_disk`` (what ``synthbench generate DIR --out COHORT_DIR``
runs), reporting its RSS high-water mark (``ru_maxrss``) after loading and at the end, and how
far its anonymous RSS rose meanwhile (sampled; ``ru_maxrss`` also counts the pages of the
memory-mapped chunk files that the final merge reads, which the kernel can drop at any time).
The requirement is a peak ``ru_maxrss`` ratio (20,000 / 1,000) of at most 1.5.

    python benchmarks/perf/generator_memory.py [--small 1000] [--large 20000] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

GENERATORS = ("classical-aug", "cvae")
MAX_RATIO = 1.5


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonPeak:
    """Peak anonymous RSS (heap and other private memory, without the pages of files mapped
    from disk) in MiB, sampled from /proc every 10 ms while the context is open (Linux)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, anon_rss_mb())
            if self._stop.wait(0.01):
                return


def anon_rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def stream(checkpoint: str, n: int, out: str, chunk_size: int) -> None:
    """The child: load, stream ``n`` images to ``out``, print the RSS peaks as JSON."""
    import torch

    from synthbench.cohort import Cohort
    from synthbench.generators.base import load_generator
    from synthbench.generators.streaming import sample_to_disk

    torch.set_num_threads(1)
    gen = load_generator(checkpoint)
    loaded_mb, loaded_anon_mb = peak_rss_mb(), anon_rss_mb()
    with AnonPeak() as anon:
        sample_to_disk(gen, n, out, seed=0, chunk_size=chunk_size)
    peak_mb = peak_rss_mb()
    written = len(Cohort.load(out))
    print(
        json.dumps(
            {
                "loaded_mb": loaded_mb,
                "peak_mb": peak_mb,
                "anon_growth_mb": anon.peak_mb - loaded_anon_mb,
                "written": written,
            }
        )
    )


def fit(spec: str, folder: str) -> None:
    """The fitting child: fit every generator on ``spec`` and save it under ``folder``."""
    import torch

    from synthbench.data.source import load_data
    from synthbench.generators.base import create_generator

    torch.set_num_threads(1)
    train = load_data(spec).train
    for name in GENERATORS:
        create_generator(name, profile="smoke").fit(train, seed=0).save(Path(folder) / name)
    print(json.dumps({"n_train": len(train), "image_shape": list(train.images.shape[1:])}))


def run_child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process; its last stdout line, parsed."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stream_child(checkpoint: Path, n: int, out: Path, chunk_size: int) -> dict[str, Any]:
    result = run_child(
        "--child", str(checkpoint), str(n), str(out), "--chunk-size", str(chunk_size)
    )
    if result["written"] != n:
        raise SystemExit(
            f"{checkpoint}: asked for {n} images, the cohort holds {result['written']}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64, help="image side in px")
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument(
        "--child", nargs=3, metavar=("CHECKPOINT", "N", "OUT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--fit", nargs=2, metavar=("SPEC", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        checkpoint, n, out = args.child
        stream(checkpoint, int(n), out, args.chunk_size)
        return
    if args.fit:
        fit(*args.fit)
        return

    # this process stays small (no torch, no data): Linux carries a parent's RSS high-water mark
    # into a child's ru_maxrss across fork and exec, so every heavy step runs in a child
    spec = f"phantom:oct,fundus?n=200&size={args.size}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="synthbench-memory-") as tmp:
        data = run_child("--fit", spec, tmp)
        image_bytes = math.prod(data["image_shape"])
        print(
            f"data {spec} ({data['n_train']} training images of {tuple(data['image_shape'])} "
            f"uint8), chunks of {args.chunk_size}, one fresh process per run"
        )
        print(
            f"{'generator':<14}{'images':>8}{'RSS loaded MiB':>16}{'peak RSS MiB':>14}"
            f"{'growth MiB':>12}{'anon growth MiB':>17}{'image data MiB':>16}"
        )
        for name in GENERATORS:
            checkpoint = Path(tmp) / name
            peaks = []
            for n in (args.small, args.large):
                result = stream_child(checkpoint, n, Path(tmp) / f"{name}-{n}", args.chunk_size)
                peaks.append(result["peak_mb"])
                print(
                    f"{name:<14}{n:>8,}{result['loaded_mb']:>16.1f}{result['peak_mb']:>14.1f}"
                    f"{result['peak_mb'] - result['loaded_mb']:>12.1f}"
                    f"{result['anon_growth_mb']:>17.1f}"
                    f"{n * image_bytes / 2**20:>16.1f}",
                    flush=True,
                )
            rows.append((name, peaks[1] / peaks[0]))
    print(f"\npeak RSS ratio, {args.large:,} vs {args.small:,} images (limit {MAX_RATIO})")
    for name, ratio in rows:
        print(f"{name:<14}{ratio:>6.3f}  {'ok' if ratio <= MAX_RATIO else 'OVER'}")


if __name__ == "__main__":
    main()
