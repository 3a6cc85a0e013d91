"""Brain MRI phantom: labeller, measurements, image truth, sequence, mass effect, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, label_report, simulate

NAME = "brain_mri"


@pytest.fixture(scope="module")
def batch():
    return simulate(NAME, 300, size=32, seed=3)


def test_labeller_recovers_every_class(batch):
    read = ["tumour" in label_report(r, NAME).findings for r in batch.reports]
    assert np.array_equal(np.array(read), batch.labels == 1)


def test_labeller_reads_size_and_midline_shift(batch):
    for i in np.flatnonzero(batch.labels == 1)[:60]:
        m = label_report(batch.reports[i], NAME).measurements
        assert abs(m["size_mm"] - batch.factors["size_mm"][i]) <= 0.5
        if "midline_shift_mm" in m:
            assert m["midline_shift_mm"] == batch.factors["midline_shift_mm"][i]


@pytest.mark.parametrize(
    ("text", "tumour", "measurements"),
    [
        ("Brain MRI: No intracranial mass. No midline shift.", False, {"midline_shift_mm": 0.0}),
        ("Brain MRI: Ventricles normal in size, no mass effect.", False, {}),
        ("Brain MRI: No mass lesion, haemorrhage or infarct.", False, {}),
        (
            "Brain MRI: Intra-axial mass in the left frontal lobe measuring 3.4 cm. "
            "Midline shift of 6 mm to the right.",
            True,
            {"size_mm": 34.0, "midline_shift_mm": 6.0},
        ),
        (
            "Brain MRI: 4 mm of midline shift. Right temporal glioma, 28 mm.",
            True,
            {"size_mm": 28.0, "midline_shift_mm": 4.0},
        ),
    ],
)
def test_labeller_phrasings_and_negations(text, tumour, measurements):
    labels = label_report(text, NAME)
    assert ("tumour" in labels.findings) == tumour
    assert dict(labels.measurements) == measurements


def test_reports_vary_and_name_the_sequence(batch):
    assert len(set(batch.reports)) > 0.9 * len(batch.reports)
    for report, seq in zip(batch.reports, batch.factors["sequence"]):
        assert ("FLAIR" in report) == (seq == 1)
        assert report.startswith("Brain MRI: ")
    assert len({r.split(":", 1)[1] for r, k in zip(batch.reports, batch.labels) if k == 0}) > 40


def test_tumour_changes_the_image_where_it_is():
    sim = get_modality(NAME)
    b = simulate(NAME, 60, size=32, seed=1, labels=np.ones(60, dtype=np.int64), difficulty=0.3)
    factors = dict(b.factors)
    with_tumour = sim.render(factors, 32, np.random.default_rng(0))[:, 0]
    factors["tumour"] = np.zeros_like(factors["tumour"])
    without = sim.render(factors, 32, np.random.default_rng(0))[:, 0]
    changed = (np.abs(with_tumour - without) > 0.08).sum(axis=(1, 2))
    assert (changed > 0).mean() > 0.95
    assert np.corrcoef(b.factors["size_mm"], changed)[0, 1] > 0.4


def test_csf_bright_on_t2_dark_on_flair():
    b = simulate(NAME, 200, size=32, seed=5, labels=np.zeros(200, dtype=np.int64))
    # the frontal horns of the lateral ventricles sit just above the image centre
    centre = b.images[:, 0, 11:16, 14:18].astype(float).max(axis=(1, 2))
    t2, flair = b.factors["sequence"] == 0, b.factors["sequence"] == 1
    assert centre[t2].mean() > centre[flair].mean() + 60


def test_midline_shift_moves_the_ventricles():
    sim = get_modality(NAME)
    b = simulate(NAME, 40, size=64, seed=2, labels=np.zeros(40, dtype=np.int64))
    factors = dict(b.factors)
    factors["sequence"] = np.zeros(40, dtype=np.int64)  # T2: ventricles bright
    factors["side"] = np.zeros(40, dtype=np.int64)  # a right-sided mass pushes to image right
    factors["head_angle"] = np.zeros(40)

    def ventricle_x(shift_mm: float) -> np.ndarray:
        factors["midline_shift_mm"] = np.full(40, shift_mm)
        img = sim.render(factors, 64, np.random.default_rng(0))[:, 0, 20:40, 20:44]
        weight = np.clip(img - 0.8, 0, None)
        xs = np.arange(img.shape[-1])
        return (weight.sum(axis=1) * xs).sum(axis=1) / weight.sum(axis=(1, 2))

    assert (ventricle_x(12.0) - ventricle_x(0.0)).mean() > 1.5


def test_deterministic():
    a = simulate(NAME, 24, size=32, seed=9)
    b = simulate(NAME, 24, size=32, seed=9)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    c = simulate(NAME, 24, size=32, seed=10)
    assert not np.array_equal(a.images, c.images)
