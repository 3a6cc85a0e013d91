"""Per-round refinement tables from hand-made rows: changes from round 0 are paired by seed with
their 95% interval, FD's relative per seed, and each protocol gets a table of its own."""

import math

import pytest

from synthbench.leaderboard import render
from synthbench.leaderboard.rounds import rounds_table, rounds_tables, rounds_title, seeds_table
from synthbench.results import ResultRow


def _row(method, round_index, metric, value, seed, protocol=""):
    return ResultRow(
        task="refine",
        dataset="phantom:oct",
        metric=metric,
        qualifiers={"method": method, "round": str(round_index)},
        value=value,
        seed=seed,
        protocol=protocol,
    )


def _rows(protocol=""):
    # round 0 and best-of-n round 1 over three seeds; top-rated rises 0.10, 0.20, 0.30
    # and FD moves -10%, -20%, +0% against each seed's own round 0
    base_top, base_fd = [0.2, 0.3, 0.1], [2.0, 1.0, 4.0]
    rows = []
    for seed in range(3):
        rows += [
            _row("base", 0, "top_rated", base_top[seed], seed, protocol),
            _row("base", 0, "fd", base_fd[seed], seed, protocol),
            _row("best-of-n", 1, "top_rated", base_top[seed] + 0.1 * (seed + 1), seed, protocol),
            _row("best-of-n", 1, "fd", base_fd[seed] * (0.9, 0.8, 1.0)[seed], seed, protocol),
        ]
    return rows


def test_changes_are_paired_by_seed_with_their_interval():
    (table,) = rounds_tables(_rows())
    top = table.change("best-of-n", 1, "top_rated")
    assert top.mean == pytest.approx(0.2) and top.n == 3
    half = 4.302653 * 0.1 / math.sqrt(3)  # sd of 0.1, 0.2, 0.3 is 0.1
    assert (top.low, top.high) == pytest.approx((0.2 - half, 0.2 + half))
    fd = table.change("best-of-n", 1, "fd")
    # the mean of each seed's relative change, not the change of the mean FD (-5.7% here)
    assert fd.mean == pytest.approx(-0.1)
    header, body = rounds_table(table)
    row = dict(zip(header, body[1]))
    assert row["Δ top-rated"] == f"+20.0 pts [{(0.2 - half) * 100:+.1f}, {(0.2 + half) * 100:+.1f}]"
    assert row["Δ FD"].startswith("-10.0% [")
    assert dict(zip(header, body[0]))["Δ FD"] == ""  # round 0 has no change


def test_the_real_test_images_figures_close_the_table():
    rows = _rows()
    for seed, (adherence, copies) in enumerate([(0.8, 0.01), (0.7, 0.0), (0.9, 0.02)]):
        for metric, value in (("prompt_adherence", adherence), ("near_copy_share", copies)):
            row = _row("base", 0, metric, value, seed)
            row.qualifiers["set"] = "real-test"
            rows.append(row)
    cas = _row("base", 0, "cas", 0.75, 0)
    cas.qualifiers["train"] = "real"
    # neither a later round's copy of the reference nor the pixel-space share is read
    later = _row("best-of-n", 1, "near_copy_share", 0.5, 0)
    later.qualifiers["set"] = "real-test"
    pixels = _row("base", 0, "near_copy_share", 0.5, 1)
    pixels.qualifiers.update({"set": "real-test", "space": "pixels"})
    rows += [cas, later, pixels]
    (table,) = rounds_tables(rows)
    header, body = rounds_table(table)
    last = dict(zip(header, body[-1]))
    assert last["CAS ↑"] == "0.750"
    assert last["method"] == "real test images" and last["seeds"] == "3"
    assert last["adherence ↑"].startswith("80.0% [") and last["near copies ↓"].startswith("1.0% [")
    assert last["top-rated ↑"] == "" and last["Δ top-rated"] == ""
    # rows of the real images alone make no table
    assert rounds_tables([r for r in rows if r.qualifiers.get("set")]) == []


def test_each_seeds_own_changes_are_listed_in_seed_order():
    rows = _rows()
    for seed, copies in ((2, 0.015), (0, 0.0)):  # seed 1 has no near-copy row
        rows.append(_row("best-of-n", 1, "near_copy_share", copies, seed))
    (table,) = rounds_tables(rows)
    header, body = seeds_table(table)
    assert header[2] == "Δ top-rated (pts), seeds 0 / 1 / 2"
    row = dict(zip(header, body[1]))
    assert row["method"] == "best-of-n"
    assert row["Δ top-rated (pts), seeds 0 / 1 / 2"] == "+10.0 / +20.0 / +30.0"
    assert row["Δ FD (%), seeds 0 / 1 / 2"] == "-10.0 / -20.0 / +0.0"
    assert row["near copies (%), seeds 0 / 1 / 2"] == "0.0 / – / 1.5"
    assert dict(zip(header, body[0]))["Δ FD (%), seeds 0 / 1 / 2"] == ""  # round 0
    md = render(rows, "md")
    assert "| best-of-n | 1 | +10.0 / +20.0 / +30.0 |" in md
    # one seed: its figures are the table's own, so no per-seed table
    (single,) = rounds_tables([r for r in rows if r.seed == 0])
    assert seeds_table(single) is None
    assert "seeds 0 / " not in render([r for r in rows if r.seed == 0], "md")


def test_held_out_rows_get_a_table_of_their_own():
    tables = rounds_tables(_rows() + _rows("held-out"))
    assert [t.protocol for t in tables] == ["", "held-out"]
    assert rounds_title(tables[0]).endswith("(simulated rater)")
    assert rounds_title(tables[1]).endswith("(simulated rater, held-out prompts)")
    md = render(_rows("held-out"), "md")
    assert "refinement rounds (simulated rater, held-out prompts)" in md


def test_labelled_blocks_and_generators_are_told_apart():
    """A labelled block's rows are compared with their own round 0, and two generators on one
    data set get a table each instead of overwriting each other's seeds."""
    rows = []
    for variant, shift in (("plain", 0.0), ("taught", 0.5)):
        for r in _rows():
            r.qualifiers["variant"] = variant
            # each block's round 0 moves with it: the changes stay paired
            value = r.value + shift if r.metric == "top_rated" else r.value
            rows.append(r.model_copy(update={"generator": "minim", "value": value}))
    other = [r.model_copy(update={"generator": "minim-2", "value": 2 * r.value}) for r in _rows()]
    (a, b) = rounds_tables(rows + other)
    assert (a.generator, b.generator) == ("minim", "minim-2")
    assert rounds_title(a) == "phantom:oct · minim · refinement rounds (simulated rater)"
    _, body = rounds_table(a)
    assert [(row[0], row[1]) for row in body] == [
        ("base · plain", "0"),
        ("base · taught", "0"),
        ("best-of-n · plain", "1"),
        ("best-of-n · taught", "1"),
    ]
    for method in ("best-of-n · plain", "best-of-n · taught"):
        assert a.change(method, 1, "top_rated").mean == pytest.approx(0.2)
        assert a.change(method, 1, "fd").mean == pytest.approx(-0.1)
    assert a.stat("base · taught", 0, "top_rated").mean == pytest.approx(0.7)
    assert b.stat("best-of-n", 1, "top_rated").mean == pytest.approx(2 * 0.4)
    assert "minim-2 · refinement rounds" in render(rows + other, "md")


def test_each_block_keeps_its_real_test_images_row():
    rows = []
    for variant, adherence in (("a", 0.8), ("b", 0.6)):
        for r in _rows():
            r.qualifiers["variant"] = variant
            rows.append(r)
        for seed in range(3):
            ref = _row("base", 0, "prompt_adherence", adherence, seed)
            ref.qualifiers.update({"set": "real-test", "variant": variant})
            rows.append(ref)
    (table,) = rounds_tables(rows)
    header, body = rounds_table(table)
    refs = {row[0]: dict(zip(header, row)) for row in body if row[0].startswith("real test")}
    assert refs["real test images · a"]["adherence ↑"].startswith("80.0% [")
    assert refs["real test images · b"]["adherence ↑"].startswith("60.0% [")


def test_the_plot_has_a_line_per_block_and_its_panels_keep_their_titles(monkeypatch):
    import matplotlib.axes

    from synthbench.leaderboard.rounds import rounds_plot

    titles, lines = [], []
    set_title, plot = matplotlib.axes.Axes.set_title, matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_title",
        lambda ax, t, *a, **k: titles.append(t) or set_title(ax, t, *a, **k),
    )
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "plot",
        lambda ax, *a, **k: lines.append(k.get("label")) or plot(ax, *a, **k),
    )
    rows = []
    for variant in ("plain", "taught"):
        for r in _rows():
            r.qualifiers["variant"] = variant
            rows.append(r)
        ref = _row("base", 0, "prompt_adherence", 0.8, 0)
        ref.qualifiers.update({"set": "real-test", "variant": variant})
        rows.append(ref)
    (table,) = rounds_tables(rows)
    assert rounds_plot(table).startswith("data:image/png;base64,")
    assert titles == ["top-rated share", "fidelity rated 3", "prompt adherence", "FD"]
    # top-rated and FD have rows: a line per block in each, from its own round 0
    assert lines == ["best-of-n · plain", "best-of-n · taught"] * 2


def test_the_copy_detectors_near_copies_get_their_own_column_and_floor():
    """``near_copy_share`` with ``space=copy`` (the copy-detection metric) is shown beside the
    extractor-space share, never mixed with it, with the real test images' own share as its floor
    and each seed's share in the per-seed table."""
    rows = _rows()
    for seed in range(3):
        for method, r, features, copy in (("base", 0, 0.01, 0.0), ("best-of-n", 1, 0.02, 0.005)):
            rows.append(_row(method, r, "near_copy_share", features, seed))
            row = _row(method, r, "near_copy_share", copy * seed, seed)
            row.qualifiers["space"] = "copy"
            rows.append(row)
        floor = _row("base", 0, "near_copy_share", 0.002, seed)
        floor.qualifiers.update({"set": "real-test", "space": "copy"})
        rows.append(floor)
    (table,) = rounds_tables(rows)
    header, body = rounds_table(table)
    first, later, real = (dict(zip(header, b)) for b in body)
    assert first["near copies ↓"].startswith("1.0% [")
    assert first["near copies, copy detector ↓"] == "0.0% [0.0, 0.0]"
    assert later["near copies ↓"].startswith("2.0% [")
    assert later["near copies, copy detector ↓"].startswith("0.5% [")
    assert real["near copies, copy detector ↓"] == "0.2% [0.2, 0.2]"
    assert real["near copies ↓"] == ""
    header, body = seeds_table(table)
    row = dict(zip(header, body[1]))
    assert row["near copies (%), seeds 0 / 1 / 2"] == "2.0 / 2.0 / 2.0"
    assert row["near copies, copy detector (%), seeds 0 / 1 / 2"] == "0.0 / 0.5 / 1.0"
    # rows without the copy detector's shares keep the table they had
    (plain,) = rounds_tables([r for r in rows if r.qualifiers.get("space") != "copy"])
    assert not any("copy detector" in h for h in rounds_table(plain)[0] + seeds_table(plain)[0])
