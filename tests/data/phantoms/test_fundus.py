"""Fundus phantom: labeller agreement, negations, laterality, cup size and DR lesions in the image."""

from __future__ import annotations

import re

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, simulate
from synthbench.data.phantoms.fundus import GLAUCOMA_THRESHOLD


@pytest.fixture(scope="module")
def batch():
    return simulate("fundus", 300, size=32, seed=5)


def test_labeller_agrees_with_truth_and_reads_the_cup_to_disc_ratio(batch):
    sim = get_modality("fundus")
    for i, report in enumerate(batch.reports):
        labels = sim.label_report(report)
        assert sim.info.class_of(labels.findings) == batch.labels[i], report
        assert len(labels.findings) == (batch.labels[i] > 0), report
        if "cup_to_disc" in labels.measurements:
            assert abs(labels.measurements["cup_to_disc"] - batch.factors["cup_to_disc"][i]) < 0.051


@pytest.mark.parametrize(
    ("text", "findings"),
    [
        ("Fundus: Normal fundus. No diabetic retinopathy.", set()),
        ("Fundus: No haemorrhages, exudates or microaneurysms. CDR 0.3.", set()),
        ("Fundus: Healthy disc without glaucomatous cupping; C/D ratio 0.4.", set()),
        ("Fundus: Negative for retinopathy. Cup-to-disc ratio of 0.35.", set()),
        ("Fundus: Scattered microaneurysms and dot-blot hemorrhages.", {"diabetic_retinopathy"}),
        ("Fundus: Hard exudates near the fovea. No glaucoma.", {"diabetic_retinopathy"}),
        ("Fundus: Moderate NPDR, right eye.", {"diabetic_retinopathy"}),
        ("Fundus: Vertical cup-to-disc ratio 0.8, no retinopathy.", {"glaucoma"}),
        ("Fundus: Thinning of the neuroretinal rim inferiorly.", {"glaucoma"}),
        (
            "Fundus: Glaucomatous cupping, CDR 0.75. Cotton-wool spots.",
            {"glaucoma", "diabetic_retinopathy"},
        ),
    ],
)
def test_labeller_reads_negations_and_ratios(text, findings):
    assert set(get_modality("fundus").label_report(text).findings) == findings


def test_reported_ratio_separates_glaucoma(batch):
    cdr = batch.factors["cup_to_disc"]
    assert (cdr[batch.labels == 2] >= GLAUCOMA_THRESHOLD).all()
    assert (cdr[batch.labels != 2] < GLAUCOMA_THRESHOLD).all()


def test_reports_vary_and_name_the_eye(batch):
    skeletons = {re.sub(r"[\d.]+", "#", r) for r in batch.reports}
    assert len(skeletons) > 250
    for eye, report in zip(batch.factors["eye"], batch.reports, strict=True):
        words = ("right eye", "OD") if eye == 0 else ("left eye", "OS")
        assert any(w in report or w.capitalize() in report for w in words), report


def test_disc_is_on_the_nasal_side(batch):
    # the disc is the palest structure (most blue light): image right in a right eye
    blue = batch.images[:, 2].astype(np.float32).mean(1)  # (n, W)
    right_half = blue[:, 16:].max(1) > blue[:, :16].max(1)
    assert (right_half == (batch.factors["eye"] == 0)).mean() > 0.97


def _render(labels: np.ndarray, change: dict | None = None, size: int = 48):
    sim = get_modality("fundus")
    findings = np.zeros((len(labels), 2), bool)
    factors = sim.sample_factors(np.random.default_rng(0), labels, findings, 0.3)
    factors = {**factors, **(change or {})}
    return factors, sim.render(factors, size, np.random.default_rng(1))


def test_glaucoma_shows_a_larger_pale_cup():
    labels = np.full(40, 2, dtype=np.int64)
    _, glaucoma = _render(labels)
    _, healthy = _render(labels, {"cup_to_disc": np.full(40, 0.3)})
    pale = (glaucoma.min(1) > 0.6).sum((1, 2))  # pale pixels: bright in every channel
    pale_healthy = (healthy.min(1) > 0.6).sum((1, 2))
    assert (pale >= pale_healthy).all() and pale.mean() > 1.5 * pale_healthy.mean()


def test_dr_lesions_mark_the_posterior_pole_and_grow_with_their_count():
    labels = np.ones(60, dtype=np.int64)
    counts = ("microaneurysm_count", "haemorrhage_count", "exudate_count", "cotton_wool_count")
    factors, with_lesions = _render(labels)
    _, without = _render(labels, {k: np.zeros(60, np.int64) for k in counts})
    diff = np.abs(with_lesions - without).max(1)
    changed = (diff > 0.04).sum((1, 2))
    total = sum(factors[k] for k in counts)
    assert (changed[total > 0] > 0).mean() > 0.9
    many = total > np.median(total)
    assert changed[many].mean() > 1.5 * changed[~many].mean()
    # haemorrhages absorb green light: their pixels darken in the green channel
    green = (with_lesions - without)[:, 1]
    assert (green.reshape(60, -1).min(1) < -0.05)[factors["haemorrhage_count"] > 0].mean() > 0.8


def test_same_seed_same_images_and_reports():
    a, b = simulate("fundus", 24, size=32, seed=11), simulate("fundus", 24, size=32, seed=11)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    assert not np.array_equal(a.images, simulate("fundus", 24, size=32, seed=12).images)
