"""Every built-in data source against its contract, on small local data: three non-empty splits of
uint8 images with disjoint patients, the same cohorts on every load, the split seed honoured where
the source splits, the patient-split level recorded, unknown options refused in one line."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from PIL import Image

from synthbench.data.source import DataSource, PatientSplitWarning, RealData, load_data
from synthbench.errors import DataError
from synthbench.registry import builtin_names, datasets

SOURCE_NAMES = builtin_names(datasets)


def test_the_design_sources_are_registered():
    assert set(SOURCE_NAMES) == {"phantom", "medmnist", "imagefolder", "hf"}


def _images(n, rng, size=16):
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8)


@pytest.fixture
def spec(request, tmp_path):
    """A small valid spec of each source, and whether the source splits (vs ships splits)."""
    name = request.param
    rng = np.random.default_rng(0)
    if name == "phantom":
        return "phantom:oct?n=40&size=16", True
    if name == "medmnist":
        arrays = {}
        for split, n in (("train", 10), ("val", 4), ("test", 5)):
            arrays[f"{split}_images"] = _images(n, rng, 28)
            arrays[f"{split}_labels"] = (np.arange(n) % 4).astype(np.uint8)[:, None]
        np.savez_compressed(tmp_path / "octmnist.npz", **arrays)
        return f"medmnist:octmnist?root={tmp_path}", False
    if name == "imagefolder":
        folder = tmp_path / "cxr"
        folder.mkdir()
        rows = []
        for i, image in enumerate(_images(40, rng)):
            Image.fromarray(image).save(folder / f"{i}.png")
            rows.append({"path": f"{i}.png", "label": "ab"[i % 2], "patient_id": f"P{i // 2}"})
        with (folder / "manifest.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return f"imagefolder:{folder}", True
    import datasets as hf

    hf.disable_progress_bars()
    hf.Dataset.from_dict(
        {
            "image": [Image.fromarray(a) for a in _images(40, rng)],
            "label": [i % 2 for i in range(40)],
            "patient_id": [f"P{i // 2}" for i in range(40)],
        }
    ).save_to_disk(str(tmp_path / "ds"))
    return f"hf:{tmp_path / 'ds'}", True


def _load(spec: str) -> RealData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PatientSplitWarning)
        return load_data(spec)


def _join(spec: str, option: str) -> str:
    return f"{spec}{'&' if '?' in spec else '?'}{option}"


@pytest.mark.parametrize("spec", SOURCE_NAMES, indirect=True)
def test_source_contract(spec):
    spec, splits_itself = spec
    source_name = spec.split(":", 1)[0]
    cls = datasets.get(source_name)
    assert issubclass(cls, DataSource) and cls.name == source_name
    assert "split_seed" in cls.Options.model_fields

    data = _load(spec)
    assert isinstance(data, RealData) and data.spec == spec
    cohorts = list(data.splits().values())
    assert all(len(c) > 0 for c in cohorts)
    shapes = {c.image_shape for c in cohorts}
    assert len(shapes) == 1
    for c in cohorts:
        assert c.images.dtype == np.uint8 and c.images.ndim == 4 and c.images.shape[1] in (1, 3)
        assert set(c.source) == {spec}
        assert c.label_names == cohorts[0].label_names
    patients = [set(c.patient_id) for c in cohorts]
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    assert data.patient_split in ("patient", "image")
    assert data.patient_split == ("image" if source_name == "medmnist" else "patient")

    again = _load(spec)  # the same spec gives the same cohorts
    for a, b in zip(cohorts, again.splits().values()):
        np.testing.assert_array_equal(a.images, b.images)
        assert a.patient_id == b.patient_id and (a.label == b.label).all()
    if splits_itself:
        other = _load(_join(spec, "split_seed=7"))
        assert [c.patient_id for c in other.splits().values()] != [c.patient_id for c in cohorts]

    with pytest.raises(DataError, match="unknown option 'bogus'; valid options: split_seed") as err:
        _load(_join(spec, "bogus=1"))
    assert "\n" not in str(err.value)
