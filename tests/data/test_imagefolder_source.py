"""imagefolder: source: class sub-folders, CSV / JSONL manifests, and each bad input's error."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthbench.data.source import load_data
from synthbench.errors import DataError


def save_image(path: Path, seed: int, *, size: int = 16, rgb: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size, size, 3) if rgb else (size, size), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def class_folders(root: Path, *, rgb: bool = False) -> Path:
    folder = root / "retina_oct"
    for k, name in enumerate(("normal", "drusen")):
        for i in range(10):
            save_image(folder / name / f"img{i:02d}.png", 100 * k + i, rgb=rgb)
    (folder / "README.txt").write_text("not an image")
    return folder


def all_patients(data) -> list[list[str]]:
    return [c.patient_id for c in data.splits().values()]


def test_class_subfolders(tmp_path: Path) -> None:
    folder = class_folders(tmp_path)
    data = load_data(f"imagefolder:{folder}")
    cohorts = list(data.splits().values())
    assert sum(len(c) for c in cohorts) == 20
    assert all(len(c) for c in cohorts)
    train = data.train
    assert train.images.shape[1:] == (1, 16, 16)
    assert train.label_names == {"retina_oct": ["drusen", "normal"]}
    assert set(train.modality) == {"retina_oct"}
    i = train.patient_id.index("drusen/img03.png")
    assert train.label[i] == 0 and train.text[i] == "retina_oct: drusen"
    expected = np.asarray(Image.open(folder / "drusen" / "img03.png"))
    np.testing.assert_array_equal(train.images[i, 0], expected)


def test_channels_and_modality_options(tmp_path: Path) -> None:
    folder = class_folders(tmp_path, rgb=True)
    rgb = load_data(f"imagefolder:{folder}")
    assert rgb.train.images.shape[1] == 3
    gray = load_data(f"imagefolder:{folder}?channels=1&modality=oct")
    assert gray.train.images.shape[1] == 1 and set(gray.train.modality) == {"oct"}
    gray_folder = class_folders(tmp_path / "g")
    lifted = load_data(f"imagefolder:{gray_folder}?channels=3")
    assert lifted.train.images.shape[1] == 3 and (lifted.train.channels == 1).all()
    with pytest.raises(DataError, match="option 'channels'"):
        load_data(f"imagefolder:{folder}?channels=2")


def test_csv_manifest_with_patients(tmp_path: Path) -> None:
    folder = tmp_path / "cxr"
    rows = []
    for patient in range(12):
        for visit in range(3):
            name = f"scans/p{patient}_{visit}.png"
            save_image(folder / name, patient * 10 + visit)
            label = "effusion" if patient % 2 else "normal"
            rows.append(
                {
                    "path": name,
                    "label": label,
                    "text": f"report {patient}",
                    "patient_id": f"P{patient:03d}",
                }
            )
    with (folder / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "text", "patient_id"])
        writer.writeheader()
        writer.writerows(rows)
    data = load_data(f"imagefolder:{folder}?split_seed=3")
    parts = [set(p) for p in all_patients(data)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(len(p) for p in parts) == 12
    assert sum(len(c) for c in data.splits().values()) == 36
    assert data.train.label_names == {"cxr": ["effusion", "normal"]}
    i = data.train.patient_id.index(data.train.patient_id[0])
    assert data.train.text[i].startswith("report ")


def test_jsonl_manifest_with_split_column(tmp_path: Path) -> None:
    folder = tmp_path / "fundus"
    lines = []
    for i, split in enumerate(["train"] * 6 + ["val"] * 2 + ["test"] * 3):
        save_image(folder / f"{i}.png", i, rgb=True)
        lines.append(json.dumps({"path": f"{i}.png", "label": i % 2, "split": split}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    data = load_data(f"imagefolder:{folder}")
    assert [len(c) for c in data.splits().values()] == [6, 2, 3]
    assert data.val.patient_id == ["6.png", "7.png"]
    assert data.train.label_names == {"fundus": ["0", "1"]}
    assert data.test.images.shape == (3, 3, 16, 16)


def test_manifest_option_and_split_conflicts(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    for i in range(4):
        save_image(folder / f"{i}.png", i)
    split = ["train", "train", "val", "test"]
    rows = [
        {"path": f"{i}.png", "patient_id": "same" if i in (1, 2) else str(i), "split": s}
        for i, s in enumerate(split)
    ]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(
        DataError, match="patient 'same' appears in both the train and the val split"
    ):
        load_data(f"imagefolder:{folder}?manifest={tmp_path / 'labels.jsonl'}")
    with pytest.raises(DataError, match=re.escape(f"manifest {folder / 'nope.csv'} not found")):
        load_data(f"imagefolder:{folder}?manifest=nope.csv")


def test_sizes_must_agree_unless_resized(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    save_image(folder / "a" / "small.png", 0, size=16)
    for i in range(6):
        save_image(folder / "b" / f"big{i}.png", i, size=24)
    with pytest.raises(DataError, match=r"differ in size .*pass \?size=N"):
        load_data(f"imagefolder:{folder}")
    data = load_data(f"imagefolder:{folder}?size=20&split=0.5,0.25,0.25")
    assert data.train.images.shape[2:] == (20, 20)


def test_sixteen_bit_images_are_scaled(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    folder.mkdir()
    for i in range(6):
        array = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 200 + i).astype(np.uint16)
        Image.fromarray(array).save(folder / f"{i}.png")
    data = load_data(f"imagefolder:{folder}?split=0.5,0.25,0.25")
    image = data.train.images[0, 0]
    assert image.min() == 0 and image.max() == 255
    assert data.train.label_names == {} and (data.train.label == -1).all()


def write_csv(folder: Path, header: list[str], rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def bad_corrupt_image(root: Path) -> tuple[Path, str]:
    folder = class_folders(root)
    (folder / "normal" / "img04.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return folder, "img04.png"


def bad_no_path_column(root: Path) -> tuple[Path, str]:
    write_csv(root / "m", ["file", "label"], [["a.png", "x"]])
    return root / "m", "lacks the 'path' column"


def bad_missing_file(root: Path) -> tuple[Path, str]:
    save_image(root / "m" / "a.png", 0)
    write_csv(root / "m", ["path", "label"], [["a.png", "x"], ["gone.png", "y"]])
    return root / "m", "line 3 names gone.png"


def bad_unknown_column(root: Path) -> tuple[Path, str]:
    save_image(root / "m" / "a.png", 0)
    write_csv(root / "m", ["path", "patientid"], [["a.png", "1"]])
    return root / "m", "unknown column(s) 'patientid'"


def bad_empty_folder(root: Path) -> tuple[Path, str]:
    (root / "empty").mkdir()
    return root / "empty", "no images in"


def bad_missing_folder(root: Path) -> tuple[Path, str]:
    return root / "absent", "absent does not exist"


def bad_loose_and_class_images(root: Path) -> tuple[Path, str]:
    folder = class_folders(root)
    save_image(folder / "stray.png", 0)
    return folder, "loose images (e.g. stray.png)"


def bad_split_value(root: Path) -> tuple[Path, str]:
    save_image(root / "m" / "a.png", 0)
    save_image(root / "m" / "b.png", 1)
    write_csv(root / "m", ["path", "split"], [["a.png", "train"], ["b.png", "holdout"]])
    return root / "m", "split 'holdout'"


@pytest.mark.parametrize(
    "make",
    [
        bad_corrupt_image,
        bad_no_path_column,
        bad_missing_file,
        bad_unknown_column,
        bad_empty_folder,
        bad_missing_folder,
        bad_loose_and_class_images,
        bad_split_value,
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, make) -> None:
    folder, needle = make(tmp_path)
    with pytest.raises(DataError) as err:
        load_data(f"imagefolder:{folder}")
    assert needle in str(err.value)
    assert "\n" not in str(err.value)
