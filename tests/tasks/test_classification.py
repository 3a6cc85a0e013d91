"""classification_metrics against scikit-learn on the same predictions."""

import numpy as np
import pytest
import torch

from synthbench.tasks.classification import classification_metrics


def _values(metrics):
    return {m.metric: m.value for m in metrics}


def test_multiclass_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    # imbalanced classes and a model that favours class 0, so every average differs
    target = rng.choice(4, size=300, p=[0.55, 0.25, 0.15, 0.05])
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[target] + [0.8, 0, 0, 0]
    probs = torch.softmax(torch.from_numpy(logits), dim=1).float()
    got = _values(classification_metrics(probs, torch.from_numpy(target), multilabel=False))
    p = probs.double().numpy()
    p /= p.sum(1, keepdims=True)  # scikit-learn checks that each row sums to 1 in float64
    predicted = p.argmax(1)
    expected = {
        "accuracy": accuracy_score(target, predicted),
        "balanced_accuracy": balanced_accuracy_score(target, predicted),
        "auroc": roc_auc_score(target, p, multi_class="ovr", average="macro"),
        "f1": f1_score(target, predicted, average="macro"),
    }
    assert len({round(v, 6) for v in expected.values()}) == 4
    assert got == pytest.approx(expected, abs=1e-6)


def test_multilabel_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(1)
    target = (rng.random((300, 4)) < [0.5, 0.3, 0.15, 0.08]).astype(int)
    logits = rng.normal(size=(300, 4)) + 2.0 * target - [0.0, 0.5, 1.0, 1.5]
    probs = torch.sigmoid(torch.from_numpy(logits)).float()
    got = _values(classification_metrics(probs, torch.from_numpy(target).float(), multilabel=True))
    p = probs.double().numpy()
    predicted = (p >= 0.5).astype(int)
    labels = range(target.shape[1])
    expected = {  # per finding, then the macro mean
        "accuracy": np.mean([accuracy_score(target[:, j], predicted[:, j]) for j in labels]),
        "balanced_accuracy": np.mean(
            [balanced_accuracy_score(target[:, j], predicted[:, j]) for j in labels]
        ),
        "auroc": roc_auc_score(target, p, average="macro"),
        "f1": f1_score(target, predicted, average="macro"),
    }
    assert len({round(v, 6) for v in expected.values()}) == 4
    assert got == pytest.approx(expected, abs=1e-6)
