"""``biomarker-survival``: a biomarker classifier, and survival of test patients grouped by it.

>>> from synthbench.tasks.biomarker_survival import BiomarkerSurvivalConfig
>>> BiomarkerSurvivalConfig.for_profile("smoke").threshold
0.5

The classifier (a timm backbone) learns the cohort's biomarker (EGFR mutation on ``chest_ct``,
HER2 on ``breast_mri``) from the training samples whose status is known, selected on real
validation data. On real test patients with a status and a survival time it reports AUROC,
accuracy and balanced accuracy; then groups the patients by predicted status (probability >=
``threshold``) and, as the reference, by true status, and for each grouping fits (lifelines)
Kaplan-Meier curves per group, the log-rank test, and a univariate Cox model of the group
indicator: hazard ratio of the positive group with its confidence interval, Wald p and the
model's C-index. Artifacts: ``predictions.csv`` (one row per test patient: time, event, true
status, probability, predicted status) and ``kaplan_meier.png``.

Synthetic samples count when they carry a status: their ``biomarker`` value, or a class that
names it (breast MRI's ``her2_positive`` / ``her2_negative`` classes). A text-conditioned
generator's image made from a real patient's own report (a suite's same-data samples) carries
that patient's status, as a class-conditioned image carries the class it was asked for: the
report describes what goes with a latent status such as EGFR on chest CT (ground glass, air
bronchograms). Class-conditioned images and prompts rebuilt from findings carry none, so a mix
whose synthetic part has no status is an error rather than a silent real-only run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.tasks.base import Metric, Task, TaskConfig

if TYPE_CHECKING:
    import pandas as pd

    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.tasks.mixing import Mix

GROUPINGS = ("predicted", "true")


@dataclass(frozen=True)
class BiomarkerSurvivalConfig(TaskConfig):
    """Classifier and analysis settings (defaults: the ``quick`` profile)."""

    backbone: str = "test_efficientnet"
    pretrained_path: str | None = None
    steps: int = 400
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    eval_every: int = 25
    augment: float = 1.0
    threshold: float = 0.5  # predicted positive when the probability is at least this
    ci_level: float = 0.95

    PROFILES = {  # noqa: RUF012
        "smoke": {"steps": 6, "batch_size": 32, "eval_every": 3},
        "quick": {},
        "standard": {
            "backbone": "resnet18",
            "steps": 3000,
            "batch_size": 128,
            "eval_every": 100,
            "lr": 1e-3,
        },
    }


def biomarker_status(cohort: Cohort) -> np.ndarray:
    """Status per sample: the ``biomarker`` column, else 1/0 from a class named after the
    biomarker (``her2_positive``) or its negation (``her2_negative``), else nan."""
    status = np.asarray(cohort.biomarker, np.float64).copy()
    name = cohort.biomarker_name
    if not name:
        return status
    negative = name.replace("positive", "negative") if "positive" in name else None
    for mod, names in cohort.label_names.items():
        for k, class_name in enumerate(names):
            value = 1.0 if class_name == name else 0.0 if class_name == negative else None
            if value is None:
                continue
            rows = (cohort.modality == mod) & (cohort.label == k) & np.isnan(status)
            status[rows] = value
    return status


class BiomarkerSurvival(Task):
    """Biomarker classifier and survival separation (see the module docstring)."""

    name = "biomarker-survival"
    Config = BiomarkerSurvivalConfig
    config: BiomarkerSurvivalConfig

    @classmethod
    def serves(cls, data: RealData) -> str | None:
        if np.isnan(biomarker_status(data.train)).all():
            return "its training images carry no biomarker status (e.g. EGFR on chest_ct)"
        test = data.test
        if not (np.isfinite(test.survival_time) & (test.survival_event >= 0)).any():
            return "its test patients have no survival times"
        return None

    def _run(
        self, train: Mix, val: Cohort, test: Cohort, *, seed: int, out_dir: Path | None
    ) -> list[Metric]:
        import pandas as pd
        import torch
        from torchmetrics.functional import classification as C

        from synthbench.tasks.training import build_backbone, fit_supervised, images_tensor, predict

        cfg = self.config
        status = biomarker_status(train.cohort)
        rows = np.flatnonzero(~np.isnan(status))
        used = train.subset(rows)
        if train.n_synth and not used.n_synth:
            raise SynthbenchError(
                f"biomarker-survival: none of the {train.n_synth} synthetic images carries a "
                f"{train.cohort.biomarker_name or 'biomarker'} status (the generator cannot make "
                "it); run this task on real data or with a generator that labels the biomarker"
            )
        self.used_mix_ = used
        y = status[rows].astype(np.int64)
        if len(np.unique(y)) < 2:
            raise SynthbenchError(
                "biomarker-survival: the training set needs both biomarker classes, "
                f"has {len(y)} samples of status {sorted(set(y.tolist()))}"
            )
        val_status = biomarker_status(val)
        val_rows = np.flatnonzero(~np.isnan(val_status))
        test_status = biomarker_status(test)
        test_rows = np.flatnonzero(
            ~np.isnan(test_status) & np.isfinite(test.survival_time) & (test.survival_event >= 0)
        )
        if len(val_rows) == 0 or len(test_rows) == 0:
            raise SynthbenchError(
                "biomarker-survival: validation and test need patients with a biomarker status "
                f"(and test a survival time); have {len(val_rows)} and {len(test_rows)}"
            )
        counts = np.bincount(y, minlength=2).astype(np.float32)
        class_weight = torch.from_numpy(counts.sum() / (2 * np.maximum(counts, 1)))
        model = build_backbone(
            cfg.backbone,
            in_chans=train.cohort.images.shape[1],
            num_classes=2,
            pretrained_path=cfg.pretrained_path,
        )
        model, _ = fit_supervised(
            model,
            images_tensor(used.cohort.images),
            torch.from_numpy(y),
            images_tensor(val.images[val_rows]),
            torch.from_numpy(val_status[val_rows].astype(np.int64)),
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            eval_every=cfg.eval_every,
            seed=seed,
            class_weight=class_weight,
            augment_strength=cfg.augment,
        )
        logits = predict(model, images_tensor(test.images[test_rows]))
        prob = torch.softmax(logits, dim=1)[:, 1]
        truth = torch.from_numpy(test_status[test_rows].astype(np.int64))
        frame = pd.DataFrame(
            {
                "patient_id": [test.patient_id[i] for i in test_rows],
                "time": test.survival_time[test_rows],
                "event": test.survival_event[test_rows].astype(int),
                "true_status": truth.numpy(),
                "probability": prob.numpy().astype(np.float64),
                "predicted_status": (prob.numpy() >= cfg.threshold).astype(int),
            }
        )
        metrics = [
            Metric(
                "accuracy", float(C.binary_accuracy(prob, truth, threshold=cfg.threshold)), True
            ),
            Metric(
                "balanced_accuracy",
                float(
                    C.multiclass_accuracy(
                        torch.stack([1 - prob, prob], 1), truth, num_classes=2, average="macro"
                    )
                ),
                True,
            ),
        ]
        if len(truth.unique()) == 2:
            metrics.append(Metric("auroc", float(C.binary_auroc(prob, truth)), True))
        analyses = {}
        for grouping in GROUPINGS:
            column = f"{grouping}_status"
            analyses[grouping] = survival_analysis(frame, column, ci_level=cfg.ci_level)
            metrics += [
                Metric(m.metric, m.value, m.higher_is_better, {"status": grouping, **m.qualifiers})
                for m in analyses[grouping]
            ]
        if out_dir is not None:
            frame.to_csv(out_dir / "predictions.csv", index=False)
            self.artifacts_["predictions"] = out_dir / "predictions.csv"
            self.artifacts_["kaplan_meier"] = plot_kaplan_meier(
                frame, out_dir / "kaplan_meier.png", biomarker=train.cohort.biomarker_name or ""
            )
        return metrics


def survival_analysis(frame: pd.DataFrame, column: str, *, ci_level: float = 0.95) -> list[Metric]:
    """Group sizes, Kaplan-Meier medians, log-rank p and a univariate Cox model of ``column``
    (1 = positive group) over ``frame``'s ``time`` and ``event``, with lifelines.

    Statistics that a grouping cannot support (an empty group, no events) are left out, with
    a warning; the group sizes are always reported.
    """
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    out: list[Metric] = []
    groups = {"positive": frame[frame[column] == 1], "negative": frame[frame[column] == 0]}
    for group, part in groups.items():
        out.append(Metric("n_patients", float(len(part)), None, {"group": group}))
        if len(part):
            km = KaplanMeierFitter().fit(part["time"], part["event"])
            if np.isfinite(km.median_survival_time_):
                out.append(
                    Metric(
                        "median_survival", float(km.median_survival_time_), None, {"group": group}
                    )
                )
    if min(len(p) for p in groups.values()) == 0 or frame["event"].sum() == 0:
        warnings.warn(
            f"survival analysis by {column}: a group is empty or there are no events; "
            "no log-rank test or Cox model",
            stacklevel=2,
        )
        return out
    pos, neg = groups["positive"], groups["negative"]
    test = logrank_test(pos["time"], neg["time"], pos["event"], neg["event"])
    out.append(Metric("logrank_p", float(test.p_value), False))
    cph = CoxPHFitter(alpha=1.0 - ci_level)
    try:
        cph.fit(frame[["time", "event", column]], duration_col="time", event_col="event")
    except Exception as exc:  # lifelines raises ConvergenceError and linear-algebra errors
        warnings.warn(f"Cox model by {column} failed: {exc}", stacklevel=2)
        return out
    lower, upper = np.exp(cph.confidence_intervals_.loc[column].to_numpy())
    level = f"{round(ci_level * 100):d}%"
    out += [
        Metric("hazard_ratio", float(cph.hazard_ratios_[column]), None),
        Metric("hazard_ratio_ci_lower", float(lower), None, {"level": level}),
        Metric("hazard_ratio_ci_upper", float(upper), None, {"level": level}),
        Metric("cox_p", float(cph.summary.loc[column, "p"]), False),
        Metric("c_index", float(cph.concordance_index_), True),
    ]
    return out


def plot_kaplan_meier(frame: pd.DataFrame, path: Path, *, biomarker: str = "") -> Path:
    """Kaplan-Meier curves per group, by predicted and by true status, side by side (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, grouping in zip(axes, GROUPINGS):
        column = f"{grouping}_status"
        for value, label, colour in ((1, "positive", "tab:blue"), (0, "negative", "tab:red")):
            part = frame[frame[column] == value]
            if len(part):
                KaplanMeierFitter(label=f"{biomarker or 'biomarker'} {label} (n={len(part)})").fit(
                    part["time"], part["event"]
                ).plot_survival_function(ax=ax, color=colour, ci_show=True)
        ax.set_title(f"grouped by {grouping} status")
        ax.set_xlabel("time (months)")
    axes[0].set_ylabel("survival probability")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
