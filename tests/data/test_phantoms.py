"""Properties every phantom modality must have (parametrised over all of them)."""

import numpy as np
import pytest

from synthbench.cohort import Cohort
from synthbench.data.phantoms import MODALITIES, get_modality, label_report, simulate
from synthbench.data.source import load_data
from synthbench.errors import DataError

ALL = list(MODALITIES)


@pytest.mark.parametrize("modality", ALL)
def test_shapes_dtypes_and_balance(modality):
    info = get_modality(modality).info
    batch = simulate(modality, 60, size=32, seed=1)
    assert batch.images.shape == (60, info.channels, 32, 32)
    assert batch.images.dtype == np.uint8
    assert batch.images.std() > 5, "images must not be blank"
    assert len(batch.reports) == len(batch.patient_ids) == 60
    assert len(set(batch.patient_ids)) == 60
    assert batch.findings.shape == (60, len(info.findings))
    for name, values in batch.factors.items():
        assert values.shape == (60,), name
    if info.multilabel:
        assert (batch.labels == -1).all()
        assert batch.findings.any(axis=0).all(), "every finding must occur in 60 patients"
    else:
        counts = np.bincount(batch.labels, minlength=info.n_classes)
        assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("modality", ALL)
@pytest.mark.parametrize("size", [16, 48, 256])
def test_any_size_renders(modality, size):
    batch = simulate(modality, 4, size=size, seed=0)
    assert batch.images.shape[-2:] == (size, size)
    assert batch.images.std() > 5


@pytest.mark.parametrize("modality", ALL)
def test_deterministic_per_seed(modality):
    a = simulate(modality, 30, size=32, seed=7)
    b = simulate(modality, 30, size=32, seed=7)
    c = simulate(modality, 30, size=32, seed=8)
    assert np.array_equal(a.images, b.images) and a.reports == b.reports
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("modality", ALL)
def test_patients_vary(modality):
    batch = simulate(modality, 40, size=32, seed=2)
    flat = batch.images.reshape(40, -1).astype(np.float32)
    distances = np.abs(flat[:, None] - flat[None]).mean(-1)
    assert distances[~np.eye(40, dtype=bool)].min() > 1.0, "no two patients may share an image"
    assert len(set(batch.reports)) > 30, "reports must vary"


@pytest.mark.parametrize("modality", ALL)
def test_labeller_agrees_with_truth(modality):
    info = get_modality(modality).info
    batch = simulate(modality, 1500, size=16, seed=3)
    agree = 0
    for i, report in enumerate(batch.reports):
        read = label_report(report)
        assert read.modality == modality
        truth = {f for f, present in zip(info.findings, batch.findings[i]) if present}
        agree += set(read.findings) == truth
    assert agree / len(batch) >= 0.99


@pytest.mark.parametrize("modality", ALL)
def test_reports_use_the_modality_prompt_format(modality):
    info = get_modality(modality).info
    batch = simulate(modality, 20, size=16, seed=0)
    assert all(r.startswith(f"{info.prompt_name}: ") for r in batch.reports)


def test_labeller_on_unknown_modality_reads_nothing():
    read = label_report("Ultrasound: a large mass.")
    assert read.modality is None and not read.findings


def test_difficulty_and_size_are_validated():
    with pytest.raises(ValueError, match="difficulty"):
        simulate("oct", 4, difficulty=1.5)
    with pytest.raises(ValueError, match="size"):
        simulate("oct", 4, size=8)
    with pytest.raises(ValueError, match="unknown phantom modality"):
        simulate("pet", 4)


@pytest.mark.parametrize("modality", ["chest_ct", "breast_mri"])
def test_survival_follows_the_true_hazard_ratio(modality):
    """Exponential MLE per group (events / person-time): the ratio recovers the simulator's HR."""
    info = get_modality(modality).info
    assert info.biomarker and info.true_hazard_ratio == 0.5
    batch = simulate(modality, 6000, size=16, seed=5)
    status, time, event = batch.biomarker, batch.survival_time, batch.survival_event
    applicable = ~np.isnan(status)
    assert applicable.sum() > 1000
    assert np.isnan(time[~applicable]).all() and (event[~applicable] == -1).all()
    assert (time[applicable] > 0).all() and set(np.unique(event[applicable])) == {0, 1}
    assert 0.05 < 1 - event[applicable].mean() < 0.7, "some censoring, not all"
    rates = {}
    for s in (0.0, 1.0):
        grp = status == s
        rates[s] = (event[grp] == 1).sum() / time[grp].sum()
    hr = rates[1.0] / rates[0.0]
    assert abs(np.log(hr) - np.log(info.true_hazard_ratio)) < 0.15


def test_phantom_source_splits_by_patient():
    data = load_data("phantom:oct?n=80&size=16&seed=1")
    assert len(data.train) + len(data.val) + len(data.test) == 80
    ids = [set(c.patient_id) for c in (data.train, data.val, data.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    again = load_data("phantom:oct?n=80&size=16&seed=1")
    assert np.array_equal(data.test.images, again.test.images)


def test_phantom_all_makes_one_rgb_cohort_keeping_native_channels(tmp_path):
    data = load_data({"source": "phantom", "name": "all", "n": 12, "size": 16})
    cohort = Cohort.concat([data.train, data.val, data.test])
    assert set(cohort.modalities) == set(ALL)
    assert cohort.images.shape[1] == 3
    for m in ALL:
        native = get_modality(m).info.channels
        assert (cohort.channels[cohort.modality == m] == native).all()
    data.train.save(tmp_path / "train")
    loaded = Cohort.load(tmp_path / "train")
    assert loaded.modalities == data.train.modalities
    assert loaded.label_names == data.train.label_names


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("phantom:pet", "unknown phantom modality 'pet'"),
        ("phantom:oct?size=8", "option 'size'"),
        ("phantom:oct?colour=red", "unknown option 'colour'"),
        ("phantom:oct?n=3", "split is empty"),
        ("oct", "must look like"),
        ("phantm:oct", "did you mean 'phantom'"),
    ],
)
def test_bad_phantom_specs_give_clear_errors(spec, message):
    with pytest.raises(DataError, match=message):
        load_data(spec)
