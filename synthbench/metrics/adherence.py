"""Prompt adherence: does the image show what its prompt asked for? (registry entry
``prompt-adherence``)

The report labeller reads the findings each prompt asks for; the classifier trained on the real
training images (the domain classifier) says which class (or findings) each image shows. The
score is the share of images where the two agree (exact set match for multi-label cohorts).
The same score for real test images with their own reports (``set=real-test``) is the ceiling
the classifier allows; per-class values use the prompt's class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.base import EvalContext, QualityMetric, Score

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.nets import TrainedCNN


def agreement(classifier: TrainedCNN, cohort: Cohort) -> tuple[np.ndarray, list[str]]:
    """Per image: whether the classifier agrees with the labeller's reading of its text (rows
    whose text the labeller cannot read are dropped), and the prompt's class name per kept row."""
    from synthbench.data.phantoms import get_modality, label_report

    rows, intended, names = [], [], []
    space = classifier.space
    for i, text in enumerate(cohort.text):
        read = label_report(text) if text else None
        if read is None or read.modality is None:
            continue
        info = get_modality(read.modality).info
        if space.kind == "classes":
            key = (read.modality, info.class_of(read.findings))
            if key not in space.keys:
                continue
            intended.append(space.keys.index(key))
            names.append(space.names[intended[-1]].split("/", 1)[-1])
        else:
            intended.append(np.array([f in read.findings for f in space.names]))
            names.append("+".join(sorted(read.findings)) or "no finding")
        rows.append(i)
    if not rows:
        return np.zeros(0, bool), []
    _, probs = classifier.predict(cohort.images[rows])
    if space.kind == "classes":
        agree = probs.argmax(axis=1) == np.asarray(intended)
    else:
        agree = ((probs > 0.5) == np.stack(intended)).all(axis=1)
    return agree, names


class PromptAdherence(QualityMetric):
    """See the module docstring."""

    name = "prompt-adherence"
    higher_is_better = True
    uses_features = False

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        domain = ctx.domain()
        classifier = domain.classifier
        out = []
        for set_name, cohort in (("synthetic", synthetic), ("real-test", ctx.real.test)):
            agree, names = agreement(classifier, cohort)
            if not len(agree):
                if set_name == "synthetic":
                    raise SynthbenchError(
                        "prompt adherence needs synthetic images with prompts the report labeller can read "
                        '("<Modality>: findings")'
                    )
                continue
            base = {} if set_name == "synthetic" else {"set": "real-test"}
            out.append(
                Score(
                    "prompt_adherence",
                    float(agree.mean()),
                    True,
                    base,
                    n_synth=len(agree),
                    uses_features=False,
                    network=domain.identity,
                )
            )
            if ctx.breakdown:
                for name in sorted(set(names)):
                    sel = np.array([n == name for n in names])
                    out.append(
                        Score(
                            "prompt_adherence",
                            float(agree[sel].mean()),
                            True,
                            {**base, "class": name},
                            n_synth=int(sel.sum()),
                            uses_features=False,
                            network=domain.identity,
                        )
                    )
        return out
