"""The README's leaderboard is the committed quick results rendered, not text typed by hand."""

from pathlib import Path

from synthbench.leaderboard import between_markers, render
from synthbench.results import read_results

ROOT = Path(__file__).resolve().parents[1]


def test_readme_leaderboard_is_rendered_from_results_quick():
    results = ROOT / "results" / "quick"
    assert (results / "manifest.json").is_file(), "results/quick comes from a real 'make run'"
    expected = render(read_results(results), "md").strip("\n")
    shown = between_markers((ROOT / "README.md").read_text(), where="README.md")
    assert shown == expected, (
        "README.md's leaderboard differs from results/quick; run "
        "'synthbench leaderboard results/quick --format md --into README.md'"
    )


def test_quick_results_have_seeds_cis_and_controls():
    rows = read_results(ROOT / "results" / "quick")
    tasks = [r for r in rows if r.task]
    cells: dict[tuple, set] = {}
    for r in tasks:
        key = (
            r.dataset,
            r.task,
            r.protocol,
            r.generator,
            r.synth_ratio,
            r.real_fraction,
            r.metric,
            tuple(sorted(r.qualifiers.items())),
        )
        cells.setdefault(key, set()).add(r.seed)
    assert all(len(seeds) >= 3 for seeds in cells.values())
    blocks = {(r.dataset, r.task) for r in tasks if r.protocol == "pretrain-pool"}
    for dataset, task in blocks:
        gens = {
            r.generator
            for r in tasks
            if (r.dataset, r.task, r.protocol) == (dataset, task, "pretrain-pool")
        }
        assert {"real-only", "real-pool"} <= gens, (dataset, task)
    quality = {r.dataset for r in rows if not r.task}
    for dataset in quality:
        assert any(
            r.generator == "real-vs-real" for r in rows if not r.task and r.dataset == dataset
        )


def test_readme_is_a_manual_not_a_notebook():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
