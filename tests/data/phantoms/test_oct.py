"""OCT phantom: labeller agreement, negations, findings visible where the factors put them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from synthbench.data.phantoms import get_modality, simulate
from synthbench.data.phantoms.oct import MAX_CYSTS, MAX_DRUSEN


@pytest.fixture(scope="module")
def batch():
    return simulate("oct", 300, size=32, seed=7)


def test_labeller_agrees_with_truth_and_reads_measurements(batch):
    sim = get_modality("oct")
    for i, report in enumerate(batch.reports):
        labels = sim.label_report(report)
        assert sim.info.class_of(labels.findings) == batch.labels[i], report
        assert len(labels.findings) == (batch.labels[i] > 0), report
        if batch.labels[i] > 0:
            assert labels.measurements["size_mm"] == batch.factors["lesion_size_mm"][i], report
        if "central_thickness_um" in labels.measurements:
            assert (
                labels.measurements["central_thickness_um"]
                == (batch.factors["central_thickness_um"][i])
            )


@pytest.mark.parametrize(
    ("text", "findings"),
    [
        ("OCT: No drusen. Foveal contour preserved.", set()),
        ("OCT: Normal foveal depression without intraretinal or subretinal fluid.", set()),
        ("OCT: Negative for CNV; no cystoid macular oedema.", set()),
        ("OCT: Previously seen subretinal fluid has resolved.", set()),
        ("OCT: Drusenoid pigment epithelial detachment, no subretinal fluid.", {"drusen"}),
        ("OCT: Several soft drusen, largest 0.4 mm. No CNV.", {"drusen"}),
        ("OCT: Intraretinal cysts with loss of the foveal contour.", {"dme"}),
        ("OCT: Diabetic macular edema, CST 452 um.", {"dme"}),
        ("OCT: Subretinal hyperreflective material and subretinal fluid.", {"cnv"}),
        ("OCT: Fibrovascular PED; no intraretinal fluid.", {"cnv"}),
        ("OCT: No drusen, but active choroidal neovascularization.", {"cnv"}),
    ],
)
def test_labeller_reads_negations(text, findings):
    assert set(get_modality("oct").label_report(text).findings) == findings


def test_labeller_reads_sizes_and_thickness():
    labels = get_modality("oct").label_report(
        "OCT: Cystoid spaces up to 0.6 mm. Central subfield thickness 488 µm."
    )
    assert labels.measurements == {"size_mm": 0.6, "central_thickness_um": 488.0}


def test_reports_vary_and_name_the_eye(batch):
    skeletons = {re.sub(r"[\d.]+", "#", r) for r in batch.reports}
    assert len(skeletons) > 250
    for eye, report in zip(batch.factors["eye"], batch.reports, strict=True):
        words = ("right eye", "OD") if eye == 0 else ("left eye", "OS")
        assert any(w in report or w.capitalize() in report for w in words), report


def _render_pair(label: int, remove, n: int = 48, size: int = 48):
    """Patients of one class rendered with and without their lesion (same anatomy and speckle)."""
    sim = get_modality("oct")
    labels = np.full(n, label, dtype=np.int64)
    findings = np.zeros((n, 3), bool)
    factors = sim.sample_factors(np.random.default_rng(0), labels, findings, 0.3)
    with_lesion = sim.render(factors, size, np.random.default_rng(1))[:, 0]
    without = sim.render({**factors, **remove(factors)}, size, np.random.default_rng(1))[:, 0]
    return factors, with_lesion - without


def test_cysts_are_dark_spaces_inside_the_retina():
    _, diff = _render_pair(2, lambda f: {"cyst_count": np.zeros_like(f["cyst_count"])})
    assert (diff <= 1e-6).all()  # cysts only ever darken
    assert (diff.reshape(len(diff), -1).min(1) < -0.1).mean() > 0.8


def test_larger_drusen_change_a_larger_area():
    no_drusen = {f"drusen_height{k}": 0.0 for k in range(MAX_DRUSEN)}
    factors, diff = _render_pair(1, lambda f: {k: np.zeros_like(f[k]) for k in no_drusen}, n=96)
    changed = (np.abs(diff) > 0.05).reshape(len(diff), -1).sum(1)
    volume = sum(
        factors[f"drusen_height{k}"] * factors[f"drusen_half_width{k}"] for k in range(MAX_DRUSEN)
    )
    big = volume > np.median(volume)
    assert changed[big].mean() > 1.5 * changed[~big].mean()
    assert (changed > 0).all()


def test_cnv_fluid_is_dark_above_a_bright_rpe():
    sim = get_modality("oct")
    factors, diff = _render_pair(
        3,
        lambda f: {k: np.zeros_like(f[k]) for k in ("srf_height", "shrm_height", "ped_height")},
    )
    # the fluid dome darkens pixels at the lesion; the lifted retina brightens others
    assert (diff.reshape(len(diff), -1).min(1) < -0.15).mean() > 0.8
    # the boundary geometry puts the fluid above the RPE at the lesion centre
    b = sim._boundaries(factors, factors["cnv_x"][:, None], (-1, 1))
    assert (b["srf_top"] < b["shrm_top"]).all() and (b["shrm_top"] <= b["rpe_top"]).all()


def test_dme_thickens_the_retina_and_flattens_the_pit(batch):
    thickness = batch.factors["central_thickness_um"]
    assert np.median(thickness[batch.labels == 2]) > np.median(thickness[batch.labels == 0]) + 50


def test_difficulty_makes_findings_subtler():
    easy = simulate("oct", 200, size=32, seed=1, difficulty=0.0).factors
    hard = simulate("oct", 200, size=32, seed=1, difficulty=1.0).factors
    assert (
        easy["conspicuity"][easy["label"] > 0].mean()
        > 2 * hard["conspicuity"][hard["label"] > 0].mean()
    )


def test_same_seed_same_images_and_reports():
    a, b = simulate("oct", 24, size=32, seed=11), simulate("oct", 24, size=32, seed=11)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    assert not np.array_equal(a.images, simulate("oct", 24, size=32, seed=12).images)


def test_cyst_factor_table_is_complete(batch):
    for k in range(MAX_CYSTS):
        assert batch.factors[f"cyst_radius{k}"].shape == (300,)
