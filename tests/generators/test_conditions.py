"""Conditions: balanced defaults, labels by name, 'like this cohort', clear errors."""

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.generators.conditions import CohortSchema, Conditions


@pytest.fixture(scope="module")
def schema(mixed_data):
    return CohortSchema.of(mixed_data.train)


def test_schema_records_training_data(schema, mixed_data):
    assert schema.modalities == ("oct", "fundus")
    assert schema.channels == {"oct": 1, "fundus": 3}
    assert schema.prompt_names == {"oct": "OCT", "fundus": "Fundus"}
    assert schema.image_shape == mixed_data.train.image_shape
    assert CohortSchema.from_json(schema.to_json()) == schema


def test_balanced_over_modalities_and_classes(schema):
    cond = schema.balanced(84, seed=0)
    resolved = schema.resolve(cond)
    mods = np.asarray(resolved.modality)
    assert (mods == "oct").sum() == (mods == "fundus").sum() == 42
    assert np.bincount(resolved.label[mods == "fundus"]).tolist() == [14, 14, 14]
    counts = np.bincount(resolved.label[mods == "oct"])
    assert counts.max() - counts.min() <= 1
    assert all(t.split(":")[0] in ("OCT", "Fundus") for t in cond.text)
    assert schema.balanced(84, seed=0) == cond and schema.balanced(84, seed=1) != cond


def test_labels_by_name_and_index(schema):
    r = schema.resolve(Conditions.from_labels(["drusen", 3, "2"], modality="oct"))
    assert r.label.tolist() == [1, 3, 2]


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (Conditions.from_labels(["tumour"], modality="oct"), "unknown oct class 'tumour'"),
        (Conditions.from_labels([7], modality="oct"), "out of range"),
        (Conditions.from_labels([0], modality="cxr"), "never seen in training"),
        (Conditions.from_labels([0]), "names no modality"),
    ],
)
def test_bad_conditions(schema, conditions, message):
    with pytest.raises(SynthbenchError, match=message):
        schema.resolve(conditions)


def test_like_copies_a_cohort(schema, mixed_data):
    cond = Conditions.like(mixed_data.val)
    r = schema.resolve(cond)
    assert list(r.modality) == mixed_data.val.modality.tolist()
    assert (r.findings == mixed_data.val.findings).all()
    assert list(r.text) == mixed_data.val.text


def test_cli_overrides_are_typed():
    from synthbench.generators.cgan import CGANConfig
    from synthbench.generators.diffusers_pipeline import DiffusersConfig
    from synthbench.generators.minim import MinimConfig

    assert MinimConfig.parse_override("steps=12") == ("steps", 12)
    assert MinimConfig.parse_override("minutes=1.5") == ("minutes", 1.5)
    assert MinimConfig.parse_override("guidance-scale=2") == ("guidance_scale", 2.0)
    assert MinimConfig.parse_override("train_text_encoder=false") == ("train_text_encoder", False)
    assert MinimConfig.parse_override("text_encoder_path=/m/enc") == ("text_encoder_path", "/m/enc")
    assert CGANConfig.parse_override("widths=64,32") == ("widths", (64, 32))
    key, value = DiffusersConfig.parse_override("image_size=64")
    assert key == "image_size" and value == 64 and isinstance(value, int)
    with pytest.raises(SynthbenchError, match="not a valid int"):
        MinimConfig.parse_override("steps=many")
    with pytest.raises(SynthbenchError, match="key one of"):
        MinimConfig.parse_override("stepz=3")


def test_config_hash_is_stable_and_sensitive():
    from synthbench.generators.minim import MinimConfig

    a = MinimConfig.for_profile("smoke")
    assert a.config_hash("minim") == MinimConfig.for_profile("smoke").config_hash("minim")
    assert a.config_hash("minim") != a.replace(steps=31).config_hash("minim")
    assert a.config_hash("minim") != a.config_hash("other")


def test_a_report_conditioned_image_carries_its_patients_biomarker(fit_generator):
    """Made from a patient's own report, a text-conditioned image stands for that patient and
    carries its biomarker status (EGFR on chest CT); a prompt rebuilt from findings claims none,
    and a label-conditioned generator (not asked for anything the status goes with) gives none."""
    from synthbench.data.source import load_data

    data = load_data("phantom:chest_ct?n=40&size=16")
    status = data.val.biomarker
    assert np.isfinite(status).any() and np.isnan(status).any()
    cond = Conditions.like(data.val)
    given = np.asarray([np.nan if v is None else v for v in cond.biomarker])
    assert np.array_equal(given, status, equal_nan=True)
    assert cond.subset(2, 7).biomarker == cond.biomarker[2:7]
    assert Conditions.like(data.val) == cond
    minim = fit_generator("minim", data)
    made = minim.sample(cond, seed=0)
    assert np.array_equal(made.biomarker, status, equal_nan=True)
    assert made.biomarker_name == data.val.biomarker_name
    chunks = list(minim.sample_chunks(cond, seed=0, chunk_size=8))
    assert np.array_equal(np.concatenate([c.biomarker for c in chunks]), status, equal_nan=True)
    rebuilt = Conditions(
        modality=cond.modality, label=cond.label, text=("",) * len(cond), biomarker=cond.biomarker
    )
    assert np.isnan(minim.sample(rebuilt, seed=0).biomarker).all()
    assert np.isnan(fit_generator("ddpm", data).sample(cond, seed=0).biomarker).all()
    with pytest.raises(SynthbenchError, match="3 biomarker values for 2 rows"):
        Conditions(modality=("x", "y"), label=(0, 0), text=("", ""), biomarker=(1.0, 0.0, 1.0))
