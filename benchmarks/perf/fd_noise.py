"""How much does FD at a round's batch size move between draws of one unchanged model?

    python benchmarks/perf/fd_noise.py runs/ceiling-work/oct4-s0-g3 \
        --data 'phantom:oct,fundus,cxr,chest_ct?n=2000&size=32' --modality oct \
        --out results/fd-noise/oct4-g3

A refinement round is judged by the change of FD between its batch and round 0's (the
refinement must-show allows 5%). Both are FDs of a couple of hundred images, so each carries the
sampling noise of its draw. A pool of :mod:`best_of_n_ceiling` (``--work``) holds ``K``
independent draws of one base for the same prompts (candidate ``k`` of every image is draw
``k``), so it measures that noise directly, with the model held fixed:

- the FD of each draw against the real test split, as a round scores its batch (the same
  ``domain`` extractor, trained on the real training images, and the same seed);
- the FD of the first ``m`` draws pooled (``m`` x the batch size), for each ``m`` from 1 to
  ``K``: how far the value is from that of many images (FD is biased upward at few images);
- the real-vs-real floor: the validation split against the test split;
- with ``--prompt-sets R``: one draw of the base (as the pool's was drawn) for each of the
  prompt sets rounds 0 to R-1 of the same seed use (fresh held-out reports each round): how far
  FD moves with the prompts alone, as a round's batch moves from round 0's.

It writes ``fd.json``, ``fd.md`` and a ``manifest.json`` under ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="a best_of_n_ceiling.py --work folder")
    parser.add_argument("--data", required=True)
    parser.add_argument("--modality", required=True)
    parser.add_argument("--seed", type=int, default=0, help="the extractor's seed (a round's)")
    parser.add_argument("--prompt-sets", type=int, default=0, help="rounds 0..R-1's prompts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/fd_noise.py")
    started = time.perf_counter()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.cohort import Cohort
    from synthbench.metrics.evaluate import EvalSettings, evaluate
    from synthbench.runner.plan import load_payload_data

    drawn = json.loads((args.work / "pool" / "drawn.json").read_text())
    if drawn["data"] != args.data or drawn["modality"] != args.modality:
        parser.error(
            f"{args.work} holds candidates of {drawn['data']} ({drawn['modality']}), "
            f"not {args.data} ({args.modality})"
        )
    pool = Cohort.load(args.work / "pool" / "cohort")
    k_all = int(drawn["candidates"])
    n = len(pool) // k_all
    real = load_payload_data({"spec": args.data, "modalities": [args.modality]})
    settings = EvalSettings(
        reference_split="test", seed=args.seed, breakdown=False, cache_dir=args.work / "features"
    )

    def fd(cohort: Cohort) -> float:
        rows = evaluate(real, cohort, ["fd"], settings).rows
        return next(r.value for r in rows if r.metric == "fd" and not r.qualifiers)

    draws = [fd(pool.subset(k * n + np.arange(n))) for k in range(k_all)]
    pooled = {m: fd(pool.subset(np.arange(m * n))) for m in range(1, k_all + 1)}
    floor = fd(real.val)
    by_prompts = {}
    if args.prompt_sets:
        from synthbench.feedback.rounds import round_prompts
        from synthbench.generators.base import load_generator
        from synthbench.generators.conditions import Conditions
        from synthbench.generators.shipped import resolve_checkpoint

        gen = load_generator(resolve_checkpoint(drawn["checkpoint"]))
        gen.config = gen.config.with_sampling(drawn.get("sampling", []))
        for r in range(args.prompt_sets):
            prompts = round_prompts(real, drawn["prompts"], drawn["seed"], r)
            conditions = Conditions.from_prompts(
                [p for p in prompts for _ in range(drawn["per_prompt"])]
            )
            # a sampling seed of its own, apart from the pool's (seed * 1000 + 100 + k)
            by_prompts[r] = fd(gen.sample(conditions, seed=drawn["seed"] * 1000 + 900 + r))
    values = np.asarray(draws)
    summary = {
        "images_per_draw": n,
        "draws": draws,
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)),
        "min": float(values.min()),
        "max": float(values.max()),
        # the change of FD between two draws of the same model, as a share of the first
        "median_abs_change_between_draws": float(
            np.median(
                [abs(b - a) / a for i, a in enumerate(draws) for j, b in enumerate(draws) if i != j]
            )
        ),
        "pooled": {str(m * n): v for m, v in pooled.items()},
        "real_vs_real": floor,
        "by_round_prompts": {str(r): v for r, v in by_prompts.items()},
        "n_real_val": len(real.val),
        "n_real_test": len(real.test),
    }
    lines = [
        f"{drawn['checkpoint']} on {args.modality}"
        + (f" ({', '.join(drawn['sampling'])})" if drawn.get("sampling") else "")
        + f": FD against the {len(real.test)} real test images",
        "",
        f"| images | FD of each of the {k_all} draws | mean ± sd | median change between two draws |",
        "|---|---|---|---|",
        f"| {n} | {' / '.join(f'{v:.3g}' for v in draws)} | {summary['mean']:.3g} ± "
        f"{summary['sd']:.2g} | {summary['median_abs_change_between_draws']:.0%} |",
        "",
        "| images pooled | " + " | ".join(str(m * n) for m in pooled) + " | real vs real "
        f"({len(real.val)} validation images) |",
        "|---|" + "---|" * (len(pooled) + 1),
        "| FD | " + " | ".join(f"{v:.3g}" for v in pooled.values()) + f" | {floor:.3g} |",
    ]
    if by_prompts:
        lines += [
            "",
            "| one draw on the prompts of round | " + " | ".join(map(str, by_prompts)) + " |",
            "|---|" + "---|" * len(by_prompts),
            "| FD | " + " | ".join(f"{v:.3g}" for v in by_prompts.values()) + " |",
        ]
    text = "\n".join(lines)
    with atomic_dir(args.out) as out:
        (out / "fd.md").write_text(text + "\n")
        (out / "fd.json").write_text(json.dumps(summary, indent=1))
        from synthbench.machine import write_script_manifest

        write_script_manifest(
            out,
            "benchmarks/perf/fd_noise.py",
            started,
            threads=args.threads,
            precision={
                "candidates": "as drawn (see the pool's run)",
                **({"prompt sets": gen.sampling_precision()} if by_prompts else {}),
                "metrics": "fp32",
            },
            pool=drawn,
        )
    print(text)


if __name__ == "__main__":
    main()
