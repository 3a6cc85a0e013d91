"""Per-round tables and plots of refinement runs (rows of task ``refine``, qualifiers ``method``
and ``round``; see :mod:`synthbench.feedback.rounds`).

One table per data set, generator and protocol (rounds scored on the batch they learn from, or
on a held-out batch, protocol ``held-out``): a row per method and round (round 0, the base model,
first), each metric as mean and 95% t interval over seeds, and the change from round 0 with its
95% t interval over the seeds' paired changes (points for shares, relative for FD). Rows of a
labelled suite block (qualifier ``variant``) read ``best-of-n · <label>``, their round 0
``base · <label>``, and each is compared with its own round 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from synthbench.leaderboard.stats import Stat, mean_ci
from synthbench.results import ResultRow

#: (column id, metric, qualifiers besides method and round, label, higher is better)
COLUMNS: tuple[tuple[str, str, dict[str, str], str, bool], ...] = (
    ("top_rated", "top_rated", {}, "top-rated", True),
    ("top_fidelity", "top_fidelity", {}, "fidelity 3", True),
    ("prompt_adherence", "prompt_adherence", {}, "adherence", True),
    ("top_realism", "top_realism", {}, "realism 3", True),
    ("fd", "fd", {}, "FD", False),
    ("cas", "cas", {"train": "synthetic"}, "CAS", True),
    ("near_copy_share", "near_copy_share", {}, "near copies", False),
    ("near_copy_copy", "near_copy_share", {"space": "copy"}, "near copies, copy detector", False),
    ("mean_reward", "mean_reward", {}, "reward", True),
)
#: the real test images' own figures beside the rounds' (column id -> metric, qualifiers): the
#: classifier's adherence to their reports, the CAS classifier's test accuracy when trained on
#: the real training images (on the phantoms the same classifier as adherence's, so the same
#: figure), and the near-copy share of held-out real images, the floor of a generator that
#: copies nothing
REFERENCE: dict[str, tuple[str, dict[str, str]]] = {
    "prompt_adherence": ("prompt_adherence", {"set": "real-test"}),
    "cas": ("cas", {"train": "real"}),
    "near_copy_share": ("near_copy_share", {"set": "real-test"}),
    "near_copy_copy": ("near_copy_share", {"set": "real-test", "space": "copy"}),
}
REFERENCE_ROW = "real test images"
#: joins a method (or ``base``) and a block's label
JOIN = " · "
#: shown as percentages, their change from round 0 in points
SHARES = (
    "top_rated",
    "top_fidelity",
    "top_realism",
    "prompt_adherence",
    "near_copy_share",
    "near_copy_copy",
)


def method_label(method: str, variant: str | None) -> str:
    """``best-of-n`` or, for a labelled block's rows, ``best-of-n · <label>``."""
    return f"{method}{JOIN}{variant}" if variant else method


def base_of(method: str) -> str:
    """The round-0 row a method's rounds are compared with: ``base`` of its own block."""
    _, _, variant = method.partition(JOIN)
    return method_label("base", variant)


@dataclass
class RoundsTable:
    dataset: str
    protocol: str = ""
    generator: str = ""
    #: (method, round) -> column id -> seed -> value (method: :func:`method_label`)
    values: dict[tuple[str, int], dict[str, dict[int, float]]] = field(default_factory=dict)
    #: round-0 label (``base`` or ``base · <label>``) -> column id -> seed -> the real test
    #: images' value (``REFERENCE``; round 0's rows)
    reference: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)

    def stat(self, method: str, round_index: int, column: str) -> Stat | None:
        seeds = self.values.get((method, round_index), {}).get(column)
        return mean_ci([seeds[s] for s in sorted(seeds)]) if seeds else None

    @property
    def methods(self) -> list[str]:
        return sorted({m for m, r in self.values if r > 0})

    def reference_stat(self, base: str, column: str) -> Stat | None:
        seeds = self.reference.get(base, {}).get(column)
        return mean_ci([seeds[s] for s in sorted(seeds)]) if seeds else None

    def ordered(self) -> list[tuple[str, int]]:
        return sorted(self.values, key=lambda k: (k[1] > 0, k[0], k[1]))

    @property
    def seeds(self) -> list[int]:
        return sorted({s for v in self.values.values() for by in v.values() for s in by})

    def seed_changes(self, method: str, round_index: int, column: str) -> dict[int, float]:
        """Each seed's change from its own round 0, over the seeds both have: relative for FD
        (the seed's FD over its round 0's, less 1), a plain difference otherwise."""
        now = self.values.get((method, round_index), {}).get(column, {})
        base = self.values.get((base_of(method), 0), {}).get(column, {})
        seeds = sorted(set(now) & set(base))
        if column == "fd":
            return {s: now[s] / base[s] - 1.0 for s in seeds if base[s]}
        return {s: now[s] - base[s] for s in seeds}

    def change(self, method: str, round_index: int, column: str) -> Stat | None:
        """Change from round 0, paired by seed over the seeds both have, as mean and 95% t
        interval (:meth:`seed_changes`; x 100 for points of shares)."""
        diffs = list(self.seed_changes(method, round_index, column).values())
        return mean_ci(diffs) if diffs else None


def rounds_tables(rows: Sequence[ResultRow]) -> list[RoundsTable]:
    tables: dict[tuple[str, str, str], RoundsTable] = {}
    for r in rows:
        if r.task != "refine" or "round" not in r.qualifiers:
            continue
        rest = {k: v for k, v in r.qualifiers.items() if k not in ("method", "round", "variant")}
        seed = r.seed if r.seed is not None else 0
        where = (r.dataset, r.generator, r.protocol)
        method = method_label(r.qualifiers.get("method", ""), r.qualifiers.get("variant"))
        for column, (metric, quals) in REFERENCE.items():
            if r.metric == metric and rest == quals and r.qualifiers["round"] == "0":
                table = tables.setdefault(where, RoundsTable(r.dataset, r.protocol, r.generator))
                table.reference.setdefault(method, {}).setdefault(column, {})[seed] = r.value
        for column, metric, quals, _label, _hib in COLUMNS:
            if r.metric == metric and rest == quals:
                table = tables.setdefault(where, RoundsTable(r.dataset, r.protocol, r.generator))
                key = (method, int(r.qualifiers["round"]))
                table.values.setdefault(key, {}).setdefault(column, {})[seed] = r.value
    return [tables[k] for k in sorted(tables) if tables[k].values]


def _fmt(column: str, s: Stat | None) -> str:
    if s is None:
        return "–"
    scale, unit, digits = (100, "%", 1) if column in SHARES else (1, "", 3)
    text = f"{s.mean * scale:.{digits}f}{unit}"
    if s.n > 1:
        text += f" [{s.low * scale:.{digits}f}, {s.high * scale:.{digits}f}]"
    return text


def _fmt_change(column: str, s: Stat | None) -> str:
    """``+20.0 pts [12.1, 27.9]`` for shares, ``-21.0% [-40.2, -1.8]`` for FD."""
    if s is None:
        return ""
    if math.isnan(s.mean):
        return "–"
    sign = "+" if s.mean >= 0 else "-"
    unit = "%" if column == "fd" else " pts"
    text = f"{sign}{abs(s.mean) * 100:.1f}{unit}"
    if s.n > 1:
        text += f" [{s.low * 100:+.1f}, {s.high * 100:+.1f}]"
    return text


def rounds_table(t: RoundsTable) -> tuple[list[str], list[list[str]]]:
    """Header and body: method, round, seeds, each column, then the change from round 0 of the
    top-rated and fidelity-3 shares, prompt adherence and FD; last, the real test images' own
    adherence, CAS and near-copy share where the rows hold them."""
    present = [
        c
        for c in COLUMNS
        if any(c[0] in ref for ref in t.reference.values())
        or any(c[0] in v for v in t.values.values())
    ]
    header = ["method", "round", "seeds", *(f"{c[3]} {'↑' if c[4] else '↓'}" for c in present)]
    header += ["Δ top-rated", "Δ fidelity 3", "Δ adherence", "Δ FD"]
    body = []
    for method, r in t.ordered():
        stats = [t.stat(method, r, c[0]) for c in present]
        n = max((s.n for s in stats if s is not None), default=0)
        row = [method, str(r), str(n), *(_fmt(c[0], s) for c, s in zip(present, stats))]
        for column in ("top_rated", "top_fidelity", "prompt_adherence", "fd"):
            row.append(_fmt_change(column, t.change(method, r, column) if r else None))
        body.append(row)
    for base in sorted(t.reference):  # a row per block's round 0 (one where nothing is labelled)
        stats = [t.reference_stat(base, c[0]) for c in present]
        n = max((s.n for s in stats if s is not None), default=0)
        cells = [_fmt(c[0], s) if s is not None else "" for c, s in zip(present, stats)]
        label = REFERENCE_ROW + base.removeprefix("base")
        body.append([label, "", str(n), *cells, "", "", "", ""])
    return header, body


#: the per-seed table's columns: the changes the goal reads, then the near-copy shares themselves
SEED_CHANGES = ("top_rated", "top_fidelity", "prompt_adherence", "fd")


def seeds_table(t: RoundsTable) -> tuple[list[str], list[list[str]]] | None:
    """Header and body of each seed's own figures (None for a single seed): for every method and
    round, the change from its round 0 of the top-rated and fidelity-3 shares, prompt adherence
    and FD, and the near-copy shares (the copy detector's where the rows hold it), one value per
    seed in the order the header gives."""
    seeds = t.seeds
    if len(seeds) < 2:
        return None
    order = " / ".join(str(s) for s in seeds)
    names = {c[0]: c[3] for c in COLUMNS}
    header = ["method", "round"]
    header += [f"Δ {names[c]} ({'%' if c == 'fd' else 'pts'}), seeds {order}" for c in SEED_CHANGES]
    copy_columns = [
        c for c in ("near_copy_share", "near_copy_copy") if any(c in v for v in t.values.values())
    ]
    header += [f"{names[c]} (%), seeds {order}" for c in copy_columns]

    def joined(values: dict[int, float], sign: str) -> str:
        if not values:
            return ""
        return " / ".join(f"{values[s] * 100:{sign}.1f}" if s in values else "–" for s in seeds)

    body = []
    for method, r in t.ordered():
        cells = [joined(t.seed_changes(method, r, c), "+") if r else "" for c in SEED_CHANGES]
        copies = [joined(t.values.get((method, r), {}).get(c, {}), "") for c in copy_columns]
        body.append([method, str(r), *cells, *copies])
    return header, body


def rounds_title(t: RoundsTable) -> str:
    prompts = ", held-out prompts" if t.protocol == "held-out" else ""
    generator = f" · {t.generator}" if t.generator else ""
    return f"{t.dataset}{generator} · refinement rounds (simulated rater{prompts})"


def rounds_plot(t: RoundsTable) -> str | None:
    """Top-rated share, prompt adherence and FD against the round, one line per method (mean
    over seeds with its 95% interval; adherence with the real test images' own, dashed), as a
    PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synthbench.leaderboard.html import _png

    if not t.methods:
        return None
    panels = [
        ("top_rated", "top-rated share"),
        ("top_fidelity", "fidelity rated 3"),
        ("prompt_adherence", "prompt adherence"),
        ("fd", "FD"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (column, label) in zip(axes, panels):
        for method in t.methods:
            rounds = [0, *sorted(r for m, r in t.values if m == method)]
            stats = [t.stat(base_of(method) if r == 0 else method, r, column) for r in rounds]
            pts = [(r, s) for r, s in zip(rounds, stats) if s is not None]
            if not pts:
                continue
            xs = [r for r, _ in pts]
            ax.plot(xs, [s.mean for _, s in pts], marker="o", label=method)
            if all(s.n > 1 for _, s in pts):
                ax.fill_between(xs, [s.low for _, s in pts], [s.high for _, s in pts], alpha=0.2)
        for base in sorted(t.reference):  # the real test images' own figure
            ref = t.reference_stat(base, column)
            if ref is not None:
                name = REFERENCE_ROW + base.removeprefix("base")
                ax.axhline(ref.mean, color="0.5", linestyle="--", linewidth=1, label=name)
                ax.legend(fontsize=8)
        ax.set_xlabel("round")
        ax.set_title(label)
        ax.set_xticks(range(0, 1 + max(r for _, r in t.values)))
    axes[0].legend(fontsize=8)
    fig.suptitle(rounds_title(t), fontsize=10)
    return _png(fig)
