"""Per-modality, per-class and per-finding breakdowns on a multi-modality cohort with a
multi-label modality (cxr), and that every broken-down row names its group."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def mixed():
    from synthbench.data.source import load_data

    return load_data("phantom:oct,cxr?n=160&size=32")


def test_fd_and_prdc_break_down_by_modality_class_and_finding(mixed, tmp_path):
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    settings = EvalSettings(cache_dir=tmp_path, min_group=2)
    result = evaluate(mixed, mixed.test, ["fd", "prdc"], settings)
    fd = {tuple(sorted(r.qualifiers.items())): r for r in result.rows if r.metric == "fd"}
    # overall, then one row per modality, per OCT class and per CXR finding present in both sets
    assert () in fd
    assert (("modality", "oct"),) in fd and (("modality", "cxr"),) in fd
    oct_classes = {dict(k).get("class") for k in fd if dict(k).get("modality") == "oct"} - {None}
    assert oct_classes == set(mixed.train.label_names["oct"])
    cxr_keys = [dict(k) for k in fd if dict(k).get("modality") == "cxr" and len(k) == 2]
    assert cxr_keys and all("finding" in k and "class" not in k for k in cxr_keys)
    assert {k["finding"] for k in cxr_keys} <= set(mixed.train.finding_names)
    for key, row in fd.items():
        assert np.isfinite(row.value) and row.value >= 0, key
        group = dict(key)
        if group:  # the group's own sizes, not the whole sets'
            assert row.n_synth < len(mixed.test) and row.n_real < len(mixed.train)
    prdc_groups = {
        tuple(sorted(r.qualifiers.items())) for r in result.rows if r.metric == "coverage"
    }
    assert (("modality", "oct"),) in prdc_groups and (("modality", "cxr"),) in prdc_groups
