"""Patient-level splits on real data: the patient column is used when present; without one the load
warns once, and the fact travels with the cohorts (also through disk) into every result row."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthbench.data.source import IMAGE_LEVEL_NOTE, PatientSplitWarning, load_data
from synthbench.errors import DataError

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()


def write_manifest_folder(
    root: Path, *, patients: int = 15, per_patient: int = 4, column: str | None = "patient_id"
) -> Path:
    """``patients`` x ``per_patient`` 16 px images; every patient's images share their label."""
    folder = root / "cxr"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for p in range(patients):
        for v in range(per_patient):
            name = f"p{p:02d}_{v}.png"
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / name)
            row = {"path": name, "label": "effusion" if p % 2 else "normal"}
            if column:
                row[column] = f"P{p:03d}"
            rows.append(row)
    with (folder / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def load_recording(spec: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_data(spec)
    return data, [w for w in caught if issubclass(w.category, PatientSplitWarning)]


def true_patients(folder: Path) -> dict[bytes, str]:
    """Each image's pixels -> the patient its file belongs to (from the file name, not the loader)."""
    return {
        np.asarray(Image.open(png)).tobytes(): png.name.split("_")[0]
        for png in sorted(folder.glob("*.png"))
    }


def test_manifest_without_patient_column_warns_once_and_records_it(tmp_path):
    folder = write_manifest_folder(tmp_path, column=None)
    spec = f"imagefolder:{folder}"
    data, caught = load_recording(spec)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and message.startswith(spec)
    assert "no patient ids" in message and "patient_id column" in message
    formatted = warnings.formatwarning(
        caught[0].message, caught[0].category, caught[0].filename, caught[0].lineno
    )
    assert formatted.count("\n") == 1  # one line as printed, no source line under it
    assert data.patient_split == "image"
    assert all(IMAGE_LEVEL_NOTE in c.description for c in data.splits().values())


def test_patient_column_keeps_each_patients_images_in_one_split(tmp_path):
    folder = write_manifest_folder(tmp_path, patients=15, per_patient=4)
    truth = true_patients(folder)
    for seed in range(5):
        data, caught = load_recording(f"imagefolder:{folder}?split_seed={seed}")
        assert not caught and data.patient_split == "patient"
        split_of: dict[str, str] = {}
        for split, cohort in data.splits().items():
            for image in cohort.images:
                patient = truth[image[0].tobytes()]
                assert split_of.setdefault(patient, split) == split, (
                    f"seed {seed}: patient {patient} in both {split_of[patient]} and {split}"
                )
        assert len(split_of) == 15


def test_patient_column_named_by_option(tmp_path):
    folder = write_manifest_folder(tmp_path, column="subject")
    data, caught = load_recording(f"imagefolder:{folder}?patient_column=subject")
    assert not caught and data.patient_split == "patient"
    assert sorted({p for c in data.splits().values() for p in c.patient_id}) == [
        f"P{p:03d}" for p in range(15)
    ]
    # without the option the column is unknown, and the error says how to name it
    with pytest.raises(DataError, match=r"unknown column\(s\) 'subject'.*patient_column=NAME"):
        load_data(f"imagefolder:{folder}")


def test_patient_column_errors_are_one_line(tmp_path):
    folder = write_manifest_folder(tmp_path)
    with pytest.raises(DataError, match=r"patient_column='visit': manifest .* has no such column"):
        load_data(f"imagefolder:{folder}?patient_column=visit")
    lines = (folder / "manifest.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ","  # line 4 loses its patient id
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 4 has no patient_id") as err:
        load_data(f"imagefolder:{folder}")
    assert "\n" not in str(err.value)
    (folder / "manifest.csv").unlink()
    (folder / "normal").mkdir()
    for png in folder.glob("*.png"):
        png.rename(folder / "normal" / png.name)
    with pytest.raises(DataError, match="patient_column='patient_id' needs a manifest"):
        load_data(f"imagefolder:{folder}?patient_column=patient_id")


def test_class_subfolders_have_no_patients(tmp_path):
    folder = tmp_path / "oct"
    rng = np.random.default_rng(0)
    for name in ("normal", "drusen"):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            image = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(image).save(folder / name / f"{i}.png")
    data, caught = load_recording(f"imagefolder:{folder}")
    assert len(caught) == 1 and "manifest.csv with path, label and patient_id" in str(
        caught[0].message
    )
    assert data.patient_split == "image"
    # the same folder read as synthetic images: they have no patients, and no warning is due
    from synthbench.metrics.evaluate import load_synthetic

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(load_synthetic(str(folder))) == 12
    assert not [w for w in caught if issubclass(w.category, PatientSplitWarning)]


def test_hf_patient_column_default_and_absent(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    images = [Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)) for _ in range(n)]
    with_ids = datasets.Dataset.from_dict(
        {
            "image": images,
            "label": [i % 2 for i in range(n)],
            "patient_id": [str(i // 4) for i in range(n)],
        }
    )
    with_ids.save_to_disk(str(tmp_path / "ids"))
    data, caught = load_recording(f"hf:{tmp_path / 'ids'}")
    assert not caught and data.patient_split == "patient"
    parts = [set(c.patient_id) for c in data.splits().values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(len(p) for p in parts) == 10

    with_ids.remove_columns("patient_id").save_to_disk(str(tmp_path / "none"))
    data, caught = load_recording(f"hf:{tmp_path / 'none'}")
    assert len(caught) == 1 and "?patient_column=NAME" in str(caught[0].message)
    assert data.patient_split == "image"
    # '' says "none" explicitly: still recorded as image-level
    data, caught = load_recording(f"hf:{tmp_path / 'ids'}?patient_column=")
    assert len(caught) == 1 and data.patient_split == "image"

    with_ids.map(
        lambda row, i: {"patient_id": None if i == 5 else row["patient_id"]}, with_indices=True
    ).save_to_disk(str(tmp_path / "gap"))
    with pytest.raises(DataError, match="row 5 of the train split has no patient id"):
        load_data(f"hf:{tmp_path / 'gap'}")


def test_medmnist_says_the_same(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 4).astype(np.uint8)[:, None]
    np.savez_compressed(tmp_path / "octmnist.npz", **arrays)
    data, caught = load_recording(f"medmnist:octmnist?root={tmp_path}")
    assert len(caught) == 1 and "MedMNIST ships none" in str(caught[0].message)
    assert data.patient_split == "image"


def test_phantoms_are_split_by_patient():
    data, caught = load_recording("phantom:oct?n=30&size=16")
    assert not caught and data.patient_split == "patient"


def test_the_fact_survives_disk_and_reaches_every_result_row(tmp_path):
    from synthbench.metrics.evaluate import EvalSettings, evaluate, load_real

    folder = write_manifest_folder(tmp_path, patients=30, per_patient=2, column=None)
    data, _ = load_recording(f"imagefolder:{folder}")
    made = tmp_path / "made"
    for split, cohort in data.splits().items():
        cohort.save(made / split)
    again = load_real(str(made))
    assert again.patient_split == "image"
    settings = EvalSettings(cache_dir=tmp_path / "cache", breakdown=False)
    rows = evaluate(again, data.val, ["fd", "prdc"], settings).rows
    assert rows and {r.patient_split for r in rows} == {"image"}

    by_patient, _ = load_recording(
        f"imagefolder:{write_manifest_folder(tmp_path / 'b', patients=30, per_patient=2)}"
    )
    rows = evaluate(by_patient, by_patient.val, ["fd"], settings).rows
    assert {r.patient_split for r in rows} == {"patient"}


def test_the_command_prints_the_warning_as_one_line(tmp_path):
    import subprocess
    import sys

    folder = write_manifest_folder(tmp_path, column=None)
    out = tmp_path / "made"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthbench.cli",
            "data",
            "make",
            f"imagefolder:{folder}",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"warning: imagefolder:{folder}: no patient ids, so each image")
    assert "patient_id column" in lines[0] and "PatientSplitWarning" not in lines[0]
