"""Why does raft lose realism? One round of raft with its fine-tuning set swapped or extended.

    python benchmarks/perf/raft_drift.py ROUND0 --train samples --lr 1e-4 --out out/drift/samples
    python benchmarks/perf/raft_drift.py ROUND0 --train real --lr 1e-4 --out out/drift/real
    python benchmarks/perf/raft_drift.py ROUND0 --train replay --replay 3 --out out/drift/replay3

``ROUND0`` is a finished round-0 folder of ``benchmarks/feedback.toml`` (a ``refine`` cell of its
cache, or ``round-0/`` of ``synthbench improve --rounds``): the shipped ``minim`` on phantom OCT,
its batch and the simulated rater's ratings. The round it copies there, round 1 runs exactly as
``synthbench improve --method raft`` would, except for what the parent is fine-tuned on:

- ``samples``: raft as it is (the reward model's best of N per prompt, and the top-rated images);
- ``real``: as many real OCT training images (the parent's own training data) instead;
- ``replay``: the samples plus ``--replay`` times as many real training images.

It prints the round's line (top-rated share, fidelity, adherence, FD, near copies); the rows are in
``OUT/round-1/rows.jsonl``. If ``real`` keeps the rater's realism where ``samples`` loses it, the
drift comes from learning the model's own images, not from the fine-tuning recipe.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

SPEC = "phantom:oct,brain_mri?n=2000&size=32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("round0", type=Path)
    parser.add_argument("--train", choices=("samples", "real", "replay"), default="samples")
    parser.add_argument("--replay", type=float, default=1.0, help="real images per sample")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from synthbench.cohort import Cohort
    from synthbench.feedback.refine import RefineSettings
    from synthbench.feedback.rounds import RoundSettings, run_rounds
    from synthbench.generators.minim import Minim
    from synthbench.runner.plan import load_payload_data

    real = load_payload_data({"spec": SPEC, "modalities": ["oct"]})
    if not (args.out / "round-0").is_dir():
        shutil.copytree(args.round0, args.out / "round-0")
    fit = Minim.fit

    def fit_swapped(self: Minim, train: Cohort, seed: int = 0) -> Minim:
        if self.config.init_from:  # raft's fine-tuning, not the base
            rng = np.random.default_rng(seed)
            k = len(train) if args.train == "real" else round(args.replay * len(train))
            idx = np.sort(rng.choice(len(real.train), min(k, len(real.train)), replace=False))
            replay = real.train.subset(idx)
            train = replay if args.train == "real" else Cohort.concat([train, replay])
            print(f"fine-tuning on {len(train)} images ({args.train})", flush=True)
        return fit(self, train, seed=seed)

    if args.train != "samples":
        Minim.fit = fit_swapped  # type: ignore[method-assign]
    refine = RefineSettings(lr=args.lr, steps=args.steps, seed=args.seed)
    settings = RoundSettings(n_prompts=100, per_prompt=2, refine=refine, seed=args.seed)
    run_rounds("shipped:minim-oct-brain_mri", "raft", 1, real, args.out, settings)


if __name__ == "__main__":
    main()
