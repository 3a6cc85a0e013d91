"""The two tables of docs/transfer.md that the leaderboard does not render, from a transfer
suite's result rows: FD over each generator's training seeds, each adapted generator's FD minus
scratch's of the same training seed (the quality rows of ``NAME``,
``NAME-s1``, ``NAME-s2``, ...: training seed 0, 1, 2, ...; mean with a 95% t interval), and the
downstream AUROC and accuracy of each adapted generator minus scratch's of the same training
seed, paired by classifier seed (mean with a 95% t interval and the t-test's p); and the size of
each generator's trained checkpoints, from the manifests' ``checkpoint_bytes`` (runs that
recorded them), as a share of the fully fine-tuned one's where the folders hold one.

    python benchmarks/perf/transfer_tables.py results/transfer
    python benchmarks/perf/transfer_tables.py results/transfer-pilot   # FD only
    python benchmarks/perf/transfer_tables.py results/transfer-brain-seeds

Several folders are read as one set of rows: suites that trained the same generators with other
seeds on the same data. FDs are pooled over training seeds only where they were measured in the
same extractor's features (the rows' ``feature_extractor``); a run whose extractor was trained
apart, or a second quality block in another extractor, gets lines of its own. A training seed
whose FD two folders hold in the same features counts once, from the first folder.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SUFFIX = re.compile(r"^(?P<name>.+?)(?:-s(?P<seed>\d+))?$")


def split_name(generator: str) -> tuple[str, int]:
    """``lora-r16-s2`` -> (``lora-r16``, 2); a name without a suffix is training seed 0."""
    match = SUFFIX.match(generator)
    assert match is not None
    return match["name"], int(match["seed"] or 0)


def generators(rows: pd.DataFrame) -> list[str]:
    """The generators' names without their seed suffix, in the rows' order, scratch first."""
    names = [split_name(g)[0] for g in rows.generator.dropna().unique()]
    names = [n for n in dict.fromkeys(names) if n not in ("real-only", "real-vs-real")]
    return sorted(names, key=lambda n: n != "scratch")


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval."""
    mean = float(np.mean(values))
    half = float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )
    return mean, mean - half, mean + half


def fd_table(rows: pd.DataFrame) -> str:
    """FD per training seed, one line per data set, generator and feature extractor: FDs in the
    features of different extractors (another run's, trained apart) are never pooled."""
    fd = rows[rows.metric == "fd"].dropna(subset=["generator"])
    lines = [
        "| data | features | generator | FD per training seed | mean [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for (data, features), here in fd.groupby(["dataset", "feature_extractor"], sort=False):
        found: dict[str, dict[int, float]] = {}
        for generator, value in zip(here.generator, here.value):
            name, seed = split_name(generator)
            found.setdefault(name, {}).setdefault(seed, float(value))  # the first folder's
        names = generators(rows)
        seeds = sorted({s for name in names for s in found.get(name, {})})
        for name in names:
            by_seed = [found.get(name, {}).get(s) for s in seeds]
            values = np.array([v for v in by_seed if v is not None])
            if len(values) < 2:
                continue
            mean, lo, hi = interval(values)
            # a seed without a row shows as "–", so a mean over fewer seeds is seen as such
            per_seed = ", ".join("–" if v is None else f"{v:.3f}" for v in by_seed)
            lines.append(
                f"| {data} | {features} | {name} | {per_seed} | {mean:.3f} [{lo:.3f}, {hi:.3f}] |"
            )
    return "\n".join(lines)


def fd_pairs(rows: pd.DataFrame) -> str:
    """Each adapted generator's FD minus scratch's of the same training seed, in the same
    extractor's features: one line per data set, extractor and generator (pairs measured in two
    extractors' features are never pooled), with the mean over the seeds and its 95% t interval,
    and how many pairs are below 0."""
    fd = rows[rows.metric == "fd"].dropna(subset=["generator"])
    lines = [
        "| data | features | generator | FD minus scratch's per training seed | mean [95% CI] "
        "| lower than scratch |",
        "|---|---|---|---|---|---|",
    ]
    for (data, features), here in fd.groupby(["dataset", "feature_extractor"], sort=False):
        found: dict[tuple[str, int], float] = {}
        for generator, value in zip(here.generator, here.value):
            name, seed = split_name(generator)
            found.setdefault((name, seed), float(value))  # the first folder's
        for name in generators(rows)[1:]:
            pairs = sorted(
                (seed, value - found[("scratch", seed)])
                for (other, seed), value in found.items()
                if other == name and ("scratch", seed) in found
            )
            if len(pairs) < 2:
                continue
            diffs = np.array([d for _, d in pairs])
            mean, lo, hi = interval(diffs)
            shown = ", ".join(f"{seed}: {d:+.2f}" for seed, d in pairs)
            lines.append(
                f"| {data} | {features} | {name} | {shown} | {mean:+.2f} [{lo:+.2f}, {hi:+.2f}] "
                f"| {(diffs < 0).sum()} of {len(diffs)} |"
            )
    return "\n".join(lines)


def downstream_table(rows: pd.DataFrame, ratio: float) -> str:
    """Each adapted generator's downstream metric minus scratch's of the same training seed at
    ``ratio``, paired by classifier seed, for each training seed; then, where two or more
    training seeds have both, over the training seeds (each seed's mean difference over its
    classifier seeds; mean with a 95% t interval over the training seeds)."""
    task = rows[(rows.task == "classification") & (rows.synth_ratio == ratio)]
    lines = [
        f"| metric | training seed | generator | minus scratch at {ratio:g}x [95% CI] | p |",
        "|---|---|---|---|---|",
    ]
    seeds = sorted({split_name(g)[1] for g in task.generator.dropna() if g.startswith("scratch")})
    for metric in ("auroc", "accuracy"):
        by = task[task.metric == metric]
        means: dict[str, list[float]] = {}
        for seed in seeds:
            suffix = f"-s{seed}" if seed else ""
            scratch = _per_seed(by, "scratch" + suffix)
            for name in generators(rows)[1:]:
                diff = (_per_seed(by, name + suffix) - scratch).dropna()
                if len(diff) < 2:
                    continue
                means.setdefault(name, []).append(float(diff.mean()))
                lines.append(_difference_line(metric, str(seed), name, diff.to_numpy()))
        for name, values in means.items():
            if len(values) > 1:
                shown = f"{len(values)} seeds ({sum(v > 0 for v in values)} above 0)"
                lines.append(_difference_line(metric, shown, name, np.array(values)))
    return "\n".join(lines)


def _difference_line(metric: str, seed: str, name: str, diff: np.ndarray) -> str:
    mean, lo, hi = interval(diff)
    p = stats.ttest_1samp(diff, 0.0).pvalue
    shown = "<0.001" if p < 0.001 else f"{p:.3f}"
    return f"| {metric} | {seed} | {name} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] | {shown} |"


def _per_seed(rows: pd.DataFrame, label: str) -> pd.Series:
    """A generator's values by classifier seed."""
    return rows[rows.generator == label].set_index("seed").value.sort_index()


def checkpoint_table(folders: list[Path], rows: pd.DataFrame) -> str:
    """Each generator's checkpoint bytes per training seed (every data set), from the manifests'
    ``checkpoint_bytes`` by the checkpoint the rows name; the share of ``full``'s mean where the
    folders trained one. Empty where no manifest recorded sizes."""
    import json

    sizes: dict[str, int] = {}
    for folder in folders:
        sizes.update(json.loads((folder / "manifest.json").read_text()).get("checkpoint_bytes", {}))
    found: dict[str, dict[tuple[str, int], int]] = {}
    for generator, checkpoint, data in zip(rows.generator, rows.checkpoint, rows.dataset):
        if isinstance(checkpoint, str) and checkpoint in sizes:
            name, seed = split_name(generator)
            found.setdefault(name, {}).setdefault((data, seed), sizes[checkpoint])
    if not found:
        return ""
    full = np.mean(list(found["full"].values())) if "full" in found else None
    lines = [
        "| generator | checkpoint bytes per training seed | share of full's |",
        "|---|---|---|",
    ]
    for name in [n for n in generators(rows) if n in found]:
        values = [v for _, v in sorted(found[name].items())]
        share = "" if full is None else ", ".join(f"{v / full:.1%}" for v in sorted(set(values)))
        shown = ", ".join(f"{v:,}" for v in values)
        lines.append(f"| {name} | {shown} | {share} |")
    return "\n".join(lines)


def read(folders: list[Path]) -> pd.DataFrame:
    """The rows of several results folders, as one table."""
    return pd.concat([pd.read_csv(folder / "rows.csv") for folder in folders])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "results", type=Path, nargs="+", help="transfer suites' results folders, read as one"
    )
    parser.add_argument("--ratio", type=float, default=5.0, help="synthetic ratio to compare at")
    args = parser.parse_args()
    rows = read(args.results)
    print(fd_table(rows), fd_pairs(rows), sep="\n\n")
    if (rows.task == "classification").any():
        print("\n" + downstream_table(rows, args.ratio))
    sizes = checkpoint_table(args.results, rows)
    if sizes:
        print("\n" + sizes)


if __name__ == "__main__":
    main()
