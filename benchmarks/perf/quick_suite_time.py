"""Time the quick suite cold and warm: `make run`'s main job twice on one cache.

    .venv/bin/python benchmarks/perf/quick_suite_time.py [--suite benchmarks/quick.toml]

The first run starts from an empty cell cache (a fresh clone's first `make run`); the second
finds every cell finished and only re-reads the rows and renders the results. Prints both wall
times and their ratio (the goal: the first at most 15 minutes on a 2-core CPU, the second at most
10% of the first). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def timed(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", default=str(ROOT / "benchmarks" / "quick.toml"))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "synthbench.cli",
            "run",
            args.suite,
            "--out",
            f"{tmp}/out",
            "--cache",
            f"{tmp}/cache",
            "--format",
            "none",
            "--no-progress",
        ]
        if args.workers:
            command += ["--workers", str(args.workers)]
        cold = timed(command)
        warm = timed(command)
    print(f"suite {args.suite}")
    print(f"cold (empty cache): {cold:8.1f} s  ({cold / 60:.1f} min)")
    print(f"warm (every cell cached): {warm:8.1f} s")
    print(f"warm / cold: {warm / cold:.3f}")


if __name__ == "__main__":
    main()
