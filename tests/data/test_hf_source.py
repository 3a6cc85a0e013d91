"""hf: source: save_to_disk folders, folders of data files, offline hub ids, and bad inputs."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthbench.data.hf_source import hub_reachable
from synthbench.data.source import load_data
from synthbench.errors import DataError

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()


def pil_images(n: int, *, size: int = 16, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)) for _ in range(n)]


def test_saved_dataset_split_by_patient(tmp_path: Path) -> None:
    n = 60
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=["benign", "malignant"]),
            "report": datasets.Value("string"),
            "subject": datasets.Value("string"),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "image": pil_images(n),
            "label": [i % 2 for i in range(n)],
            "report": [f"report {i}" for i in range(n)],
            "subject": [f"s{i // 3}" for i in range(n)],
        },
        features=features,
    )
    ds.save_to_disk(str(tmp_path / "breast_us"))
    data = load_data(f"hf:{tmp_path / 'breast_us'}?text_column=report&patient_column=subject")
    cohorts = list(data.splits().values())
    assert sum(len(c) for c in cohorts) == n and all(len(c) for c in cohorts)
    patients = [set(c.patient_id) for c in cohorts]
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    train = data.train
    assert train.label_names == {"breast_us": ["benign", "malignant"]}
    assert train.images.shape[1:] == (1, 16, 16)
    row = int(train.text[0].split()[1])
    assert train.label[0] == row % 2 and train.patient_id[0] == f"s{row // 3}"
    np.testing.assert_array_equal(train.images[0, 0], np.asarray(ds[row]["image"]))


def test_saved_datasetdict_keeps_its_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    counts = {"train": 9, "validation": 4, "test": 5}
    splits = {
        name: datasets.Dataset.from_dict(
            {
                "pixels": rng.integers(0, 256, (k, 3, 12, 12), dtype=np.uint8),
                "label": [f"grade{i % 3}" for i in range(k)],
            },
            features=datasets.Features(
                {
                    "pixels": datasets.Array3D((3, 12, 12), "uint8"),
                    "label": datasets.Value("string"),
                }
            ),
        )
        for name, k in counts.items()
    }
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "dd"))
    data = load_data(f"hf:{tmp_path / 'dd'}?image_column=pixels&modality=fundus&size=8")
    assert [len(c) for c in data.splits().values()] == list(counts.values())
    assert data.val.images.shape == (4, 3, 8, 8)
    assert data.test.label_names == {"fundus": ["grade0", "grade1", "grade2"]}
    assert data.test.text[1] == "fundus: grade1"
    with pytest.raises(DataError, match="option 'split' does not apply"):
        load_data(f"hf:{tmp_path / 'dd'}?image_column=pixels&split=0.8,0.1,0.1")


def test_missing_validation_is_cut_from_train(tmp_path: Path) -> None:
    train = datasets.Dataset.from_dict(
        {"image": pil_images(40), "label": [i % 2 for i in range(40)]}
    )
    test = datasets.Dataset.from_dict({"image": pil_images(6, seed=1), "label": [0, 1] * 3})
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "tt"))
    data = load_data(f"hf:{tmp_path / 'tt'}")
    assert len(data.test) == 6
    assert len(data.train) + len(data.val) == 40 and len(data.val) > 0
    assert data.train.label_names == {"tt": ["0", "1"]}


def test_multilabel_findings(tmp_path: Path) -> None:
    names = ["effusion", "nodule", "cardiomegaly"]
    features = datasets.Features(
        {"image": datasets.Image(), "findings": datasets.List(datasets.ClassLabel(names=names))}
    )
    rows = [[0], [1, 2], [], [2]] * 10
    ds = datasets.Dataset.from_dict({"image": pil_images(40), "findings": rows}, features=features)
    ds.save_to_disk(str(tmp_path / "cxr"))
    data = load_data(f"hf:{tmp_path / 'cxr'}?label_column=findings")
    cohort = data.train
    assert cohort.finding_names == names and cohort.multilabel
    assert sum(int(c.findings[:, 2].sum()) for c in data.splits().values()) == 20
    i = next(i for i, row in enumerate(cohort.findings) if row[1])
    assert cohort.text[i] == "cxr: nodule, cardiomegaly"


def test_folder_of_image_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    folder = tmp_path / "derm"
    for k, name in enumerate(("mole", "naevus")):
        for i, image in enumerate(pil_images(20, seed=k)):
            (folder / "train" / name).mkdir(parents=True, exist_ok=True)
            image.convert("RGB").save(folder / "train" / name / f"{i}.png")
    data = load_data(f"hf:{folder}")
    assert sum(len(c) for c in data.splits().values()) == 40
    assert data.train.label_names == {"derm": ["mole", "naevus"]}
    assert data.train.images.shape[1] == 1  # RGB files with equal channels count as grayscale


def test_offline_hub_id_fails_at_once() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE")
    start = time.perf_counter()
    with pytest.raises(DataError) as err:
        load_data("hf:someone/chest-xrays")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert "'someone/chest-xrays' is not a local folder" in str(err.value) and "OFFLINE" in str(
        err.value
    )
    assert "\n" not in str(err.value)


def test_unreachable_hub_fails_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # the .invalid domain never resolves
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"the hub \(https://hub.invalid\) cannot be reached"):
        load_data("hf:someone/chest-xrays")
    assert time.perf_counter() - start < 1.5


def test_hub_check_gives_up_on_a_hanging_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: object, **kwargs: object) -> None:
        time.sleep(2)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert not hub_reachable("https://huggingface.co", timeout_s=0.3)
    assert time.perf_counter() - start < 1.0


def test_hub_check_sees_a_listening_server() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert hub_reachable(f"http://127.0.0.1:{port}")
    assert not hub_reachable(f"http://127.0.0.1:{port}")


def test_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path / 'notes'} is neither a save_to_disk folder")
    ):
        load_data(f"hf:{tmp_path / 'notes'}")
    with pytest.raises(DataError, match="absent does not exist"):
        load_data(f"hf:{tmp_path / 'absent'}")


def test_bad_columns_and_images(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"not an image", "path": None}] * 4, "label": [0, 1, 0, 1]},
        features=datasets.Features(
            {"image": datasets.Image(decode=False), "label": datasets.Value("int64")}
        ),
    )
    ds.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(
        DataError, match=r"cannot read the image in row 0 of the train split, column 'image'"
    ):
        load_data(f"hf:{tmp_path / 'bad'}")
    with pytest.raises(
        DataError, match=r"option image_column='img': no such column; the data set has image, label"
    ):
        load_data(f"hf:{tmp_path / 'bad'}?image_column=img")
    with pytest.raises(DataError, match="unknown option 'column'"):
        load_data(f"hf:{tmp_path / 'bad'}?column=img")


def test_unusable_label_column_can_be_turned_off(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({"image": pil_images(30), "label": [0.5] * 30})
    ds.save_to_disk(str(tmp_path / "scores"))
    with pytest.raises(DataError, match=r"label column 'label' is Value\('float64'\)"):
        load_data(f"hf:{tmp_path / 'scores'}")
    data = load_data(f"hf:{tmp_path / 'scores'}?label_column=")
    assert (data.train.label == -1).all() and data.train.label_names == {}
