import json

import numpy as np
import pytest

from synthbench.cohort import INFO_FILE, Cohort, is_cohort_dir
from synthbench.errors import DataError


def make_cohort(n=40, channels=1, size=16, modality="oct", seed=0, patients=None):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    return Cohort.from_arrays(
        rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8),
        modality=modality,
        label=labels,
        label_names={modality: ["normal", "drusen", "dme", "cnv"]},
        text=[f"OCT: case {i}" for i in range(n)],
        patient_id=patients or [f"{modality}-{i // 2}" for i in range(n)],  # two images per patient
        findings=np.eye(4, dtype=bool)[labels][:, 1:],
        finding_names=["drusen", "dme", "cnv"],
        biomarker=np.where(labels > 0, labels % 2, np.nan),
        biomarker_name="marker",
        survival_time=rng.uniform(1, 30, n),
        survival_event=rng.integers(0, 2, n),
        factors={"lesion_mm": rng.uniform(0, 5, n), "side": np.array(["left", "right"] * (n // 2))},
        source="test",
    )


def assert_same(a: Cohort, b: Cohort):
    assert np.array_equal(a.images, b.images)
    assert a.images.dtype == b.images.dtype == np.uint8
    for name in ("label", "findings", "channels", "survival_event"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("biomarker", "survival_time"):
        assert np.allclose(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.text == b.text and a.patient_id == b.patient_id and a.source == b.source
    assert list(a.modality) == list(b.modality)
    assert a.label_names == b.label_names and a.finding_names == b.finding_names
    assert a.factors.keys() == b.factors.keys()
    for k in a.factors:
        assert np.array_equal(a.factors[k], b.factors[k]), k


def test_save_load_roundtrip(tmp_path):
    cohort = make_cohort()
    cohort.save(tmp_path / "c")
    assert is_cohort_dir(tmp_path / "c")
    assert_same(cohort, Cohort.load(tmp_path / "c"))


def test_saved_cohort_is_a_plain_datasets_folder(tmp_path):
    import datasets

    make_cohort().save(tmp_path / "c")
    ds = datasets.load_from_disk(str(tmp_path / "c"))
    assert isinstance(ds.features["image"], datasets.Array3D)
    assert ds.features["image"].dtype == "uint8"
    assert ds[0]["text"] == "OCT: case 0"


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path):
    make_cohort(n=8).save(tmp_path / "c")
    bigger = make_cohort(n=12, seed=1)
    bigger.save(tmp_path / "c")
    assert len(Cohort.load(tmp_path / "c")) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_failed_save_keeps_previous_cohort(tmp_path, monkeypatch):
    make_cohort(n=8).save(tmp_path / "c")
    broken = make_cohort(n=12)

    def boom(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Cohort, "info", boom)
    with pytest.raises(RuntimeError):
        broken.save(tmp_path / "c")
    monkeypatch.undo()
    assert len(Cohort.load(tmp_path / "c")) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="no such cohort folder"):
        Cohort.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a synthbench cohort"):
        Cohort.load(tmp_path / "empty")
    make_cohort(n=8).save(tmp_path / "c")
    info = json.loads((tmp_path / "c" / INFO_FILE).read_text())
    info["surprise"] = 1
    (tmp_path / "c" / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(DataError, match="invalid cohort metadata"):
        Cohort.load(tmp_path / "c")
    del info["surprise"]
    info["n"] = 99
    (tmp_path / "c" / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(DataError, match="holds 8 samples"):
        Cohort.load(tmp_path / "c")
    info["n"] = 8
    (tmp_path / "c" / INFO_FILE).write_text(json.dumps(info))
    for f in (tmp_path / "c").glob("*.arrow"):
        f.write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        Cohort.load(tmp_path / "c")


def test_bad_arrays_are_rejected():
    with pytest.raises(DataError, match="uint8"):
        Cohort.from_arrays(np.zeros((2, 1, 4, 4), np.float32), modality="oct")
    with pytest.raises(DataError, match="'text' has 1 rows"):
        Cohort.from_arrays(np.zeros((2, 1, 4, 4), np.uint8), modality="oct", text=["a"])


def test_split_by_patient_keeps_patients_whole_and_is_deterministic():
    cohort = make_cohort(n=200)
    parts = cohort.split_by_patient((0.6, 0.2, 0.2), seed=3)
    assert sum(len(p) for p in parts) == 200
    sets = [set(p.patient_id) for p in parts]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert 100 <= len(parts[0]) <= 140
    again = cohort.split_by_patient((0.6, 0.2, 0.2), seed=3)
    assert [p.patient_id for p in parts] == [p.patient_id for p in again]
    other = cohort.split_by_patient((0.6, 0.2, 0.2), seed=4)
    assert [p.patient_id for p in parts] != [p.patient_id for p in other]
    # stratified: every class in every part
    for p in parts:
        assert set(p.label.tolist()) == {0, 1, 2, 3}
    # independent of row order
    shuffled = cohort.subset(np.random.default_rng(0).permutation(200))
    assert [set(p.patient_id) for p in shuffled.split_by_patient((0.6, 0.2, 0.2), seed=3)] == sets


def test_subset_and_concat_with_channel_promotion():
    gray = make_cohort(n=10, channels=1, modality="oct")
    rgb = make_cohort(n=6, channels=3, modality="fundus", seed=1)
    rgb.label_names = {"fundus": ["normal", "dr", "glaucoma"]}
    rgb.finding_names = ["dr", "glaucoma", "extra"]
    both = Cohort.concat([gray, rgb])
    assert both.images.shape == (16, 3, 16, 16)
    assert both.channels.tolist() == [1] * 10 + [3] * 6
    assert both.modalities == ["oct", "fundus"]
    assert both.finding_names == ["drusen", "dme", "cnv", "dr", "glaucoma", "extra"]
    assert np.array_equal(both.findings[:10, :3], gray.findings)
    assert not both.findings[:10, 3:].any()
    native = both.native_images(slice(0, 10))
    assert all(img.shape == (1, 16, 16) for img in native)
    assert np.array_equal(np.stack(native), gray.images)
    sub = both.subset([15, 0])
    assert sub.patient_id == [both.patient_id[15], both.patient_id[0]]


def test_concat_rejects_mixed_sizes():
    with pytest.raises(DataError, match="different image sizes"):
        Cohort.concat([make_cohort(size=16), make_cohort(size=32)])


def test_torch_view():
    import torch

    cohort = make_cohort(n=8)
    ds = cohort.torch_dataset(channels=3)
    x, y = ds[1]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert int(y) == 1
    assert torch.allclose(x[0] * 255, torch.from_numpy(cohort.images[1, 0]).float())


def test_summary_mentions_what_matters():
    text = make_cohort(n=40).summary()
    assert "40 samples, 20 patients" in text
    assert "normal=10" in text and "survival: 40 patients" in text


def test_empty_cohort_roundtrip(tmp_path):
    empty = make_cohort(n=8).subset([])
    empty.save(tmp_path / "e")
    loaded = Cohort.load(tmp_path / "e")
    assert len(loaded) == 0 and loaded.image_shape == (1, 16, 16)
    assert loaded.label_names == empty.label_names and loaded.finding_names == empty.finding_names


def test_to_channels_replicates_up_and_averages_to_gray():
    rng = np.random.default_rng(0)
    gray = Cohort.from_arrays(
        rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8), modality=["m"] * 4
    )
    rgb = gray.to_channels(3)
    assert rgb.images.shape == (4, 3, 8, 8) and (rgb.images == gray.images).all()
    assert np.array_equal(rgb.to_channels(1).images, gray.images)
    colour = Cohort.from_arrays(
        np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 31)])[None], modality=["m"]
    )
    assert colour.to_channels(1).images.item(0) == 20  # (10 + 20 + 31) / 3 rounded
