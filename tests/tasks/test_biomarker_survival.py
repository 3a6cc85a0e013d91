"""biomarker-survival: the simulator's truth recovered, and every statistic equal to lifelines
re-run directly on the exported predictions."""

import numpy as np
import pandas as pd
import pytest

from synthbench.data.phantoms import get_modality
from synthbench.errors import SynthbenchError
from synthbench.tasks.base import create_task
from synthbench.tasks.biomarker_survival import biomarker_status
from synthbench.tasks.mixing import mix


@pytest.fixture(scope="module")
def result(chest_ct_data, tmp_path_factory):
    """A smoke run whose decision threshold is the median probability that the same model (same
    seed) gave in a first run, so both predicted groups have patients: at the default 0.5 a
    barely trained classifier calls every patient negative and there is nothing to compare."""
    data = chest_ct_data
    first = tmp_path_factory.mktemp("egfr-first")
    create_task("biomarker-survival", profile="smoke").run(
        data.train, data.val, data.test, seed=0, out_dir=first
    )
    threshold = float(np.median(pd.read_csv(first / "predictions.csv")["probability"]))
    out = tmp_path_factory.mktemp("egfr")
    task = create_task("biomarker-survival", profile="smoke", threshold=threshold)
    rows = task.run(data.train, data.val, data.test, seed=0, out_dir=out)
    return rows, task.artifacts_


def _value(rows, metric, **qualifiers):
    found = [
        r.value for r in rows if r.metric == metric and qualifiers.items() <= r.qualifiers.items()
    ]
    assert len(found) == 1, (metric, qualifiers, found)
    return found[0]


def test_true_status_recovers_the_simulated_hazard_ratio(result):
    rows, _ = result
    true_hr = get_modality("chest_ct").info.true_hazard_ratio
    assert true_hr == 0.5
    lower = _value(rows, "hazard_ratio_ci_lower", status="true")
    upper = _value(rows, "hazard_ratio_ci_upper", status="true")
    hr = _value(rows, "hazard_ratio", status="true")
    assert lower < true_hr < upper
    assert lower < hr < upper < 1.5  # an informative interval, not everything


def test_statistics_equal_lifelines_on_exported_predictions(result):
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import concordance_index

    rows, artifacts = result
    frame = pd.read_csv(artifacts["predictions"])
    assert set(frame.columns) >= {"time", "event", "true_status", "probability", "predicted_status"}
    for status in ("true", "predicted"):
        column = f"{status}_status"
        pos, neg = frame[frame[column] == 1], frame[frame[column] == 0]
        assert _value(rows, "n_patients", status=status, group="positive") == len(pos)
        assert _value(rows, "n_patients", status=status, group="negative") == len(neg)
        assert len(pos) >= 20 and len(neg) >= 20, (status, len(pos), len(neg))
        p = logrank_test(pos["time"], neg["time"], pos["event"], neg["event"]).p_value
        cph = CoxPHFitter().fit(frame[["time", "event", column]], "time", "event")
        lower, upper = np.exp(cph.confidence_intervals_.iloc[0])
        c_index = concordance_index(
            frame["time"], -cph.predict_partial_hazard(frame[[column]]), frame["event"]
        )
        assert _value(rows, "logrank_p", status=status) == pytest.approx(p, rel=1e-9)
        assert _value(rows, "hazard_ratio", status=status) == pytest.approx(
            float(np.exp(cph.params_.iloc[0])), rel=1e-6
        )
        assert _value(rows, "hazard_ratio_ci_lower", status=status) == pytest.approx(
            lower, rel=1e-6
        )
        assert _value(rows, "hazard_ratio_ci_upper", status=status) == pytest.approx(
            upper, rel=1e-6
        )
        assert _value(rows, "c_index", status=status) == pytest.approx(c_index, rel=1e-9)
    from sklearn.metrics import roc_auc_score

    assert _value(rows, "auroc") == pytest.approx(
        roc_auc_score(frame["true_status"], frame["probability"]), abs=1e-6
    )


def test_kaplan_meier_png(result):
    _, artifacts = result
    assert artifacts["kaplan_meier"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_status_from_her2_classes():
    from synthbench.data.source import load_data

    data = load_data("phantom:breast_mri?n=30&size=16")
    cohort = data.train
    stripped = cohort.subset(np.arange(len(cohort)))
    stripped.biomarker = np.full(len(cohort), np.nan)  # as a label-conditioned generator makes it
    assert np.array_equal(
        np.nan_to_num(biomarker_status(stripped), nan=-1), np.nan_to_num(cohort.biomarker, nan=-1)
    )


def test_synthetic_without_status_is_an_error(chest_ct_data):
    fake = chest_ct_data.val.subset(np.arange(len(chest_ct_data.val)))
    fake.biomarker = np.full(len(fake), np.nan)
    train = mix(chest_ct_data.train, fake, synth_ratio=0.1, seed=0)
    with pytest.raises(SynthbenchError, match="carries a"):
        create_task("biomarker-survival", profile="smoke").run(
            train, chest_ct_data.val, chest_ct_data.test, seed=0
        )


def test_report_conditioned_synthetic_images_count_with_their_patients_status(chest_ct_data):
    """minim's images made from real patients' reports carry those patients' EGFR status, so
    the task trains on them beside the real images."""
    from synthbench.generators.base import create_generator
    from synthbench.generators.conditions import Conditions

    data = chest_ct_data
    minim = create_generator("minim", profile="smoke", steps=2).fit(data.train, seed=0)
    like = data.train.subset(np.arange(120))
    made = minim.sample(Conditions.like(like), seed=0)
    assert np.array_equal(made.biomarker, like.biomarker, equal_nan=True)
    train = mix(data.train, made, synth_ratio=0.1, seed=0)
    task = create_task("biomarker-survival", profile="smoke")
    task.run(train, data.val, data.test, seed=0)
    with_status = int(np.isfinite(made.biomarker).sum())
    assert 0 < task.used_mix_.n_synth <= with_status
