"""A refinement suite's changes from round 0 as each judge measured them, and over fresh judges.

    python benchmarks/perf/across_judges.py results/feedback-heldout-satisfice \
        results/feedback-heldout-satisfice-rejudged results/feedback-heldout-satisfice-rejudged-2 \
        [--round 3]

The first folder holds the suite's own rows (its judge: the one its settings were chosen on);
each further folder the rows ``rejudge_rounds.py`` wrote for the same rounds with a fresh judge
(another rater simulation, another ``domain`` extractor and adherence classifier). For every
method and round it prints each judge's change from round 0, paired by seed as the rounds table
pairs them (points for shares, relative for FD), and then the fresh judges together: each
seed's changes averaged over the fresh judges (they score the same images, so they are repeated
measurements of one seed, not more seeds), with the 95% t interval over seeds, and how far the
fresh judges' FD changes lie apart within a seed (the largest range over the seeds).

The suite's own judge stays out of the average: a figure is quoted from judges nothing was
chosen on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: (column id, label) of the changes shown
CHANGES = (
    ("top_rated", "Δ top-rated (pts)"),
    ("prompt_adherence", "Δ adherence (pts)"),
    ("fd", "Δ FD (%)"),
    ("near_copy_share", "Δ near copies (pts)"),
)


def load(folder: Path) -> tuple[str, list]:
    """A judge's name and its rows: a rejudged folder's from its manifest, the suite's own."""
    from synthbench.results import read_results, read_rows

    if (folder / "rows.jsonl").is_file() and not (folder / "rows.parquet").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        argv = manifest["argv"]
        data = argv[argv.index("--judge-data") + 1].rpartition("seed=")[2]
        rater = argv[argv.index("--rater-seed") + 1] if "--rater-seed" in argv else "1000"
        return f"fresh (data seed {data}, rater + {rater})", read_rows(folder / "rows.jsonl")
    return "the suite's own", read_results(folder)


def summary(folders: list[Path], rounds: set[int] | None = None) -> str:
    """The table of every judge's changes, then the fresh judges' average, as Markdown; of
    every round after round 0, or of ``rounds``."""
    from synthbench.errors import SynthbenchError
    from synthbench.leaderboard.rounds import rounds_tables
    from synthbench.leaderboard.stats import mean_ci

    judges = []
    for folder in folders:
        name, rows = load(folder)
        (table,) = rounds_tables(rows)  # one data set, generator and protocol
        judges.append((name, table))
    keys = [k for k in judges[0][1].ordered() if k[1] > 0 and (not rounds or k[1] in rounds)]
    if not keys:
        raise SynthbenchError(f"{folders[0]} holds no refinement round {sorted(rounds or [])}")
    seeds = judges[0][1].seeds
    header = ["method", "round", "judge", *(f"{label}, seed mean" for _, label in CHANGES)]
    header += [
        "Δ FD (%), seeds " + " / ".join(map(str, seeds)),
        "fresh judges' FD range (pts)",
        "near copies (%): round 0 → this round; real test images",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, r in keys:
        fresh: dict[str, dict[int, list[float]]] = {c: {} for c, _ in CHANGES}
        fresh_copies = []
        for j, (name, table) in enumerate(judges):
            changes = {c: table.seed_changes(method, r, c) for c, _ in CHANGES}
            copies = _near_copies(table, method, r)
            if j:  # every judge but the suite's own (the first folder) is fresh
                fresh_copies.append(copies)
                for c, by_seed in changes.items():
                    for s, v in by_seed.items():
                        fresh[c].setdefault(s, []).append(v)
            cells = [_stat(mean_ci(list(changes[c].values()))) for c, _ in CHANGES]
            per_seed = " / ".join(f"{changes['fd'][s] * 100:+.1f}" for s in seeds)
            lines.append(
                f"| {method} | {r} | {name} | {' | '.join(cells)} | {per_seed} |  "
                f"| {_copies(copies)} |"
            )
        n = min(len(v) for v in fresh["fd"].values())
        means = {c: {s: sum(v) / len(v) for s, v in fresh[c].items()} for c, _ in CHANGES}
        cells = [_stat(mean_ci([means[c][s] for s in seeds])) for c, _ in CHANGES]
        per_seed = " / ".join(f"{means['fd'][s] * 100:+.1f}" for s in seeds)
        spread = max(max(v) - min(v) for v in fresh["fd"].values()) * 100
        lines.append(
            f"| {method} | {r} | **{n} fresh judge{'s' if n > 1 else ''}** | {' | '.join(cells)} | {per_seed} "
            f"| {spread:.1f} | {_copies(tuple(sum(c) / len(c) for c in zip(*fresh_copies)))} |"
        )
    return "\n".join(lines)


def _near_copies(table, method: str, r: int) -> tuple[float, float, float]:
    """The near-copy share over seeds at round 0, at round ``r``, and of the real test images."""
    from synthbench.leaderboard.rounds import base_of

    base = base_of(method)
    at = [table.stat(base, 0, "near_copy_share"), table.stat(method, r, "near_copy_share")]
    real = table.reference_stat(base, "near_copy_share")
    return (*(s.mean for s in at), real.mean)


def _copies(values: tuple[float, ...]) -> str:
    first, now, real = (v * 100 for v in values)
    return f"{first:.1f} → {now:.1f}; {real:.1f}"


def _stat(s) -> str:
    text = f"{s.mean * 100:+.1f}"
    return text + (f" [{s.low * 100:+.1f}, {s.high * 100:+.1f}]" if s.n > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="the suite's results, then rejudged")
    parser.add_argument("--round", type=int, action="append", help="only this round (repeatable)")
    args = parser.parse_args()
    from synthbench.errors import SynthbenchError

    if len(args.folders) < 2:
        sys.exit("error: give the suite's results folder and at least one rejudged folder")
    try:
        print(summary(args.folders, set(args.round or [])))
    except (SynthbenchError, OSError, KeyError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
