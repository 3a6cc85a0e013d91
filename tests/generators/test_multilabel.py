"""Label-conditioned generators (ddpm, cgan, cvae) on a multi-label modality (chest X-ray
findings): the asked-for findings reach the network, and single-label data keep an ordinary
class embedding."""

import numpy as np
import pytest

from synthbench.generators.conditions import CohortSchema, Conditions
from synthbench.generators.neural import class_ids, condition_codes, condition_slots


@pytest.fixture(scope="module")
def cxr_oct():
    from synthbench.data.source import load_data

    return load_data("phantom:oct,cxr?n=30&size=16")


def test_single_label_codes_are_one_hot_classes(cxr_oct):
    oct_only = cxr_oct.train.subset(np.flatnonzero(cxr_oct.train.modality == "oct"))
    schema = CohortSchema.of(oct_only)
    assert condition_slots(schema) == schema.class_index()
    findings = np.zeros((len(oct_only), len(schema.finding_names)), bool)
    codes = condition_codes(schema, oct_only.modality, oct_only.label, findings).numpy()
    expected = np.eye(len(schema.class_index()), dtype=np.float32)[
        class_ids(schema, oct_only.modality, oct_only.label)
    ]
    np.testing.assert_array_equal(codes, expected)


def test_multi_label_codes_carry_findings(cxr_oct):
    schema = CohortSchema.of(cxr_oct.train)
    slots = condition_slots(schema)
    cxr_slots = [k for k in slots if k[0] == "cxr" and isinstance(k[1], str)]
    assert {k[1] for k in cxr_slots} == set(schema.finding_names)
    conditions = schema.resolve(
        Conditions(
            modality=("cxr", "cxr", "cxr", "oct"),
            label=(-1, -1, -1, 1),
            text=("",) * 4,
            findings=((), ("effusion",), ("effusion", "nodule"), ()),
        )
    )
    codes = condition_codes(schema, conditions.modality, conditions.label, conditions.findings)
    codes = codes.numpy()
    np.testing.assert_allclose(codes.sum(1), 1.0)
    cxr_class = schema.class_index()[("cxr", -1)]
    assert codes[0, cxr_class] == 1.0  # no finding: the modality's class alone
    assert codes[1, slots[("cxr", "effusion")]] == pytest.approx(0.5)
    assert codes[2, slots[("cxr", "nodule")]] == pytest.approx(1 / 3)
    assert codes[3, schema.class_index()[("oct", 1)]] == 1.0 and codes[3].max() == 1.0


@pytest.mark.parametrize("name", ["ddpm", "cgan", "cvae"])
def test_findings_change_the_images(name, cxr_oct, fit_generator):
    """Same seed, same noise: asking for other findings gives other images."""
    gen = fit_generator(name, cxr_oct)
    n = 4

    def ask(findings):
        return Conditions(
            modality=("cxr",) * n, label=(-1,) * n, text=("",) * n, findings=(findings,) * n
        )

    none = gen.sample(ask(()), seed=2).images
    effusion = gen.sample(ask(("effusion",)), seed=2).images
    assert np.array_equal(none, gen.sample(ask(()), seed=2).images)
    assert not np.array_equal(none, effusion)
    cohort = gen.sample(ask(("effusion",)), seed=2)
    column = cohort.finding_names.index("effusion")
    assert cohort.findings[:, column].all()
