"""The HTML report: one static file that works offline (plots and images embedded as data URIs,
no scripts, no external resources).

Plots are drawn from result rows: gain over real only against the synthetic ratio per block, and
image quality (FD) against downstream gain. Images the run wrote (sample grids, Kaplan-Meier
curves, closest-pairs grids) are embedded from the results folder's ``artifacts/``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

from synthbench.leaderboard.stats import Block, QualityTable
from synthbench.results import ResultRow

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2} td.c{color:#666} h2{margin-top:2em} figure{display:inline-block;margin:.5em}
figcaption{font-size:12px;color:#555} img{max-width:100%}
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, caption: str) -> str:
    return f'<figure><img src="{src}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def gain_plot(b: Block) -> str | None:
    """Gain over real only in the block's first metric against the synthetic ratio, with the
    95% CI of the generator's mean shifted by the control's mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not b.metrics:
        return None
    mid, label, _ = b.metrics[0]
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for e in b.entries:
        g = e.gains.get(mid)
        if g is None or e.generator == "real-pool":
            continue
        s = e.stats[mid]
        half = (s.high - s.low) / 2 if s.n > 1 else 0.0
        lines.setdefault(e.generator, []).append((e.synth_ratio, g.diff, half))
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for gen, pts in sorted(lines.items()):
        pts.sort()
        ax.errorbar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            yerr=[p[2] for p in pts],
            marker="o",
            capsize=3,
            label=gen,
        )
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xlabel("synthetic images per real image")
    ax.set_ylabel(f"gain in {label}")
    ax.set_title(f"{b.task}, {b.protocol}, f={b.real_fraction:g}", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def quality_vs_gain(blocks: list[Block]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for b in blocks:
        if not b.metrics:
            continue
        mid = b.metrics[0][0]
        for e in b.entries:
            g = e.gains.get(mid)
            if g is not None and "fd" in e.quality and not math.isnan(g.diff):
                points.append(
                    (e.quality["fd"], g.diff, f"{e.generator} {e.synth_ratio:g}x", b.task)
                )
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for task in sorted({p[3] for p in points}):
        sel = [p for p in points if p[3] == task]
        ax.scatter([p[0] for p in sel], [p[1] for p in sel], label=task)
        for p in sel:
            ax.annotate(p[2], (p[0], p[1]), fontsize=6)
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xlabel("FD against real test images (lower is better)")
    ax.set_ylabel("downstream gain (first metric)")
    ax.legend(fontsize=7)
    return _png(fig)


def html_report(
    rows: Sequence[ResultRow], blocks: list[Block], quality: list[QualityTable], folder: Path | None
) -> str:
    from synthbench.leaderboard import FOOTNOTE, SEEDS_HEAD, block_table, block_title, quality_table
    from synthbench.leaderboard.rounds import (
        rounds_plot,
        rounds_table,
        rounds_tables,
        rounds_title,
        seeds_table,
    )

    suite = next((r.suite for r in rows if r.suite), "results")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>synthbench · {html.escape(suite)}</title>",
        f"<style>{STYLE}</style></head><body><h1>synthbench · {html.escape(suite)}</h1>",
        f"<p>{len(rows)} result rows. {html.escape(FOOTNOTE)}</p>",
        "<h2>Downstream tasks</h2>",
    ]
    for b in blocks:
        parts.append(f"<h3>{html.escape(block_title(b))}</h3>")
        parts.append(_table(*block_table(b)))
        plot = gain_plot(b)
        if plot:
            parts.append(_img(plot, f"gain vs synthetic ratio: {block_title(b)}"))
    parts.append("<h2>Image quality</h2>")
    for q in quality:
        parts.append(
            f"<h3>{html.escape(q.dataset)} (features: {html.escape(q.feature_extractor)})</h3>"
        )
        parts.append(_table(*quality_table(q)))
    scatter = quality_vs_gain(blocks)
    if scatter:
        parts.append(_img(scatter, "image quality against downstream gain"))
    refinement = rounds_tables(rows)
    if refinement:
        parts.append("<h2>Refinement rounds</h2>")
    for t in refinement:
        parts.append(f"<h3>{html.escape(rounds_title(t))}</h3>")
        parts.append(_table(*rounds_table(t)))
        per_seed = seeds_table(t)
        if per_seed:
            parts.append(f"<p>{html.escape(SEEDS_HEAD)}</p>")
            parts.append(_table(*per_seed))
        plot = rounds_plot(t)
        if plot:
            parts.append(_img(plot, f"per-round figures: {rounds_title(t)}"))
    if folder is not None:
        for title, sub in (
            ("Kaplan-Meier curves", "tasks"),
            ("Sample grids", "samples"),
            ("Memorisation: closest pairs", "quality"),
        ):
            images = (
                sorted((folder / "artifacts" / sub).rglob("*.png"))
                if (folder / "artifacts" / sub).is_dir()
                else []
            )
            if sub == "tasks":
                images = [p for p in images if "kaplan" in p.name]
            if not images:
                continue
            parts.append(f"<h2>{title}</h2>")
            for p in images:
                data = "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
                parts.append(_img(data, str(p.relative_to(folder / "artifacts"))))
    parts.append("</body></html>")
    return "\n".join(parts)
