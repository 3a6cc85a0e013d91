"""A simulated rater for batches of phantom images, with access to the phantom truth, so the
feedback loop runs unattended in suites and tests.

- **Prompt fidelity**: what the prompt asks for, read by the report labeller, against what a judge
  sees in the image. The judge is a small CNN trained on real images of a fresh simulation (patients
  no generator saw); fidelity is ``1 + 2 p``, with ``p`` the judge's probability of the prompted
  class (for multi-label modalities, its mean agreement with the prompted findings).
- **Realism**: a critic (the same small CNN) trained to tell real images of the fresh simulation
  from the batch's images, cross-fitted so that no image is scored by a critic that saw it;
  realism is ``1 + 2 min(1, 2 p_real)`` (a critic that cannot tell gives ``p_real`` = 0.5: 3).
- **The rater**: both scores plus ``bias`` plus Gaussian noise of sd ``noise``, rounded and clipped
  to 1-3.

    synthbench feedback simulate batch/ [--noise 0.3] [--bias 0] [--seed 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.feedback.batch import FeedbackError, load_batch
from synthbench.feedback.store import DB_FILE, Rating, RatingStore
from synthbench.nets import CNNConfig

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

#: the fresh simulation's seed offset: far from the seeds data specs use by default
FRESH_SEED = 7919


@dataclass(frozen=True)
class RaterSettings:
    noise: float = 0.3
    bias: float = 0.0
    #: real patients per modality the judge and the critic train on
    n_real: int = 2000
    judge: CNNConfig = field(default_factory=lambda: CNNConfig(epochs=10))
    folds: int = 2
    seed: int = 0
    name: str = "simulated"

    def __post_init__(self) -> None:
        if not self.noise >= 0:
            raise FeedbackError(f"--noise must be >= 0, got {self.noise}")
        if self.folds < 2:
            raise FeedbackError(f"folds must be at least 2, got {self.folds}")


def simulate(batch_dir: str | Path, settings: RaterSettings | None = None) -> list[Rating]:
    """Rate every image of a batch and store the ratings (rater ``settings.name``)."""
    from synthbench.cohort import Cohort

    settings = settings or RaterSettings()
    folder = Path(batch_dir)
    batch = load_batch(folder)
    cohort = Cohort.load(folder / "cohort")
    if len(cohort) != len(batch.items):
        raise FeedbackError(
            f"{folder}: the cohort has {len(cohort)} images, the batch {len(batch.items)}"
        )
    realism, fidelity = expected_scores(cohort, settings)
    rng = np.random.default_rng([settings.seed, 0xFEED])
    noisy = [
        np.clip(np.rint(score + settings.bias + rng.normal(0, settings.noise, len(score))), 1, 3)
        for score in (realism, fidelity)
    ]
    ratings = [
        Rating(
            item_id=item.id,
            rater=settings.name,
            expertise="other",
            realism=int(noisy[0][i]),
            fidelity=int(noisy[1][i]),
        )
        for i, item in enumerate(batch.items)
    ]
    store = RatingStore(folder / DB_FILE, items=batch.item_ids())
    for rating in ratings:
        store.submit(rating)
    return ratings


def expected_scores(cohort: Cohort, settings: RaterSettings) -> tuple[np.ndarray, np.ndarray]:
    """The rater's scores before bias, noise and rounding: (realism, fidelity), each 1-3 per
    image (the realism critics learn from this cohort's own images)."""
    import torch

    fidelity = np.zeros(len(cohort))
    realism = np.zeros(len(cohort))
    with torch.random.fork_rng(devices=[]):  # the judges' training leaves no global state behind
        for modality in dict.fromkeys(cohort.modality.tolist()):
            rows = np.flatnonzero(cohort.modality == modality)
            real = _fresh_real(modality, cohort.image_shape[-1], settings)
            # a model of several modalities writes a grayscale one replicated to three channels
            subset = cohort.subset(rows).to_channels(real.images.shape[1])
            fidelity[rows] = _fidelity(subset, real, settings)
            realism[rows] = _realism(subset, real, settings)
    return realism, fidelity


def _fresh_real(modality: str, size: int, settings: RaterSettings):
    from synthbench.data.phantoms import MODALITIES
    from synthbench.data.source import load_data

    if modality not in MODALITIES:
        raise FeedbackError(
            f"the simulated rater knows the phantom modalities ({', '.join(MODALITIES)}), not {modality!r}"
        )
    seed = FRESH_SEED + settings.seed
    return load_data(f"phantom:{modality}?n={settings.n_real}&size={size}&seed={seed}").train


def _fidelity(batch: object, real: object, settings: RaterSettings) -> np.ndarray:
    """1 + 2 x the judge's probability of what each prompt asks for."""
    from synthbench.data.phantoms import get_modality, label_report
    from synthbench.nets import TrainedCNN

    judge = TrainedCNN.fit(real, settings.judge)
    _, probs = judge.predict(batch.images)
    modality = str(batch.modality[0])
    info = get_modality(modality).info
    out = np.empty(len(batch))
    for i, prompt in enumerate(batch.text):
        asked = label_report(prompt, modality).findings
        if judge.space.kind == "findings":
            want = np.array([name in asked for name in judge.space.names], float)
            out[i] = 1.0 - np.abs(probs[i] - want).mean()
        else:
            key = (modality, int(info.class_of(asked)))
            out[i] = probs[i][judge.space.keys.index(key)] if key in judge.space.keys else 0.0
    return 1.0 + 2.0 * out


def _realism(batch: object, real: object, settings: RaterSettings) -> np.ndarray:
    """1 + 2 min(1, 2 p_real) from critics cross-fitted over the batch."""
    from synthbench.cohort import Cohort
    from synthbench.nets import TrainedCNN

    n = len(batch)
    rng = np.random.default_rng([settings.seed, 0xC217])
    fold = rng.permutation(n) % settings.folds
    real_rows = rng.permutation(len(real))
    out = np.empty(n)
    for k in range(settings.folds):
        # the batch's other folds, repeated to as many as the real images (balanced classes)
        fake_rows = np.flatnonzero(fold != k)
        fake = batch.images[np.resize(fake_rows, len(real_rows))]
        critic_data = Cohort.from_arrays(
            np.concatenate([fake, real.images[real_rows]]),
            modality=["critic"] * (2 * len(real_rows)),
            label=np.r_[np.zeros(len(real_rows), np.int64), np.ones(len(real_rows), np.int64)],
            label_names={"critic": ["generated", "real"]},
        )
        critic = TrainedCNN.fit(critic_data, settings.judge)
        rows = np.flatnonzero(fold == k)
        _, probs = critic.predict(batch.images[rows])
        out[rows] = probs[:, critic.space.keys.index(("critic", 1))]
    return 1.0 + 2.0 * np.minimum(1.0, 2.0 * out)
