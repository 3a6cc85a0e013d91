"""The two tables of docs/transfer.md that the leaderboard does not render, from a transfer
suite's result rows: FD over each generator's training seeds (the quality rows of ``NAME``,
``NAME-s1``, ``NAME-s2``; mean with a 95% t interval), and the downstream AUROC and accuracy of
each adapted generator minus scratch's of the same training seed, paired by classifier seed
(mean with a 95% t interval and the t-test's p).

    python benchmarks/perf/transfer_tables.py results/transfer
    python benchmarks/perf/transfer_tables.py results/transfer-pilot   # FD only
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SEEDS = ("", "-s1", "-s2")


def generators(rows: pd.DataFrame) -> list[str]:
    """The generators' names without their seed suffix, in the rows' order, scratch first."""
    names = [g[:-3] if g[-3:] in SEEDS else g for g in rows.generator.dropna().unique()]
    names = [n for n in dict.fromkeys(names) if n not in ("real-only", "real-vs-real")]
    return sorted(names, key=lambda n: n != "scratch")


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval."""
    mean = float(np.mean(values))
    half = float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )
    return mean, mean - half, mean + half


def fd_table(rows: pd.DataFrame) -> None:
    fd = rows[rows.metric == "fd"]
    print("| data | generator | FD per training seed | mean [95% CI] |\n|---|---|---|---|")
    for data in fd.dataset.unique():
        for name in generators(rows):
            found = [fd[(fd.dataset == data) & (fd.generator == name + s)].value for s in SEEDS]
            by_seed = [float(v.iloc[0]) if len(v) else None for v in found]
            values = np.array([v for v in by_seed if v is not None])
            if len(values) < 2:
                continue
            mean, lo, hi = interval(values)
            # a seed without a row shows as "–", so a mean over fewer seeds is seen as such
            per_seed = ", ".join("–" if v is None else f"{v:.3f}" for v in by_seed)
            print(f"| {data} | {name} | {per_seed} | {mean:.3f} [{lo:.3f}, {hi:.3f}] |")


def paired_table(rows: pd.DataFrame, ratio: float) -> None:
    task = rows[(rows.task == "classification") & (rows.synth_ratio == ratio)]
    print(f"\n| metric | training seed | generator | minus scratch at {ratio:g}x [95% CI] | p |")
    print("|---|---|---|---|---|")
    for metric in ("auroc", "accuracy"):
        by = task[task.metric == metric]
        for s in SEEDS:
            scratch = _per_seed(by, "scratch" + s)
            for name in generators(rows)[1:]:
                diff = (_per_seed(by, name + s) - scratch).dropna()
                if len(diff) < 2:
                    continue
                mean, lo, hi = interval(diff.to_numpy())
                p = stats.ttest_1samp(diff, 0.0).pvalue
                seed = s[2:] if s else "0"
                print(
                    f"| {metric} | {seed} | {name} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] | {p:.3f} |"
                )


def _per_seed(rows: pd.DataFrame, label: str) -> pd.Series:
    """A generator's values by classifier seed."""
    return rows[rows.generator == label].set_index("seed").value.sort_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a transfer suite's results folder")
    parser.add_argument("--ratio", type=float, default=5.0, help="synthetic ratio to compare at")
    args = parser.parse_args()
    rows = pd.read_csv(args.results / "rows.csv")
    fd_table(rows)
    if (rows.task == "classification").any():
        paired_table(rows, args.ratio)


if __name__ == "__main__":
    main()
