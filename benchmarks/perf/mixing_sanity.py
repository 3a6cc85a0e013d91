"""Sanity of synthetic mixing on phantom data: does the classification task see help and harm?

    python benchmarks/perf/mixing_sanity.py --profile quick --seeds 0 1

A real training set of 50 images per class (phantom OCT, 32 px) is trained on alone and with 5x
as many extra images from three "generators": ``classical-aug`` (augmented copies of the 50),
an oracle (held-out real phantom images of other patients: what a perfect generator would give)
and pure noise images with random labels: Gaussian noise with the real images' per-pixel mean and
standard deviation (``noise``: what a generator that learned only the data's average look would
give), and uniform noise (``uniform-noise``, so unlike any image that a network learns to
ignore it). Expected: oracle > classical-aug > real-only > noise. The classifier does no
augmentation of its own (the task's default), so ``classical-aug`` is where augmentation enters;
``real+task-aug`` trains on the real images alone with on-the-fly augmentation, for reference.
Prints accuracy and balanced accuracy per arm (mean, standard deviation and a t-based 95% CI of
the mean over seeds), the per-seed accuracies, the paired gain over real-only and the wall time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

ARMS = ("real-only", "classical-aug", "oracle", "noise", "uniform-noise", "real+task-aug")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--modality", default="oct")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--ratio", type=float, default=5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--augment",
        type=float,
        default=None,
        help="the classifier's on-the-fly augmentation strength (default: the profile's)",
    )
    parser.add_argument("--arms", nargs="+", default=[*ARMS])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.cohort import Cohort
    from synthbench.data.source import load_data
    from synthbench.generators.base import create_generator
    from synthbench.tasks.base import create_task
    from synthbench.tasks.mixing import mix

    n_classes_guess = 4
    need = args.per_class * n_classes_guess * (1 + args.ratio)
    n = int(need / 0.7) + 200
    data = load_data(f"phantom:{args.modality}?n={n}&size={args.size}")
    train = data.train
    rng = np.random.default_rng(0)
    small_rows, pool_rows = [], []
    for k in np.unique(train.label):
        rows = rng.permutation(np.flatnonzero(train.label == k))
        small_rows += rows[: args.per_class].tolist()
        pool_rows += rows[args.per_class :].tolist()
    small = train.subset(np.sort(small_rows))
    oracle = train.subset(np.sort(pool_rows))
    oracle.source = ["oracle"] * len(oracle)
    n_extra = round(args.ratio * len(small))
    aug = create_generator("classical-aug", profile=args.profile).fit(small, seed=0)
    augmented = aug.sample(n_extra * 2, seed=0)
    noise_rng = np.random.default_rng(1)
    n_classes = len(small.label_names[args.modality])

    def noise_cohort(images: np.ndarray, source: str) -> Cohort:
        noise = Cohort.from_arrays(
            images,
            modality=args.modality,
            label=noise_rng.integers(0, n_classes, len(images)),
            label_names=small.label_names,
            finding_names=small.finding_names,
            findings=np.zeros((len(images), len(small.finding_names)), bool),
            source=source,
        )
        return Cohort.concat([noise] * 4)  # enough per class for the balanced draw

    # uniform noise: trivially told apart from real images, so a network learns to ignore it
    uniform = noise_rng.integers(0, 256, (n_extra, *small.image_shape), dtype=np.uint8)
    # noise with the real images' pixel statistics (per-pixel mean and standard deviation):
    # the "images" of a generator that learned nothing but the average look of the data
    real = small.images.astype(np.float32)
    shaped = real.mean(0) + real.std(0) * noise_rng.standard_normal((n_extra, *real.shape[1:]))
    shaped = np.clip(np.rint(shaped), 0, 255).astype(np.uint8)
    arms = {
        "real-only": None,
        "classical-aug": augmented,
        "oracle": oracle,
        "noise": noise_cohort(shaped, "noise"),
        "uniform-noise": noise_cohort(uniform, "uniform-noise"),
        "real+task-aug": None,  # reference: real only, the classifier augmenting on the fly
    }
    print(
        f"{args.modality} {args.size}px, {len(small)} real training images ({args.per_class}/class), "
        f"+{args.ratio:g}x, val {len(data.val)}, test {len(data.test)}, profile {args.profile}"
    )
    print(
        f"{'arm':<14} {'n_synth':>7} {'acc mean':>8} {'sd':>6} {'95% CI':>15} {'bal_acc':>8} "
        f"{'gain':>7}  per-seed accuracy"
    )
    task_overrides = {} if args.augment is None else {"augment": args.augment}
    base: list[float] | None = None
    for arm, synthetic in arms.items():
        if arm not in args.arms:
            continue
        accs, bals, t0 = [], [], time.perf_counter()
        for seed in args.seeds:
            train_mix = mix(small, synthetic, synth_ratio=args.ratio if synthetic else 0, seed=seed)
            overrides = {"augment": 1.0} if arm == "real+task-aug" else task_overrides
            rows = create_task("classification", profile=args.profile, **overrides).run(
                train_mix, data.val, data.test, seed=seed
            )
            values = {r.metric: r.value for r in rows}
            accs.append(values["accuracy"])
            bals.append(values["balanced_accuracy"])
        base = accs if base is None else base
        lo, hi = _ci95(accs)
        sd = np.std(accs, ddof=1) if len(accs) > 1 else float("nan")
        gain = np.mean(np.subtract(accs, base))
        print(
            f"{arm:<14} {train_mix.n_synth:>7} {np.mean(accs):>8.3f} {sd:>6.3f} "
            f"{f'[{lo:.3f}, {hi:.3f}]':>15} {np.mean(bals):>8.3f} {gain:>+7.3f}  "
            f"{' '.join(f'{a:.3f}' for a in accs)}  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


def _ci95(values: list[float]) -> tuple[float, float]:
    """t-based 95% confidence interval of the mean (NaN with a single seed)."""
    if len(values) < 2:
        return float("nan"), float("nan")
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    return float(np.mean(values) - half), float(np.mean(values) + half)


if __name__ == "__main__":
    main()
