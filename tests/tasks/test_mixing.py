from collections import Counter

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.tasks.mixing import RATIOS, allocate, mix, real_only, synthetic_needed


def _synthetic(data, n_per_class=240):
    """A fake synthetic cohort: real test images relabelled with a generator source."""
    from synthbench.cohort import Cohort

    pool = Cohort.concat([data.train] * 10)
    pool.source = ["fakegen@abc123?seed=0"] * len(pool)
    return pool


def test_ratios_are_the_benchmark_grid():
    assert RATIOS == (0, 1, 2, 5, 10, 20)


@pytest.mark.parametrize("ratio", [0, 1, 2, 5])
def test_ratio_counts_and_class_balance(oct_data, ratio):
    m = mix(oct_data.train, _synthetic(oct_data), synth_ratio=ratio, seed=1)
    assert m.n_real == len(oct_data.train)
    assert m.n_synth == round(ratio * len(oct_data.train))
    real = Counter(oct_data.train.label.tolist())
    synth = Counter(m.cohort.label[m.is_synthetic].tolist())
    for k, v in real.items():
        assert synth.get(k, 0) == ratio * v
    ctx = m.row_context()
    assert ctx["synth_ratio"] == ratio and ctx["n_synth"] == m.n_synth
    assert ctx["generator"] == ("fakegen" if ratio else "real-only")


def test_real_fraction_keeps_patients_stratified(oct_data):
    m = mix(oct_data.train, _synthetic(oct_data), synth_ratio=2, real_fraction=0.5, seed=0)
    assert m.n_real == len(oct_data.train) // 2
    assert m.n_synth == 2 * m.n_real
    assert len(set(Counter(m.cohort.label[~m.is_synthetic].tolist()).values())) == 1
    assert m.qualifiers() == {}
    assert m.row_context()["real_fraction"] == 0.5


def test_synthetic_only(oct_data):
    m = mix(oct_data.train, _synthetic(oct_data), synthetic_only=True, seed=0)
    assert m.n_real == 0 and m.n_synth == len(oct_data.train)
    assert m.qualifiers() == {"training": "synthetic-only"}


def test_mix_is_deterministic_and_seeded(oct_data):
    syn = _synthetic(oct_data)
    a = mix(oct_data.train, syn, synth_ratio=1, seed=3)
    b = mix(oct_data.train, syn, synth_ratio=1, seed=3)
    c = mix(oct_data.train, syn, synth_ratio=1, seed=4)
    assert a.cohort.patient_id == b.cohort.patient_id
    assert np.array_equal(a.cohort.images, b.cohort.images)
    assert not np.array_equal(a.cohort.images, c.cohort.images)


def test_errors_are_clear(oct_data):
    with pytest.raises(SynthbenchError, match="missing"):
        mix(oct_data.train, None, synth_ratio=1)
    with pytest.raises(SynthbenchError, match="too small"):
        mix(oct_data.train, oct_data.test, synth_ratio=20)
    with pytest.raises(SynthbenchError, match="real_fraction"):
        mix(oct_data.train, real_fraction=0)
    with pytest.raises(SynthbenchError, match="protocol"):
        mix(oct_data.train, protocol="other")


def test_allocate_and_needed(oct_data):
    quota = allocate(10, {("a",): 1, ("b",): 1, ("c",): 2})
    assert quota[("c",)] == 5 and sorted([quota[("a",)], quota[("b",)]]) == [2, 3]
    need = synthetic_needed(oct_data.train, synth_ratio=5)
    assert sum(need.values()) == 5 * len(oct_data.train)
    assert real_only(oct_data.train).n_synth == 0
