"""Every built-in task at the smoke profile: rows, mix recorded, artifacts, determinism."""

import dataclasses

import pytest

from synthbench.config import PROFILES
from synthbench.registry import builtin_names, tasks
from synthbench.results import ResultRow, read_rows
from synthbench.tasks.base import Task, create_task, get_task_class
from synthbench.tasks.mixing import mix

TASK_NAMES = builtin_names(tasks)

DATA = {
    "classification": "oct",
    "report-generation": "oct",
    "ssl": "oct",
    "biomarker-survival": "chest_ct",
}
ARTIFACTS = {
    "classification": {"rows", "predictions"},
    "report-generation": {"rows", "predictions"},
    "ssl": {"rows"},
    "biomarker-survival": {"rows", "predictions", "kaplan_meier"},
}


@pytest.fixture
def data(request, oct_data, chest_ct_data):
    return {"oct": oct_data, "chest_ct": chest_ct_data}[DATA[request.param]]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_profiles(name):
    cls = get_task_class(name)
    assert issubclass(cls, Task) and cls.name == name
    configs = [cls.Config.for_profile(p) for p in PROFILES]
    assert len({dataclasses.astuple(c) for c in configs}) == 3  # smoke, quick, standard differ
    with pytest.raises(dataclasses.FrozenInstanceError):
        configs[0].steps = 1


@pytest.mark.parametrize(("name", "data"), [(n, n) for n in TASK_NAMES], indirect=["data"])
def test_smoke_run(name, data, tmp_path):
    # the real validation split plays "synthetic" so the mix has both parts
    train = mix(data.train, data.val, synth_ratio=0.2, seed=0)
    task = create_task(name, profile="smoke")
    rows = task.run(train, data.val, data.test, seed=0, out_dir=tmp_path)
    assert rows and all(isinstance(r, ResultRow) for r in rows)
    assert {r.task for r in rows} == {name}
    assert {r.seed for r in rows} == {0}
    for r in rows:
        assert r.synth_ratio == 0.2 and r.n_real > 0 and r.n_synth > 0
        assert r.dataset == data.test.source[0] and r.protocol == "same-data"
        assert r.profile == "smoke" and r.task_config_hash == task.config.config_hash(name)
        assert r.patient_split == "patient"
    assert set(task.artifacts_) == ARTIFACTS[name]
    assert all(p.is_file() and p.stat().st_size > 0 for p in task.artifacts_.values())
    assert [r.value for r in read_rows(tmp_path / "rows.jsonl")] == [r.value for r in rows]
    again = create_task(name, profile="smoke").run(train, data.val, data.test, seed=0)
    assert [(r.metric, r.qualifiers, r.value) for r in again] == [
        (r.metric, r.qualifiers, r.value) for r in rows
    ]


def test_real_cohort_means_real_only(oct_data):
    rows = create_task("classification", profile="smoke", steps=2, eval_every=1).run(
        oct_data.train, oct_data.val, oct_data.test, seed=1
    )
    assert {(r.synth_ratio, r.n_synth, r.generator) for r in rows} == {(0.0, 0, "real-only")}
    assert {r.metric for r in rows} == {"accuracy", "balanced_accuracy", "auroc", "f1"}
    assert all(0.0 <= r.value <= 1.0 for r in rows)


def test_rows_say_when_the_data_was_split_by_image(oct_data):
    from synthbench.data.source import image_level

    # a data set without patient ids: its cohorts' descriptions say so (see data.source)
    test = dataclasses.replace(oct_data.test, description=image_level(oct_data.test.description))
    task = create_task("classification", profile="smoke", steps=2, eval_every=1)
    rows = task.run(oct_data.train, oct_data.val, test, seed=0)
    assert rows and {r.patient_split for r in rows} == {"image"}


def test_multilabel_classification():
    from synthbench.data.source import load_data

    data = load_data("phantom:cxr?n=48&size=16")
    rows = create_task("classification", profile="smoke", steps=2, eval_every=1).run(
        data.train, data.val, data.test, seed=0
    )
    assert {r.metric for r in rows} == {"accuracy", "balanced_accuracy", "auroc", "f1"}


def test_unknown_setting_is_an_error():
    from synthbench.errors import SynthbenchError

    with pytest.raises(SynthbenchError, match="unknown setting"):
        create_task("ssl", profile="smoke", stepz=3)


@pytest.mark.parametrize(("name", "data"), [(n, n) for n in TASK_NAMES], indirect=["data"])
def test_standard_profile_networks_run(name, data):
    """The standard profile's networks (resnet18, the larger decoder) build and train end to end;
    only the budget is cut to a few steps so the wiring is checked on a CPU."""
    budget = {"steps": 2, "batch_size": 8}
    if "eval_every" in {f.name for f in dataclasses.fields(get_task_class(name).Config)}:
        budget["eval_every"] = 1
    train = mix(data.train, data.val, synth_ratio=0.2, seed=0)
    task = create_task(name, profile="standard", **budget)
    assert task.config.backbone == "resnet18"
    rows = task.run(train, data.val, data.test, seed=0)
    assert rows and all(r.profile == "standard" for r in rows)
    assert {r.task_config_hash for r in rows} == {task.config.config_hash(name)}
