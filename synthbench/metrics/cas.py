"""Classification accuracy score (CAS; Ravuri & Vinyals 2019): train a classifier on the
synthetic images only, test it on real test images (registry entry ``cas``).

Single-label cohorts: accuracy and balanced accuracy on the real test split (a real test class
the synthetic set lacks counts as always wrong), and recall per class. Multi-label cohorts: macro
AUROC over findings. The same small CNN trained on the real training split gives the
``train=real`` row beside it: the score a generator should approach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.base import EvalContext, QualityMetric, Score, class_name
from synthbench.nets import CNNConfig, TrainedCNN

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


def classifier_scores(
    model: TrainedCNN, test: Cohort, *, per_class: bool
) -> list[tuple[str, float, dict[str, str]]]:
    """``(metric, value, qualifiers)`` of ``model`` on ``test``."""
    _, probs = model.predict(test.images)
    if model.space.kind == "findings":
        from sklearn.metrics import roc_auc_score

        aucs = []
        for j, f in enumerate(model.space.names):
            if f not in test.finding_names:
                continue
            truth = test.findings[:, test.finding_names.index(f)]
            if 0 < truth.sum() < len(truth):
                aucs.append(roc_auc_score(truth, probs[:, j]))
        if not aucs:
            return []
        return [("cas_macro_auroc", float(np.mean(aucs)), {})]
    keys = model.space.keys
    pred = [keys[k] for k in probs.argmax(axis=1)]
    truth = [(str(m), int(lbl)) for m, lbl in zip(test.modality, test.label)]
    rows = [i for i, t in enumerate(truth) if t[1] >= 0]
    if not rows:
        raise SynthbenchError("the real test split has no class labels to score a classifier on")
    correct = np.array([pred[i] == truth[i] for i in rows])
    classes = sorted({truth[i] for i in rows})
    recalls = {
        c: float(np.mean([correct[j] for j, i in enumerate(rows) if truth[i] == c]))
        for c in classes
    }
    out = [
        ("cas", float(correct.mean()), {}),
        ("cas_balanced", float(np.mean(list(recalls.values()))), {}),
    ]
    if per_class:
        multi = len({m for m, _ in classes}) > 1
        for (m, lbl), r in recalls.items():
            q = {"class": class_name(test, m, lbl)} | ({"modality": m} if multi else {})
            out.append(("cas_recall", r, q))
    return out


class CAS(QualityMetric):
    """See the module docstring."""

    name = "cas"
    higher_is_better = True
    uses_features = False
    config = CNNConfig()

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        from dataclasses import replace

        if not (synthetic.label >= 0).any() and not synthetic.findings.any():
            raise SynthbenchError(
                "CAS needs labelled synthetic images (class labels, findings, or prompts the report labeller reads)"
            )
        test = ctx.real.test
        model = TrainedCNN.fit(synthetic, replace(self.config, seed=ctx.seed))
        out = []
        for train_name, clf, n in (
            ("synthetic", model, len(synthetic)),
            ("real", ctx.domain().classifier, len(ctx.real.train)),
        ):
            for metric, value, q in classifier_scores(clf, test, per_class=ctx.breakdown):
                out.append(
                    Score(
                        metric,
                        value,
                        True,
                        {**q, "train": train_name},
                        n_real=len(test),
                        n_synth=n,
                        uses_features=False,
                    )
                )
        return out
