"""The quick-profile claims of the downstream tasks, checked on phantom data in one run.

    python benchmarks/perf/task_claims.py --seeds 0 1 2

1. biomarker-survival on ``phantom:chest_ct`` (2,000 patients, the nodule-centred view, as
   nodule-level EGFR models see a CT; on the whole slice the nodule is a few pixels at 32 px),
   the EGFR classifier trained on all real training images: the predicted-mutant group survives
   longer (Cox HR < 1, log-rank p < 0.05); the same analysis with the simulator's true status for reference (true HR 0.5).
2. ssl on ``phantom:oct``: SimCLR pretraining beats a randomly initialised encoder in linear-probe
   accuracy on real test images.

Prints the rows per seed and whether each claim holds for every seed.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--survival-data", default="phantom:chest_ct?n=2000&size=32&view=nodule")
    parser.add_argument("--ssl-data", default="phantom:oct?n=1000&size=32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", choices=("survival", "ssl"), default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    holds = {}
    if args.only in (None, "survival"):
        holds["predicted-mutant HR < 1, log-rank p < 0.05"] = _survival(args)
    if args.only in (None, "ssl"):
        holds["ssl probe accuracy > random-init"] = _ssl(args)
    print()
    for claim, ok in holds.items():
        print(f"{claim}: {'holds for every seed' if ok else 'DOES NOT HOLD for every seed'}")


def _rows(task: str, data_spec: str, args: argparse.Namespace, seed: int):
    from synthbench.data.source import load_data
    from synthbench.tasks.base import create_task
    from synthbench.tasks.mixing import mix

    data = load_data(data_spec)
    train = mix(data.train, None, synth_ratio=0, seed=seed)
    return create_task(task, profile=args.profile).run(train, data.val, data.test, seed=seed)


def _survival(args: argparse.Namespace) -> bool:
    print(f"biomarker-survival, {args.survival_data}, profile {args.profile}")
    print(
        f"{'seed':>4} {'status':<10} {'HR':>6} {'95% CI':>16} {'log-rank p':>11} "
        f"{'C-index':>8} {'AUROC':>6}"
    )
    ok = True
    for seed in args.seeds:
        t0 = time.perf_counter()
        rows = _rows("biomarker-survival", args.survival_data, args, seed)
        auroc = next((r.value for r in rows if r.metric == "auroc"), float("nan"))
        for status in ("predicted", "true"):
            v = {r.metric: r.value for r in rows if r.qualifiers.get("status") == status}
            ci = f"[{v['hazard_ratio_ci_lower']:.2f}, {v['hazard_ratio_ci_upper']:.2f}]"
            print(
                f"{seed:>4} {status:<10} {v['hazard_ratio']:>6.2f} {ci:>16} "
                f"{v['logrank_p']:>11.3g} {v['c_index']:>8.3f} "
                f"{auroc if status == 'predicted' else float('nan'):>6.3f}"
                + (f"  ({time.perf_counter() - t0:.0f} s)" if status == "true" else ""),
                flush=True,
            )
            if status == "predicted":
                ok &= v["hazard_ratio"] < 1 and v["logrank_p"] < 0.05
    return ok


def _ssl(args: argparse.Namespace) -> bool:
    print(f"ssl, {args.ssl_data}, profile {args.profile}")
    print(f"{'seed':>4} {'encoder':<12} {'probe acc':>9} {'kNN acc':>8}")
    ok = True
    for seed in args.seeds:
        t0 = time.perf_counter()
        rows = _rows("ssl", args.ssl_data, args, seed)
        probe = {}
        for encoder in ("ssl", "random-init"):
            v = {r.metric: r.value for r in rows if r.qualifiers.get("encoder") == encoder}
            probe[encoder] = v["probe_accuracy"]
            print(
                f"{seed:>4} {encoder:<12} {v['probe_accuracy']:>9.3f} {v['knn_accuracy']:>8.3f}"
                + (f"  ({time.perf_counter() - t0:.0f} s)" if encoder == "random-init" else ""),
                flush=True,
            )
        ok &= probe["ssl"] > probe["random-init"]
    return ok


if __name__ == "__main__":
    main()
