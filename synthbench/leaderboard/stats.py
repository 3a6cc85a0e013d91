"""Leaderboard tables from result rows: mean and 95% CI over seeds, gain over real only with a
paired test across seeds, ranks, and the quality metrics beside the downstream ones.

>>> s = mean_ci([0.70, 0.72, 0.74])
>>> round(s.mean, 3), round(s.low, 3), round(s.high, 3), s.n
(0.72, 0.67, 0.77, 3)

Tables are built from rows alone, so any results folder renders the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synthbench.results import ResultRow

#: the metrics each built-in task's table shows, first one ranks; other tasks show every
#: metric without qualifiers
HEADLINE: dict[str, list[tuple[str, dict[str, str]]]] = {
    "classification": [("accuracy", {}), ("auroc", {"average": "macro"})],
    "report-generation": [
        ("bleu", {"n_gram": "4"}),
        ("clinical_efficacy_f1", {"average": "micro"}),
    ],
    "ssl": [("probe_accuracy", {"encoder": "ssl"}), ("knn_accuracy", {"encoder": "ssl"})],
    "biomarker-survival": [
        ("auroc", {}),
        ("hazard_ratio", {"status": "predicted"}),
        ("logrank_p", {"status": "predicted"}),
    ],
}
#: quality metrics shown beside the downstream ones, and in the quality tables
QUALITY = ("fd", "kd", "precision", "recall", "coverage", "near_copy_share")
CONTROLS = ("real-only", "real-pool")


@dataclass(frozen=True)
class Stat:
    """Mean of a metric over seeds with a two-sided 95% t interval (nan bounds for one seed)."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Gain:
    """Mean paired difference from real only over the seeds both have, relative change and the
    paired t-test's two-sided p (nan with fewer than two pairs)."""

    diff: float
    relative: float
    p: float
    n: int


@dataclass
class Entry:
    generator: str
    synth_ratio: float
    n_real: int | None
    n_synth: int | None
    stats: dict[str, Stat] = field(default_factory=dict)
    gains: dict[str, Gain] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    rank: int | None = None


@dataclass
class Block:
    """One leaderboard table: a data set, task, protocol and real fraction."""

    dataset: str
    task: str
    protocol: str
    real_fraction: float
    metrics: list[tuple[str, str, bool | None]]  # (column id, label, higher_is_better)
    entries: list[Entry]
    profile: str = ""
    precision: str = ""


@dataclass
class QualityTable:
    dataset: str
    feature_extractor: str
    metrics: list[tuple[str, bool | None]]
    values: dict[str, dict[str, float]]  # generator -> metric -> value
    n: dict[str, int]


def mean_ci(values: Sequence[float], level: float = 0.95) -> Stat:
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Stat(mean, math.nan, math.nan, n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Stat(mean, mean - half, mean + half, n)


def paired_gain(values: dict[int, float], control: dict[int, float]) -> Gain:
    from scipy import stats

    seeds = sorted(set(values) & set(control))
    if not seeds:
        return Gain(math.nan, math.nan, math.nan, 0)
    diffs = [values[s] - control[s] for s in seeds]
    diff = sum(diffs) / len(diffs)
    base = sum(control[s] for s in seeds) / len(seeds)
    relative = diff / abs(base) if base else math.nan
    p = math.nan
    if len(seeds) >= 2:
        if max(diffs) == min(diffs):
            p = 0.0 if diff != 0 else 1.0
        else:
            p = float(
                stats.ttest_rel([values[s] for s in seeds], [control[s] for s in seeds]).pvalue
            )
    return Gain(diff, relative, p, len(seeds))


def metric_id(metric: str, qualifiers: dict[str, str]) -> str:
    quals = ",".join(f"{k}={v}" for k, v in sorted(qualifiers.items()))
    return f"{metric}[{quals}]" if quals else metric


def _headline(task: str, rows: list[ResultRow]) -> list[tuple[str, str, bool | None]]:
    wanted = HEADLINE.get(task)
    present = {metric_id(r.metric, r.qualifiers): r.higher_is_better for r in rows}
    if wanted:
        out = []
        for metric, quals in wanted:
            mid = metric_id(metric, quals)
            if mid in present:
                out.append((mid, mid.replace("[", " (").replace("]", ")"), present[mid]))
        if out:
            return out
    return [
        (m, m, present[m])
        for m in dict.fromkeys(metric_id(r.metric, r.qualifiers) for r in rows if not r.qualifiers)
    ]


def build(rows: Sequence[ResultRow]) -> tuple[list[Block], list[QualityTable]]:
    """The downstream blocks and quality tables of a results folder's rows."""
    task_rows = [
        r for r in rows if r.task and r.task != "refine" and not r.qualifiers.get("training")
    ]
    quality_rows = [r for r in rows if not r.task]
    quality = _quality_tables(quality_rows)
    fd_by: dict[tuple[str, str], dict[str, float]] = {}
    for q in quality:  # several quality blocks on one data set: the first one's beside the task
        for g, v in q.values.items():
            fd_by.setdefault((q.dataset, g), v)
    groups: dict[tuple, list[ResultRow]] = {}
    for r in task_rows:
        if r.generator == "real-pool":
            continue
        groups.setdefault((r.dataset, r.task, r.protocol, r.real_fraction or 1.0), []).append(r)
    blocks = []
    for (dataset, task, protocol, fraction), block_rows in sorted(
        groups.items(), key=lambda kv: tuple(map(str, kv[0]))
    ):
        if protocol == "pretrain-pool":
            block_rows = block_rows + [
                r
                for r in task_rows
                if r.generator == "real-pool"
                and r.dataset == dataset
                and r.task == task
                and r.protocol == protocol
            ]
        metrics = _headline(task, block_rows)
        values: dict[tuple[str, float], dict[str, dict[int, float]]] = {}
        counts: dict[tuple[str, float], tuple[int | None, int | None]] = {}
        for r in block_rows:
            mid = metric_id(r.metric, r.qualifiers)
            key = (r.generator, float(r.synth_ratio or 0.0))
            values.setdefault(key, {}).setdefault(mid, {})[r.seed if r.seed is not None else 0] = (
                r.value
            )
            counts[key] = (r.n_real, r.n_synth)
        control = values.get(("real-only", 0.0), {})
        entries = []
        for key, per_metric in values.items():
            entry = Entry(key[0], key[1], *counts[key])
            for mid, _label, _hib in metrics:
                if mid in per_metric:
                    seeds = per_metric[mid]
                    entry.stats[mid] = mean_ci([seeds[s] for s in sorted(seeds)])
                    if key[0] != "real-only" and mid in control:
                        entry.gains[mid] = paired_gain(seeds, control[mid])
            entry.quality = fd_by.get((dataset, key[0]), {})
            entries.append(entry)
        _rank(entries, metrics)
        entries.sort(key=lambda e: (e.generator not in CONTROLS, e.generator, e.synth_ratio))
        profile = next((r.profile for r in block_rows if r.profile), "")
        precision = ",".join(sorted({r.precision for r in block_rows}))
        blocks.append(
            Block(dataset, task, protocol, fraction, metrics, entries, profile, precision)
        )
    return blocks, quality


def _rank(entries: list[Entry], metrics: list[tuple[str, str, bool | None]]) -> None:
    if not metrics:
        return
    mid, _, higher = metrics[0]
    scored = [e for e in entries if mid in e.stats]
    sign = -1 if higher is not False else 1
    for i, e in enumerate(sorted(scored, key=lambda e: sign * e.stats[mid].mean), 1):
        e.rank = i


def _quality_tables(rows: list[ResultRow]) -> list[QualityTable]:
    """One table per data set and feature extractor (a suite may score one data set in several
    extractors' features), in the order the rows come."""
    tables: dict[tuple[str, str], QualityTable] = {}
    for r in rows:
        if r.qualifiers or r.metric not in QUALITY:
            continue
        key = (r.dataset, r.feature_extractor)
        table = tables.setdefault(key, QualityTable(r.dataset, r.feature_extractor, [], {}, {}))
        if r.metric not in [m for m, _ in table.metrics]:
            table.metrics.append((r.metric, r.higher_is_better))
        table.values.setdefault(r.generator, {})[r.metric] = r.value
        table.n[r.generator] = r.n_synth or 0
    for table in tables.values():
        table.metrics.sort(key=lambda m: QUALITY.index(m[0]))
    return list(tables.values())


def as_records(blocks: list[Block]) -> list[dict[str, Any]]:
    """One flat record per (block, entry, metric): the CSV form of the leaderboard."""
    out = []
    for b in blocks:
        for e in b.entries:
            for mid, _label, higher in b.metrics:
                if mid not in e.stats:
                    continue
                s, g = e.stats[mid], e.gains.get(mid)
                out.append(
                    {
                        "dataset": b.dataset,
                        "task": b.task,
                        "protocol": b.protocol,
                        "real_fraction": b.real_fraction,
                        "generator": e.generator,
                        "synth_ratio": e.synth_ratio,
                        "n_real": e.n_real,
                        "n_synth": e.n_synth,
                        "metric": mid,
                        "higher_is_better": higher,
                        "mean": s.mean,
                        "ci_low": s.low,
                        "ci_high": s.high,
                        "n_seeds": s.n,
                        "gain": g.diff if g else None,
                        "gain_relative": g.relative if g else None,
                        "gain_p": g.p if g else None,
                        "rank": e.rank,
                        **{f"quality_{k}": v for k, v in e.quality.items()},
                    }
                )
    return out
