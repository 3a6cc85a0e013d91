"""Can a critic tell a suite's sampled images from real ones? A classifier two-sample test per generator.

    python benchmarks/perf/critic_check.py benchmarks/transfer_budget.toml --data brain \
        --cache CACHE --out results/critic-check/transfer-budget

FD compares two sets of features by their means and covariances; on brain MRI at 32 px it ranks
noisy blobs with no skull beside images that draw the skull, the ventricles and the tumours
(docs/transfer.md). A critic that learns to tell real images from a generator's asks the question
directly. This script takes the images a finished run of the suite sampled for its first quality
block on ``--data`` (read from the run's cell cache, as ``pixel_fd.py`` does) and, for each
generator, trains the simulated rater's realism critic (the same small CNN and recipe) on the
training split of the block's ``extractor_data`` (a fresh simulation none of the generators or the
test split hold) against the generator's images, cross-fitted over ``--folds`` folds of those
images so that no image is scored by a critic that saw it. Each fold's critic also scores a fold
of the suite's real test split (which no critic saw), so that both sets are scored alike. The figure is the AUROC of real test images against
the generator's, by the critic's probability of "real": 0.5 when the critic cannot tell them
apart, 1 when it always can. The floor is the same test run on real images in the generator's
place: the suite's real training split.

It writes ``critic.md`` (each generator's AUROC beside its FD in the block's features),
``pairs.md`` (each adapted generator's AUROC minus scratch's of the same training seed, named as
``transfer_tables.py`` reads them), ``scores.json`` and ``manifest.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

FLOOR = "real training split"


def critic_auroc(
    real_pool: np.ndarray, test: np.ndarray, images: np.ndarray, *, folds: int, seed: int
) -> float:
    """AUROC of ``test`` (real, unseen) against ``images`` by cross-fitted critics' p(real),
    each critic trained on ``real_pool`` against the other folds of ``images``."""
    from sklearn.metrics import roc_auc_score

    from synthbench.cohort import Cohort
    from synthbench.feedback.rater import RaterSettings
    from synthbench.nets import TrainedCNN

    config = RaterSettings().judge
    rng = np.random.default_rng([seed, 0xC2])
    fold = rng.permutation(len(images)) % folds
    test_fold = rng.permutation(len(test)) % folds
    p_images = np.empty(len(images))
    p_test = np.empty(len(test))
    for k in range(folds):
        fake = images[np.resize(np.flatnonzero(fold != k), len(real_pool))]
        data = Cohort.from_arrays(
            np.concatenate([fake, real_pool]),
            modality=["critic"] * (2 * len(real_pool)),
            label=np.r_[np.zeros(len(real_pool), np.int64), np.ones(len(real_pool), np.int64)],
            label_names={"critic": ["generated", "real"]},
        )
        critic = TrainedCNN.fit(data, config)
        real_class = critic.space.keys.index(("critic", 1))
        rows = np.flatnonzero(fold == k)
        p_images[rows] = critic.predict(images[rows])[1][:, real_class]
        rows = np.flatnonzero(test_fold == k)
        p_test[rows] = critic.predict(test[rows])[1][:, real_class]
    truth = np.r_[np.ones(len(test)), np.zeros(len(images))]
    return float(roc_auc_score(truth, np.r_[p_test, p_images]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--data", required=True, help="the suite's data key")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cell cache")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/critic_check.py")
    if args.folds < 2:
        sys.exit(f"error: --folds must be at least 2, got {args.folds}")
    started = time.perf_counter()

    import pandas as pd
    import torch
    from pixel_fd import scored_images, suite_samples
    from transfer_tables import fd_pairs

    from synthbench.data.source import load_data
    from synthbench.machine import write_script_manifest
    from synthbench.runner.plan import load_payload_data

    torch.set_num_threads(1)
    check, want, samples, own_fd, draws = suite_samples(args.suite, args.data, args.cache)
    real = load_payload_data(want)
    channels = real.test.images.shape[1]
    generated = scored_images(args.cache, samples, draws, channels)
    pool = load_data(check.extractor_data).train.to_channels(channels).images
    test = real.test.images
    scores = {FLOOR: critic_auroc(pool, test, real.train.images, folds=args.folds, seed=0)}
    print(f"{FLOOR}: {scores[FLOOR]:.3f}", flush=True)
    for name, images in generated.items():
        scores[name] = critic_auroc(pool, test, images, folds=args.folds, seed=0)
        print(f"{name}: {scores[name]:.3f}", flush=True)

    lines = [
        "| images | critic AUROC, real test against them ↓ | FD, suite's features |",
        "|---|---|---|",
    ]
    for name, value in scores.items():
        own = f"{own_fd[name]:.3f}" if name in own_fd else ""
        lines.append(f"| {name} | {value:.3f} | {own} |")
    table = "\n".join(lines)
    pairs = fd_pairs(
        pd.DataFrame(
            {
                "dataset": want["spec"],
                "generator": [n for n in scores if n != FLOOR],
                "feature_extractor": "critic",
                "metric": "fd",
                "value": [v for n, v in scores.items() if n != FLOOR],
            }
        )
    ).replace("FD minus scratch's", "critic AUROC minus scratch's")
    with atomic_dir(args.out) as out:
        (out / "critic.md").write_text(table + "\n")
        (out / "pairs.md").write_text(pairs + "\n")
        (out / "scores.json").write_text(json.dumps({"scores": scores, "suite_fd": own_fd}))
        write_script_manifest(
            out,
            "benchmarks/perf/critic_check.py",
            started,
            threads=1,
            precision={"critics": "fp32"},
            folds=args.folds,
            real_pool=check.extractor_data,
            samples=samples,
        )
    print(table, pairs, sep="\n\n")


if __name__ == "__main__":
    main()
