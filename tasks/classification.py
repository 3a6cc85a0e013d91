"""``classification``: a timm backbone trained on the mix, selected on real validation data.

>>> from synthbench.tasks.classification import ClassificationConfig
>>> ClassificationConfig.for_profile("smoke").steps
6

Classes are global ``(modality, class)`` pairs, so a multi-modality data set is one classifier;
multi-label data (chest X-ray findings) get one sigmoid per finding. Metrics on real test data
(torchmetrics): accuracy, balanced accuracy (macro recall; for multi-label, the mean over
findings of sensitivity and specificity), macro AUROC and macro F1. Artifact: ``predictions.csv``.

The quick profile trains ``small_resnet10_w16`` (timm's ResNet, one block per stage, 16-128
channels, stride-1 stem; see ``training.SMALL_RESNETS``) from scratch for 300 steps and keeps the
weights with the best validation accuracy (validation loss for multi-label data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.tasks.base import Metric, Task, TaskConfig, unlabelled

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.tasks.mixing import Mix


@dataclass(frozen=True)
class ClassificationConfig(TaskConfig):
    """Backbone and training budget (defaults: the ``quick`` profile)."""

    backbone: str = "small_resnet10_w16"  # see training.SMALL_RESNETS
    pretrained_path: str | None = None  # a local timm weights file; None trains from scratch
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    eval_every: int = 25
    # strength of an on-the-fly flip/shift/intensity augmentation; 0 = none. Off by default:
    # augmentation is measured as its own row (the ``classical-aug`` generator), so the
    # ``real-only`` row is the plain real-data control and the other rows are not confounded
    augment: float = 0.0
    select: str = (
        "accuracy"  # model selection on real validation: "accuracy" (single-label) or "loss"
    )

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


class Classification(Task):
    """Diagnosis classifier trained on real + synthetic images (see the module docstring)."""

    name = "classification"
    Config = ClassificationConfig

    @classmethod
    def serves(cls, data: RealData) -> str | None:
        return unlabelled(data)

    config: ClassificationConfig

    def _run(
        self, train: Mix, val: Cohort, test: Cohort, *, seed: int, out_dir: Path | None
    ) -> list[Metric]:
        import torch

        from synthbench.nets import ClassSpace
        from synthbench.tasks.training import build_backbone, fit_supervised, predict

        cfg = self.config
        space = ClassSpace.of(train.cohort)
        multilabel = space.kind == "findings"
        x, y = _xy(train.cohort, space, multilabel, "training")
        x_val, y_val = _xy(val, space, multilabel, "validation")
        x_test, y_test = _xy(test, space, multilabel, "test")
        model = build_backbone(
            cfg.backbone,
            in_chans=x.shape[1],
            num_classes=len(space.names),
            pretrained_path=cfg.pretrained_path,
        )
        model, _ = fit_supervised(
            model,
            x,
            y,
            x_val,
            y_val,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            eval_every=cfg.eval_every,
            seed=seed,
            multilabel=multilabel,
            augment_strength=cfg.augment,
            val_score=None if multilabel or cfg.select == "loss" else _accuracy,
        )
        logits = predict(model, x_test)
        probs = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)
        metrics = classification_metrics(probs, y_test, multilabel=multilabel)
        if out_dir is not None:
            self.artifacts_["predictions"] = _write_predictions(
                out_dir / "predictions.csv", test, space, probs.numpy(), y_test.numpy(), multilabel
            )
        return metrics


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float((logits.argmax(1) == target).float().mean())


def _xy(cohort: Cohort, space, multilabel: bool, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from synthbench.tasks.training import images_tensor

    rows, targets = space.targets(cohort)
    if len(rows) < len(cohort) and part != "training":
        raise SynthbenchError(
            f"classification: {len(cohort) - len(rows)} {part} images have a class the training "
            f"set lacks (training classes: {', '.join(space.names)})"
        )
    x = images_tensor(cohort.images[rows])
    y = torch.from_numpy(targets.astype(np.float32) if multilabel else targets.astype(np.int64))
    return x, y


def classification_metrics(
    probs: torch.Tensor, target: torch.Tensor, *, multilabel: bool
) -> list[Metric]:
    """Accuracy, balanced accuracy, macro AUROC and macro F1 with torchmetrics."""
    from torchmetrics.functional import classification as C

    k = probs.shape[1]
    if multilabel:
        t = target.long()
        acc = C.multilabel_accuracy(probs, t, num_labels=k, average="macro")
        sens = C.multilabel_recall(probs, t, num_labels=k, average="macro")
        spec = C.multilabel_specificity(probs, t, num_labels=k, average="macro")
        bal = (sens + spec) / 2
        auroc = C.multilabel_auroc(probs, t, num_labels=k, average="macro")
        f1 = C.multilabel_f1_score(probs, t, num_labels=k, average="macro")
    else:
        acc = C.multiclass_accuracy(probs, target, num_classes=k, average="micro")
        bal = C.multiclass_accuracy(probs, target, num_classes=k, average="macro")
        auroc = C.multiclass_auroc(probs, target, num_classes=k, average="macro")
        f1 = C.multiclass_f1_score(probs, target, num_classes=k, average="macro")
    return [
        Metric("accuracy", float(acc), True),
        Metric("balanced_accuracy", float(bal), True),
        Metric("auroc", float(auroc), True, {"average": "macro"}),
        Metric("f1", float(f1), True, {"average": "macro"}),
    ]


def _write_predictions(
    path: Path,
    test: Cohort,
    space,
    probs: np.ndarray,
    target: np.ndarray,
    multilabel: bool,
) -> Path:
    import pandas as pd

    names = list(space.names)
    frame = pd.DataFrame({"patient_id": test.patient_id, "modality": test.modality})
    if multilabel:
        for j, name in enumerate(names):
            frame[f"true_{name}"] = target[:, j].astype(int)
            frame[f"prob_{name}"] = probs[:, j]
    else:
        frame["true"] = [names[int(t)] for t in target]
        frame["predicted"] = [names[int(p)] for p in probs.argmax(1)]
        for j, name in enumerate(names):
            frame[f"prob_{name}"] = probs[:, j]
    frame.to_csv(path, index=False)
    return path
