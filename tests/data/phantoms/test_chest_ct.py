"""Chest CT phantom: labeller agreement, findings visible in the image, EGFR biomarker, survival."""

from __future__ import annotations

import re

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, simulate
from synthbench.data.phantoms.chest_ct import _MM_PER_UNIT, LOBES, _nodule_geometry, _vessel_dots


@pytest.fixture(scope="module")
def batch():
    return simulate("chest_ct", 400, size=32, seed=3)


def test_labeller_agrees_with_truth_and_reads_size(batch):
    sim = get_modality("chest_ct")
    for i, report in enumerate(batch.reports):
        labels = sim.label_report(report)
        assert ("nodule" in labels.findings) == bool(batch.factors["nodule"][i]), report
        if batch.factors["nodule"][i]:
            assert labels.measurements["size_mm"] == batch.factors["nodule_size_mm"][i], report
            assert LOBES[batch.factors["lobe"][i]] in report.lower() or "(" in report


@pytest.mark.parametrize(
    ("text", "nodule", "size_mm"),
    [
        ("Chest CT: No pulmonary nodule.", False, None),
        ("Chest CT: The lungs are clear without nodules or masses.", False, None),
        ("Chest CT: Nodules: none. Heart size is normal.", False, None),
        ("Chest CT: A previously seen nodule has resolved.", False, None),
        ("Chest CT: Negative for pulmonary nodules; no effusion.", False, None),
        ("Chest CT: Solid nodule in the right upper lobe measuring 12 mm.", True, 12.0),
        ("Chest CT: No effusion. A 1.7 cm part-solid nodule (LLL).", True, 17.0),
        ("Chest CT: Pure ground-glass opacity in the left upper lobe, 9 mm.", True, 9.0),
        ("Chest CT: No pleural retraction. Spiculated nodule, 22 mm.", True, 22.0),
    ],
)
def test_labeller_negation_and_measurements(text, nodule, size_mm):
    labels = get_modality("chest_ct").label_report(text)
    assert ("nodule" in labels.findings) == nodule
    assert labels.measurements.get("size_mm") == size_mm


def _counterfactual(n: int, size: int, seed: int = 0):
    """Nodule patients rendered with and without their nodule (same anatomy and noise)."""
    sim = get_modality("chest_ct")
    rng = np.random.default_rng(seed)
    labels = np.ones(n, dtype=np.int64)
    factors = sim.sample_factors(rng, labels, labels[:, None] == 1, 0.5)
    with_nodule = sim.render(factors, size, np.random.default_rng(1))[:, 0]
    without = sim.render({**factors, "nodule": np.zeros(n, bool)}, size, np.random.default_rng(1))
    return factors, with_nodule - without[:, 0]


def test_nodule_is_bright_at_its_position_and_larger_when_larger():
    size = 64
    factors, diff = _counterfactual(120, size)
    cx, cy, _, _ = _nodule_geometry(factors, np.arange(120))
    col = np.clip(((cx + 1) * size / 2).astype(int), 0, size - 1)
    row = np.clip(((cy + 1) * size / 2).astype(int), 0, size - 1)
    at_centre = diff[np.arange(120), row, col]
    assert np.median(at_centre) > 0.1
    # the change lies close to the nodule: far pixels are untouched
    yy, xx = np.mgrid[:size, :size]
    far = np.hypot(yy[None] - row[:, None, None], xx[None] - col[:, None, None]) > 0.4 * size
    assert np.abs(diff[far]).max() < 1e-6
    area = (diff > 0.08).sum(axis=(1, 2))
    mm = factors["nodule_size_mm"]
    assert area[mm >= 20].mean() > 1.5 * area[mm <= 12].mean()


def test_end_on_vessels_are_small_and_taper_toward_the_periphery():
    from scipy import ndimage

    n = 600
    u = np.linspace(-1.2, 1.2, n, dtype=np.float32)[None, None, :]
    v = np.linspace(-1.1, 1.3, n, dtype=np.float32)[None, :, None]
    dots = _vessel_dots(u, v, np.array([0, 1]), 1.4 / 256)
    pixel_area = (2.4 / n) ** 2
    # a median (15 mm) nodule in body units (the body half-width is about 0.85 image units)
    nodule_area = np.pi * (15.0 / (2.0 * _MM_PER_UNIT) / 0.85) ** 2
    for layer in dots:
        labels, count = ndimage.label(layer > 0.05)
        index = np.arange(1, count + 1)
        area = ndimage.sum(np.ones_like(layer), labels, index) * pixel_area
        centre = np.array(ndimage.center_of_mass(layer, labels, index))
        cu = centre[:, 1] * 2.4 / n - 1.2
        cv = centre[:, 0] * 2.4 / n - 1.1
        hilar = np.hypot(np.abs(cu) - 0.06, cv + 0.05)
        assert count > 100
        assert area[hilar < 0.4].mean() > 3 * area[hilar > 0.75].mean()
        assert area[hilar < 0.4].mean() < 0.5 * nodule_area


def test_egfr_biomarker_and_survival():
    b = simulate("chest_ct", 2000, size=16, seed=5)
    has = b.labels == 1
    assert np.isnan(b.biomarker[~has]).all()
    assert set(np.unique(b.biomarker[has])) == {0.0, 1.0}
    mutant = has & (b.biomarker == 1.0)
    wild = has & (b.biomarker == 0.0)
    assert 0.4 < mutant.sum() / has.sum() < 0.6
    # mutant nodules: more ground glass, smaller, more air bronchograms and pleural retraction
    f = b.factors
    assert f["ground_glass_share"][mutant].mean() > f["ground_glass_share"][wild].mean() + 0.15
    assert np.median(f["nodule_size_mm"][mutant]) < np.median(f["nodule_size_mm"][wild])
    assert f["air_bronchogram"][mutant].mean() > f["air_bronchogram"][wild].mean()
    assert f["pleural_retraction"][mutant].mean() > f["pleural_retraction"][wild].mean()
    # survival: drawn for nodule patients only, mutants progress later (true HR 0.5)
    assert np.isnan(b.survival_time[~has]).all() and (b.survival_event[~has] == -1).all()
    assert np.isfinite(b.survival_time[has]).all()
    rate_mutant = b.survival_event[mutant].sum() / b.survival_time[mutant].sum()
    rate_wild = b.survival_event[wild].sum() / b.survival_time[wild].sum()
    assert 0.35 < rate_mutant / rate_wild < 0.7
    # the status itself never appears in a report
    assert not any(re.search(r"egfr|mutant|mutation|wild", r, re.I) for r in b.reports)


def test_deterministic_per_seed():
    a = simulate("chest_ct", 40, size=32, seed=11)
    b = simulate("chest_ct", 40, size=32, seed=11)
    c = simulate("chest_ct", 40, size=32, seed=12)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    assert not np.array_equal(a.images, c.images)


def test_images_vary_and_reports_are_varied(batch):
    assert batch.images.shape == (400, 1, 32, 32)
    flat = batch.images.reshape(400, -1).astype(np.float32)
    assert np.abs(flat[::2] - flat[1::2]).mean() > 5  # patients are not copies
    normal = [r for r, y in zip(batch.reports, batch.labels, strict=True) if y == 0]
    nodule = [r for r, y in zip(batch.reports, batch.labels, strict=True) if y == 1]
    assert len(set(normal)) > 50
    # distinct phrasings once numbers and lobes are blanked out
    skeleton = {re.sub(r"\d+(\.\d+)?|right|left|upper|middle|lower", "#", r) for r in nodule}
    assert len(skeleton) > 100
    assert all(r.startswith("Chest CT: ") for r in batch.reports)
