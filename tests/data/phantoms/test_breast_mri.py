"""Breast MRI phantom: labeller, image truth, HER2 signal strength, survival, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, label_report, simulate

NAME = "breast_mri"


@pytest.fixture(scope="module")
def batch():
    return simulate(NAME, 300, size=32, seed=3)


def _label(text: str) -> frozenset[str]:
    return label_report(text, NAME).findings


def test_labeller_recovers_every_class(batch):
    info = get_modality(NAME).info
    read = [info.class_of(label_report(r, NAME).findings) for r in batch.reports]
    assert np.array_equal(np.array(read), batch.labels)


def test_labeller_reads_sizes(batch):
    tumour = np.flatnonzero(batch.factors["tumour"] == 1)
    for i in tumour[:60]:
        size = label_report(batch.reports[i], NAME).measurements["size_mm"]
        assert abs(size - batch.factors["size_mm"][i]) <= 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Breast MRI: No suspicious enhancement. Minimal BPE.", set()),
        (
            "Breast MRI: Core biopsy: invasive carcinoma, HER2 not amplified. Mass at 2 o'clock.",
            {"her2_negative"},
        ),
        ("Breast MRI: Pathology: carcinoma negative for HER2 amplification.", {"her2_negative"}),
        (
            "Breast MRI: Staging of triple-negative cancer. Irregular mass, 21 mm.",
            {"her2_negative"},
        ),
        (
            "Breast MRI: HER2 3+ invasive ductal carcinoma. Spiculated mass 30 mm.",
            {"her2_positive"},
        ),
        ("Breast MRI: Biopsy-proven HER2-positive carcinoma.", {"her2_positive"}),
        ("Breast MRI: ER-negative, HER2 amplified tumour.", {"her2_positive"}),
        ("Breast MRI: No evidence of HER2 overexpression.", {"her2_negative"}),
    ],
)
def test_labeller_phrasings_and_negations(text, expected):
    assert _label(text) == expected


def test_reports_vary_and_state_receptor_status(batch):
    assert len(set(batch.reports)) > 0.95 * len(batch.reports)
    tumour = batch.labels > 0
    assert all("HER2" in r or "triple-negative" in r for r, t in zip(batch.reports, tumour) if t)
    normal_bodies = {r.split(":", 1)[1] for r, t in zip(batch.reports, tumour) if not t}
    assert len(normal_bodies) > 40
    assert all(r.startswith("Breast MRI: ") for r in batch.reports)


def test_tumour_is_brighter_than_the_same_place_without_it():
    sim = get_modality(NAME)
    b = simulate(NAME, 80, size=32, seed=1, labels=np.full(80, 2), difficulty=0.3)
    factors = dict(b.factors)
    mass = factors["non_mass"] == 0
    with_tumour = sim.render(factors, 32, np.random.default_rng(0))[:, 0]
    factors["tumour"] = np.zeros_like(factors["tumour"])
    without = sim.render(factors, 32, np.random.default_rng(0))[:, 0]
    excess = with_tumour - without
    assert (excess >= -1e-6).mean() > 0.97  # the tumour only adds signal (oedema halo aside)
    area = (excess > 0.08).sum(axis=(1, 2))
    assert (area[mass] > 0).mean() > 0.9
    size = factors["size_mm"][mass]
    assert np.corrcoef(size, area[mass])[0, 1] > 0.5  # larger tumours cover more pixels


def test_her2_status_is_modest_in_the_factors():
    b = simulate(NAME, 3000, size=16, seed=2)
    f = b.factors
    pos, neg = b.labels == 1, b.labels == 2
    assert f["size_mm"][pos].mean() > f["size_mm"][neg].mean()
    assert f["non_mass"][pos].mean() > f["non_mass"][neg].mean()
    assert f["oedema"][pos].mean() > f["oedema"][neg].mean()
    # a size threshold alone separates the two groups better than chance but far from perfectly
    sizes_pos, sizes_neg = f["size_mm"][pos], f["size_mm"][neg]
    auc = (sizes_pos[:, None] > sizes_neg[None, :]).mean()
    assert 0.55 < auc < 0.85


def test_biomarker_and_survival():
    b = simulate(NAME, 900, size=16, seed=4)
    assert np.array_equal(np.isnan(b.biomarker), b.labels == 0)
    assert np.array_equal(b.biomarker[b.labels == 1], np.ones((b.labels == 1).sum()))
    assert np.all(np.isnan(b.survival_time[b.labels == 0]))
    assert np.all(b.survival_event[b.labels == 0] == -1)
    pos = np.nanmedian(b.survival_time[b.labels == 1])
    neg = np.nanmedian(b.survival_time[b.labels == 2])
    assert pos > neg  # HER2-positive patients on targeted therapy progress later


def test_deterministic_and_size_independent_anatomy():
    a = simulate(NAME, 24, size=32, seed=9)
    b = simulate(NAME, 24, size=32, seed=9)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    for size in (16, 64):
        big = simulate(NAME, 24, size=size, seed=9)
        assert big.images.shape == (24, 1, size, size)
        assert big.reports == a.reports
