"""Leaderboards rendered from result rows only: terminal, Markdown, CSV and a static HTML report.

>>> from synthbench.leaderboard import render  # doctest: +SKIP
>>> print(render(read_results("results/quick"), "md"))  # doctest: +SKIP

Per data set, task, protocol and real fraction: each generator's mean and 95% CI over seeds, its
gain over real only (absolute, relative, paired t-test across seeds), its rank, and its image
quality beside; per data set a quality table with the real-vs-real floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from synthbench.errors import SynthbenchError
from synthbench.leaderboard.stats import Block, QualityTable, as_records, build
from synthbench.results import ResultRow

FORMATS = ("term", "md", "csv", "html")
ARROW = {True: "↑", False: "↓", None: ""}


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x != 0 and (abs(x) < 10**-digits or abs(x) >= 1e4):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def _p(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def block_title(b: Block) -> str:
    fraction = (
        "all real training images" if b.real_fraction == 1 else f"real fraction {b.real_fraction:g}"
    )
    return f"{b.dataset} · {b.task} · {b.protocol or 'controls'} · {fraction}"


def block_table(b: Block) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one block (shared by the text formats)."""
    header = ["rank", "generator", "synth", "n real+synth"]
    for _mid, label, higher in b.metrics:
        header += [f"{label} {ARROW[higher]}".strip(), "gain", "p"]
    quality = [q for q in ("fd", "precision", "recall") if any(q in e.quality for e in b.entries)]
    header += [f"{q} (quality)" for q in quality]
    body = []
    for e in b.entries:
        cells = [
            str(e.rank or ""),
            e.generator,
            f"{e.synth_ratio:g}x",
            f"{e.n_real}+{e.n_synth}" if e.n_real is not None else "",
        ]
        for mid, _label, _higher in b.metrics:
            s, g = e.stats.get(mid), e.gains.get(mid)
            if s is None:
                cells += ["", "", ""]
                continue
            ci = f" [{_num(s.low)}, {_num(s.high)}]" if s.n > 1 else ""
            cells.append(f"{_num(s.mean)}{ci} (n={s.n})")
            if g is None:
                cells += ["", ""]
            else:
                rel = f" ({g.relative:+.1%})" if not math.isnan(g.relative) else ""
                cells += [f"{g.diff:+.3f}{rel}", _p(g.p)]
        cells += [_num(e.quality.get(q)) for q in quality]
        body.append(cells)
    return header, body


def quality_table(q: QualityTable) -> tuple[list[str], list[list[str]]]:
    header = ["generator", "n"] + [f"{m} {ARROW[h]}".strip() for m, h in q.metrics]
    order = sorted(q.values, key=lambda g: (g != "real-vs-real", g))
    body = [
        [g, str(q.n.get(g, ""))] + [_num(q.values[g].get(m)) for m, _ in q.metrics] for g in order
    ]
    return header, body


def _md(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def _text(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, body)])


def render(rows: Sequence[ResultRow], fmt: str = "term", *, folder: Path | None = None) -> str:
    """The leaderboard of ``rows`` in one format (``html`` embeds the artifacts under ``folder``)."""
    if fmt not in FORMATS:
        raise SynthbenchError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    from synthbench.leaderboard.rounds import rounds_table, rounds_tables, rounds_title, seeds_table

    blocks, quality = build(rows)
    if fmt == "csv":
        import pandas as pd

        return pd.DataFrame(as_records(blocks)).to_csv(index=False)
    if fmt == "html":
        from synthbench.leaderboard.html import html_report

        return html_report(rows, blocks, quality, folder)
    table = _md if fmt == "md" else _text
    parts = []
    for b in blocks:
        title = block_title(b)
        parts.append(f"### {title}" if fmt == "md" else f"{title}\n")
        parts.append(table(*block_table(b)))
        parts.append("")
    for q in quality:
        title = f"{q.dataset} · image quality (features: {q.feature_extractor or '–'}; one sampling seed)"
        parts.append(f"### {title}" if fmt == "md" else f"{title}\n")
        parts.append(table(*quality_table(q)))
        parts.append("")
    for t in rounds_tables(rows):
        parts.append(f"### {rounds_title(t)}" if fmt == "md" else f"{rounds_title(t)}\n")
        parts.append(table(*rounds_table(t)))
        parts.append("")
        per_seed = seeds_table(t)
        if per_seed:
            parts.append(f"{SEEDS_HEAD}\n")
            parts.append(table(*per_seed))
            parts.append("")
    if fmt == "md" and blocks:
        parts.append(FOOTNOTE)
    return "\n".join(parts).rstrip() + "\n"


#: introduces a rounds table's per-seed figures
SEEDS_HEAD = "Each seed's own figures (changes against the seed's own round 0):"

FOOTNOTE = (
    "Mean over seeds with a 95% t interval; gain = mean paired difference from real-only "
    "(relative change), p = paired t-test across seeds. real-pool: the downstream model given the "
    "generators' whole real pool (the ceiling of what pool access alone gives)."
)


MARKERS = ("<!-- leaderboard:start -->", "<!-- leaderboard:end -->")


def between_markers(text: str, *, where: str = "the file") -> str:
    """The text between the leaderboard marker comments."""
    start, end = MARKERS
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SynthbenchError(f"{where}: needs one {start} line followed by one {end} line")
    return text[text.index(start) + len(start) : text.index(end)].strip("\n")


def replace_between_markers(text: str, table: str, *, where: str = "the file") -> str:
    """``text`` with the part between the marker comments replaced by ``table``."""
    between_markers(text, where=where)  # checks the markers
    start, end = MARKERS
    head, _, rest = text.partition(start)
    tail = rest.partition(end)[2]
    return f"{head}{start}\n{table.strip()}\n{end}{tail}"


def render_all(folder: str | Path) -> None:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``report.html`` into a results folder."""
    from synthbench.results import read_results

    folder = Path(folder)
    rows = read_results(folder)
    (folder / "leaderboard.md").write_text(render(rows, "md"))
    (folder / "leaderboard.csv").write_text(render(rows, "csv"))
    (folder / "report.html").write_text(render(rows, "html", folder=folder))
