"""medmnist: source, on MedMNIST-format .npz files written by the tests (no download)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from synthbench.data.source import load_data
from synthbench.errors import DataError

COUNTS = {"train": 12, "val": 5, "test": 7}


def write_npz(
    root: Path, flag: str, *, rgb: bool, n_labels: int, multilabel: bool, size: int = 28
) -> dict:
    """A file laid out as MedMNIST ships it: uint8 images (n, H, W[, 3]) and uint8 labels (n, L)."""
    rng = np.random.default_rng(len(flag))
    arrays = {}
    for split, n in COUNTS.items():
        shape = (n, size, size, 3) if rgb else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (n, n_labels)).astype(np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(n) % n_labels).astype(np.uint8)[:, None]
    name = f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"
    np.savez_compressed(root / name, **arrays)
    return arrays


def test_grayscale_multiclass(tmp_path: Path) -> None:
    from medmnist import INFO

    arrays = write_npz(tmp_path, "octmnist", rgb=False, n_labels=4, multilabel=False)
    data = load_data(f"medmnist:octmnist?root={tmp_path}")
    names = [INFO["octmnist"]["label"][str(k)] for k in range(4)]
    for split, cohort in data.splits().items():
        assert len(cohort) == COUNTS[split]
        assert cohort.images.shape == (COUNTS[split], 1, 28, 28)
        np.testing.assert_array_equal(cohort.images[:, 0], arrays[f"{split}_images"])
        np.testing.assert_array_equal(cohort.label, arrays[f"{split}_labels"][:, 0])
        assert cohort.label_names == {"octmnist": names}
        assert set(cohort.modality) == {"octmnist"}
        assert not cohort.multilabel
    assert data.train.text[2] == f"Retinal OCT: {names[2]}"
    all_patients = [p for c in data.splits().values() for p in c.patient_id]
    assert len(set(all_patients)) == sum(COUNTS.values())


def test_rgb_flag_and_size(tmp_path: Path) -> None:
    arrays = write_npz(tmp_path, "pathmnist", rgb=True, n_labels=9, multilabel=False, size=64)
    data = load_data(f"medmnist:pathmnist?root={tmp_path}&size=64")
    assert data.test.images.shape == (COUNTS["test"], 3, 64, 64)
    np.testing.assert_array_equal(data.test.images.transpose(0, 2, 3, 1), arrays["test_images"])
    assert (data.train.channels == 3).all()
    assert len(data.train.label_names["pathmnist"]) == 9


def test_multilabel_chestmnist(tmp_path: Path) -> None:
    from medmnist import INFO

    arrays = write_npz(tmp_path, "chestmnist", rgb=False, n_labels=14, multilabel=True)
    data = load_data(f"medmnist:chestmnist?root={tmp_path}")
    names = [INFO["chestmnist"]["label"][str(k)] for k in range(14)]
    assert data.val.finding_names == names
    assert (data.val.label == -1).all()
    assert data.val.multilabel
    np.testing.assert_array_equal(data.val.findings, arrays["val_labels"].astype(bool))
    row = data.val.findings[0]
    expected = ", ".join(n for n, f in zip(names, row) if f) or "no finding"
    assert data.val.text[0] == f"Chest X-ray: {expected}"


def test_missing_file_names_it_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import medmnist.dataset

    def no_download(self: object) -> None:
        pytest.fail("the loader tried to download")

    monkeypatch.setattr(medmnist.dataset.MedMNIST, "download", no_download)
    with pytest.raises(DataError) as err:
        load_data(f"medmnist:breastmnist?root={tmp_path}&size=128")
    message = str(err.value)
    assert str(tmp_path / "breastmnist_128.npz") in message
    assert "not found" in message and "?root=DIR" in message
    assert "\n" not in message


def test_unknown_and_3d_flags() -> None:
    with pytest.raises(DataError, match="did you mean 'octmnist'"):
        load_data("medmnist:octmnis")
    with pytest.raises(DataError, match="3D volumes"):
        load_data("medmnist:organmnist3d")


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("size=32", "option 'size'"),
        ("colour=1", "unknown option 'colour'"),
        ("split=0.5,0.25,0.25", "'split'"),
    ],
)
def test_bad_options(tmp_path: Path, query: str, needle: str) -> None:
    write_npz(tmp_path, "octmnist", rgb=False, n_labels=4, multilabel=False)
    with pytest.raises(DataError, match=needle):
        load_data(f"medmnist:octmnist?root={tmp_path}&{query}")


def test_corrupt_or_foreign_npz(tmp_path: Path) -> None:
    (tmp_path / "octmnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "octmnist.npz"))):
        load_data(f"medmnist:octmnist?root={tmp_path}")
    # a valid npz with the wrong image layout (RGB where octmnist is grayscale)
    write_npz(tmp_path, "octmnist", rgb=True, n_labels=4, multilabel=False)
    with pytest.raises(DataError, match=r"train_images is uint8 \(12, 28, 28, 3\)"):
        load_data(f"medmnist:octmnist?root={tmp_path}")
