"""Chest X-ray phantom: multi-label labeller, findings visible where the factors put them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, simulate

FINDINGS = ("cardiomegaly", "effusion", "consolidation", "nodule")


@pytest.fixture(scope="module")
def batch():
    return simulate("cxr", 400, size=32, seed=4)


def test_prevalence_and_labeller_agree_with_truth(batch):
    sim = get_modality("cxr")
    assert np.all(np.abs(batch.findings.mean(0) - 0.3) < 0.08)
    assert (batch.labels == -1).all()
    for i, report in enumerate(batch.reports):
        labels = sim.label_report(report)
        truth = {name for j, name in enumerate(FINDINGS) if batch.findings[i, j]}
        assert labels.findings == truth, report
        if "ctr" in labels.measurements:
            assert labels.measurements["ctr"] == pytest.approx(batch.factors["ctr"][i])
        if batch.factors["nodule"][i]:
            assert labels.measurements["size_mm"] == batch.factors["nodule_size_mm"][i]


@pytest.mark.parametrize(
    ("text", "findings", "measurements"),
    [
        ("Chest X-ray: No pleural effusion. Costophrenic angles are sharp.", set(), {}),
        ("Chest X-ray: The heart is not enlarged. No focal consolidation.", set(), {}),
        ("Chest X-ray: No cardiomegaly; no nodules are seen.", set(), {}),
        ("Chest X-ray: Cardiothoracic ratio 0.45, normal heart size.", set(), {"ctr": 0.45}),
        ("Chest X-ray: Cardiothoracic ratio is 58%.", {"cardiomegaly"}, {"ctr": 0.58}),
        ("Chest X-ray: Enlarged cardiac silhouette.", {"cardiomegaly"}, {}),
        ("Chest X-ray: Blunting of the left costophrenic angle.", {"effusion"}, {}),
        ("Chest X-ray: Airspace opacity in the right lower zone.", {"consolidation"}, {}),
        ("Chest X-ray: A 1.2 cm nodule in the left upper zone.", {"nodule"}, {"size_mm": 12.0}),
        (
            "Chest X-ray: No effusion. Right mid zone consolidation with air bronchograms.",
            {"consolidation"},
            {},
        ),
    ],
)
def test_labeller_negation_and_measurements(text, findings, measurements):
    labels = get_modality("cxr").label_report(text)
    assert labels.findings == frozenset(findings)
    assert dict(labels.measurements) == pytest.approx(measurements)


def _region_mean(b, u_range, v_range, side_sign):
    """Mean image value per patient over a box in thorax coordinates (u mirrored by side)."""
    size = b.images.shape[-1]
    c = (np.arange(size) + 0.5) / size * 2 - 1
    f = b.factors
    u = (c[None, None, :] - f["centre_x"][:, None, None]) / f["thorax_width"][:, None, None]
    v = (c[None, :, None] - f["centre_y"][:, None, None]) / f["thorax_height"][:, None, None]
    u = u * np.asarray(side_sign)[:, None, None]
    box = (u > u_range[0]) & (u < u_range[1]) & (v > v_range[0]) & (v < v_range[1])
    img = b.images[:, 0].astype(np.float32)
    return (img * box).sum(axis=(1, 2)) / np.maximum(box.sum(axis=(1, 2)), 1)


def test_findings_are_visible_where_they_are():
    b = simulate("cxr", 600, size=48, seed=8)
    f = b.factors
    only = lambda j: b.findings[:, j] & (b.findings.sum(1) == 1)  # noqa: E731
    normal = ~b.findings.any(1)
    ones = np.ones(len(b))
    # cardiomegaly: the heart shadow reaches into the left lower lung field (image right)
    heart_box = _region_mean(b, (0.3, 0.55), (0.12, 0.32), ones)
    assert heart_box[only(0)].mean() > heart_box[normal].mean() + 8
    # effusion: the base on the effusion side is brighter than the other base
    one_side = only(1) & (f["effusion_side"] < 2)
    sign = np.where(f["effusion_side"] == 0, -1.0, 1.0)  # patient's right is image left
    same = _region_mean(b, (0.5, 0.8), (0.3, 0.5), sign)
    other = _region_mean(b, (0.5, 0.8), (0.3, 0.5), -sign)
    assert (same - other)[one_side].mean() > 10
    # nodule: larger nodules cover more of the image than smaller ones
    sim = get_modality("cxr")
    factors = {k: v[only(3)] for k, v in f.items()}
    with_nodule = sim.render(factors, 64, np.random.default_rng(0))
    k = len(factors["nodule"])
    without = sim.render({**factors, "nodule": np.zeros(k, bool)}, 64, np.random.default_rng(0))
    area = ((with_nodule - without)[:, 0] > 0.05).sum(axis=(1, 2))
    mm = factors["nodule_size_mm"]
    assert area.min() > 0
    assert area[mm >= 18].mean() > 1.5 * area[mm <= 12].mean()


def test_heart_bulges_to_the_image_right_and_widens_with_ctr():
    sim = get_modality("cxr")
    n = 40
    findings = np.zeros((n, 4), bool)
    factors = sim.sample_factors(np.random.default_rng(2), -np.ones(n, int), findings, 0.5)
    size = 64
    images = {}
    for ctr in (0.45, 0.65):
        f = {**factors, "ctr": np.full(n, ctr), "noise_sigma": np.zeros(n)}
        images[ctr] = sim.render(f, size, np.random.default_rng(0))[:, 0]
    # the whole heart shadow: a normal heart against no heart at all
    none = sim.render(
        {**factors, "ctr": np.zeros(n), "noise_sigma": np.zeros(n)}, size, np.random.default_rng(0)
    )[:, 0]
    heart = (images[0.45] - none) > 0.05
    centre = np.round((factors["centre_x"] + 1) * size / 2).astype(int)
    cols = np.arange(size)[None, None, :]
    right = (heart & (cols >= centre[:, None, None])).sum(axis=(1, 2))
    left = (heart & (cols < centre[:, None, None])).sum(axis=(1, 2))
    assert (right > 1.4 * left).mean() > 0.9

    # cardiomegaly: the shadow is wider, by about the ctr difference times the chest width
    def width(img_heart):
        return img_heart.any(axis=1).sum(axis=1)

    big = (images[0.65] - none) > 0.05
    chest_px = 2 * 0.86 * factors["thorax_width"] * size / 2
    grown = (width(big) - width(heart)) / chest_px
    assert 0.12 < np.median(grown) < 0.28


def test_reports_name_sides_and_zones(batch):
    f = batch.factors
    for i, report in enumerate(batch.reports):
        text = report.lower()
        if f["nodule"][i]:
            side = ("right", "left")[f["nodule_side"][i]]
            zone = ("upper", "mid", "lower")[f["nodule_zone"][i]]
            assert f"{side} {zone} zone" in text
        if f["effusion"][i] and f["effusion_side"][i] < 2:
            assert ("right", "left")[f["effusion_side"][i]] in text
    assert any("cardiothoracic ratio" in r.lower() or "ctr" in r.lower() for r in batch.reports)


def test_deterministic_and_varied(batch):
    a = simulate("cxr", 30, size=32, seed=21)
    b = simulate("cxr", 30, size=32, seed=21)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    flat = batch.images.reshape(len(batch), -1).astype(np.float32)
    assert np.abs(flat[::2] - flat[1::2]).mean() > 5
    skeleton = {re.sub(r"\d+(\.\d+)?|right|left|upper|mid|lower", "#", r) for r in batch.reports}
    assert len(skeleton) > 250
    normal = [r for r, row in zip(batch.reports, batch.findings, strict=True) if not row.any()]
    assert len(set(normal)) > 0.8 * len(normal)
