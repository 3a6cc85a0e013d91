"""Leaderboard statistics against scipy and hand-worked values; tables from hand-made rows."""

import math

import pytest
from scipy import stats

from synthbench.leaderboard import render
from synthbench.leaderboard.stats import build, mean_ci, paired_gain
from synthbench.results import ResultRow


def test_mean_ci_matches_scipy():
    values = [0.61, 0.70, 0.64, 0.66]
    s = mean_ci(values)
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 4, scale=stats.sem(values)
    )
    assert s.mean == pytest.approx(0.6525) and s.n == 4
    assert (s.low, s.high) == pytest.approx((low, high))
    # hand-worked: three values 1, 2, 3 -> mean 2, sd 1, t(0.975, 2) = 4.3027
    s = mean_ci([1.0, 2.0, 3.0])
    assert (s.low, s.high) == pytest.approx(
        (2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3))
    )
    one = mean_ci([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and math.isnan(one.high)


def test_paired_gain_matches_scipy_and_pairs_by_seed():
    gen = {0: 0.70, 1: 0.75, 2: 0.66, 3: 0.90}
    ctrl = {0: 0.60, 1: 0.70, 2: 0.65}  # seed 3 has no control: left out
    g = paired_gain(gen, ctrl)
    assert g.n == 3
    assert g.diff == pytest.approx((0.10 + 0.05 + 0.01) / 3)
    assert g.relative == pytest.approx(g.diff / ((0.60 + 0.70 + 0.65) / 3))
    assert g.p == pytest.approx(stats.ttest_rel([0.70, 0.75, 0.66], [0.60, 0.70, 0.65]).pvalue)
    assert math.isnan(paired_gain({0: 1.0}, {0: 0.5}).p)


def _row(
    gen,
    ratio,
    seed,
    value,
    *,
    protocol="pretrain-pool",
    fraction=0.25,
    metric="accuracy",
    task="classification",
):
    return ResultRow(
        dataset="d",
        task=task,
        generator=gen,
        synth_ratio=ratio,
        seed=seed,
        metric=metric,
        value=value,
        higher_is_better=True,
        protocol=protocol,
        real_fraction=fraction,
        n_real=10,
        n_synth=int(10 * ratio),
    )


def test_blocks_ranks_gains_and_real_pool_ceiling():
    rows = []
    for seed, (ctrl, a, b, pool) in enumerate(
        [(0.5, 0.6, 0.4, 0.8), (0.55, 0.62, 0.45, 0.82), (0.52, 0.66, 0.41, 0.79)]
    ):
        rows += [
            _row("real-only", 0, seed, ctrl),
            _row("gen-a", 5, seed, a),
            _row("gen-b", 5, seed, b),
            _row("real-pool", 0, seed, pool, fraction=1.0),
        ]
    rows.append(
        ResultRow(dataset="d", generator="gen-a", metric="fd", value=1.5, higher_is_better=False)
    )
    rows.append(
        ResultRow(
            dataset="d", generator="real-vs-real", metric="fd", value=0.2, higher_is_better=False
        )
    )
    blocks, quality = build(rows)
    assert len(blocks) == 1
    block = blocks[0]
    by = {e.generator: e for e in block.entries}
    assert set(by) == {"real-only", "real-pool", "gen-a", "gen-b"}
    assert [by[g].rank for g in ("real-pool", "gen-a", "real-only", "gen-b")] == [1, 2, 3, 4]
    assert by["gen-a"].gains["accuracy"].diff == pytest.approx((0.1 + 0.07 + 0.14) / 3)
    assert by["gen-a"].quality["fd"] == 1.5
    assert quality[0].values["real-vs-real"]["fd"] == 0.2
    md = render(rows, "md")
    assert "\n| 1 | real-pool | 0x | 10+0 | 0.803 [" in md
    # gain 0.1033 over a control mean of 0.5233: +19.7%
    assert "| +0.103 (+19.7%) |" in md
    csv = render(rows, "csv")
    assert csv.splitlines()[0].startswith("dataset,task,protocol")


def test_protocols_never_share_a_table():
    rows = [
        _row("real-only", 0, s, 0.5, protocol=p)
        for s in range(2)
        for p in ("same-data", "pretrain-pool")
    ]
    rows += [_row("g", 1, s, 0.6, protocol="same-data") for s in range(2)]
    blocks, _ = build(rows)
    assert sorted(b.protocol for b in blocks) == ["pretrain-pool", "same-data"]
    for b in blocks:
        assert all(e.generator != "g" for e in b.entries) or b.protocol == "same-data"


def test_one_quality_table_per_extractor_and_the_first_beside_the_task():
    """A data set scored in two extractors' features gets two quality tables, neither
    overwriting the other; the downstream table shows the first block's FD."""
    rows = [_row("real-only", 0, s, 0.5) for s in range(2)]
    rows += [_row("gen-a", 5, s, 0.6) for s in range(2)]
    for extractor, fd in (("domain-1", 1.5), ("autoencoder-2", 300.0)):
        for gen, value in (("gen-a", fd), ("real-vs-real", fd / 10)):
            rows.append(
                ResultRow(
                    dataset="d",
                    generator=gen,
                    metric="fd",
                    value=value,
                    higher_is_better=False,
                    feature_extractor=extractor,
                )
            )
    blocks, quality = build(rows)
    assert [(q.feature_extractor, q.values["gen-a"]["fd"]) for q in quality] == [
        ("domain-1", 1.5),
        ("autoencoder-2", 300.0),
    ]
    (entry,) = [e for e in blocks[0].entries if e.generator == "gen-a"]
    assert entry.quality["fd"] == 1.5
    text = render(rows, "md")
    assert "features: domain-1" in text and "features: autoencoder-2" in text
