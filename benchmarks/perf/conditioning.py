"""Does conditioning work? Generated images judged by a classifier trained on real phantom images.

    python benchmarks/perf/conditioning.py checkpoints/quick/minim-oct-brain_mri \\
        checkpoints/quick/ddpm-oct --per-class 100 --grids out/conditioning

For every checkpoint and every single-label modality it was trained on, a judge (the small CNN of
the quality metrics) is trained on real phantom images of that modality from a fresh simulation
(seed 1000, patients the generator never saw). For each class, ``--per-class`` images are
generated: from the class label for label-conditioned generators, from real held-out reports of
that class (``"Modality: findings"``) for text-conditioned ones. The table gives the share of them
the judge assigns to the asked-for class, next to the judge's own accuracy on real test images of
that class (what it can tell apart at all), and the spread of the generated images (pixel standard
deviation across images; near 0 means one image whatever the noise) next to that of real ones.
The goal is at least 80% for every class.

The judge learns from ``--judge-n`` real patients (70% of them for training). It has to tell the
classes of real images apart well for its verdict on generated ones to mean anything: with 4,000
patients (2,800 images) it took 27% of real OCT drusen test images for another class, more than
the 20% the goal allows; with the default 20,000 (14,000 images) it gets 91.6% of real OCT test
images right (drusen 82.8%), training in about 4 minutes on two CPU threads. What it misses
are mostly faint drusen, which 32 px barely show: of the fifth of real drusen test images with
the lowest domes it calls 51% another class, of the fifth with the highest 5%. A judge twice as
wide trained twice as long (``CNNConfig(width=32, epochs=30)``, 39 minutes on one thread) did
little better: 91.6% overall, drusen 85.3% but normal 88.9% (against 82.3% and 92.1% for the
default judge on the same machine). One grid per generator and modality (a row per class) is
written under ``--grids`` for a person to look at.

A multi-label modality (chest X-ray) gets a judge with a sigmoid per finding and one row per
finding, made from held-out reports that state it (judged as asked when the judge finds that
finding), and a "no finding" row from reports that state none (judged as asked when it finds
none). Beside it, the share of images in which the judge finds a finding that their report
does not state, for generated and for real images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

GOAL = 0.80
JUDGE_SEED = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--judge-n", type=int, default=20_000, help="real patients for the judge")
    parser.add_argument("--judge-epochs", type=int, default=15)
    parser.add_argument(
        "--judge-seed",
        type=int,
        default=JUDGE_SEED,
        help="seed of the judge's simulation: another one re-measures a setting chosen on the first",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--grids", type=Path, default=Path("out/conditioning"))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a sampling setting of the generators that have it, e.g. guidance_scale=4",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--modalities",
        nargs="+",
        default=None,
        metavar="MODALITY",
        help="judge only these of the checkpoints' modalities (default: all of them)",
    )
    parser.add_argument(
        "--judges",
        type=Path,
        default=Path("out/conditioning/judges"),
        help="folder where trained judges are kept and reused",
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from synthbench.generators.base import load_generator

    gens = [load_generator(ckpt) for ckpt in args.checkpoints]
    known = {m for gen in gens for m in gen.schema_.modalities}
    unknown = sorted(set(args.modalities or []) - known)
    if unknown:
        parser.error(
            f"--modalities: {', '.join(unknown)} not in the checkpoints ({', '.join(sorted(known))})"
        )
    judges: dict[tuple[str, tuple[int, ...]], tuple[object, object]] = {}
    print(
        f"{'generator':<12} {'modality':<11} {'class':<16} {'n':>4} {'judged as asked':>15} "
        f"{'judge real acc':>14} {'spread':>6} {'real':>5}  {'goal >= ' + format(GOAL, '.0%'):<10} "
        "judged otherwise mostly as"
    )
    failures = 0
    for ckpt, gen in zip(args.checkpoints, gens):
        # sampling settings of the generators that have them (guidance_scale=4 skips cvae)
        ours = [p for p in args.overrides if p.partition("=")[0] in gen.config.SAMPLING]
        gen.config = gen.config.with_sampling(ours)
        schema = gen.schema_
        for modality in schema.modalities:
            if args.modalities and modality not in args.modalities:
                continue
            names = schema.label_names.get(modality) or []
            if not names:
                failures += _judge_findings(gen, ckpt, modality, args)
                continue
            key = (modality, tuple(schema.image_shape))
            if key not in judges:
                judges[key] = _judge(modality, schema.image_shape[-1], args)
            judge, real_test = judges[key]
            t0 = time.perf_counter()
            cohorts = []
            for k, name in enumerate(names):
                conditions = _conditions(gen, modality, k, real_test, args.per_class)
                synthetic = gen.sample(conditions, seed=args.seed + k)
                cohorts.append((name, synthetic))
                predicted = _predicted_labels(judge, synthetic.images, modality)
                share = float(np.mean(predicted == k))
                real_rows = np.flatnonzero(real_test.label == k)
                real_acc = _share(judge, real_test.images[real_rows], modality, k)
                failures += share < GOAL
                print(
                    f"{gen.name:<12} {modality:<11} {name:<16} {len(synthetic):>4} {share:>15.1%} "
                    f"{real_acc:>14.1%} {_spread(synthetic.images):>6.3f} "
                    f"{_spread(real_test.images[real_rows]):>5.3f}  "
                    f"{'ok' if share >= GOAL else 'BELOW':<10} {_runner_up(predicted, k, names)}",
                    flush=True,
                )
            path = _grid(gen.name, ckpt, modality, cohorts, args.grids)
            print(f"{'':<12} {modality:<11} grid {path} ({time.perf_counter() - t0:.0f} s)")
    print(f"{failures} class(es) below {GOAL:.0%}")


def _judge_findings(gen, ckpt: Path, modality: str, args: argparse.Namespace) -> int:
    """A multi-label modality (chest X-ray): one row per finding, made from held-out reports
    that state it, and one for reports that state none ("no finding"). Judged as asked: the
    judge (a sigmoid per finding) finds the asked-for finding (probability >= 0.5); for "no
    finding", it finds none. The real column is the same share on real test images. Returns
    the rows below the goal."""
    judge, real_test = _judge(modality, gen.schema_.image_shape[-1], args)
    findings = list(judge.space.names)
    real_rows = np.flatnonzero(real_test.modality == modality)
    truth = np.asarray(real_test.findings)[real_rows] >= 0.5
    rows = [(f, truth[:, j]) for j, f in enumerate(findings)] + [("no finding", ~truth.any(1))]
    t0 = time.perf_counter()
    failures, cohorts = 0, []
    for k, (name, has) in enumerate(rows):
        asked_rows = real_rows[has]
        conditions = _prompts([real_test.text[i] for i in asked_rows], args.per_class)
        synthetic = gen.sample(conditions, seed=args.seed + k)
        cohorts.append((name, synthetic))
        stated = truth[has][np.arange(len(synthetic)) % has.sum()]
        share, extra = _found(judge, synthetic.images, k, stated)
        real, real_extra = _found(judge, real_test.images[asked_rows], k, truth[has])
        failures += share < GOAL
        print(
            f"{gen.name:<12} {modality:<11} {name:<16} {len(synthetic):>4} {share:>15.1%} "
            f"{real:>14.1%} {_spread(synthetic.images):>6.3f} "
            f"{_spread(real_test.images[asked_rows]):>5.3f}  "
            f"{'ok' if share >= GOAL else 'BELOW':<10} a finding its report does not state: "
            f"{extra:.0%} (real {real_extra:.0%})",
            flush=True,
        )
    path = _grid(gen.name, ckpt, modality, cohorts, args.grids)
    print(f"{'':<12} {modality:<11} grid {path} ({time.perf_counter() - t0:.0f} s)")
    return failures


def _found(judge, images: np.ndarray, k: int, stated: np.ndarray) -> tuple[float, float]:
    """Share of images in which the judge finds finding ``k`` (``k`` past the last finding: no
    finding at all), and share in which it finds one that the image's report (``stated``, a
    row of findings per image) does not state."""
    if len(images) == 0:
        return float("nan"), float("nan")
    _, probs = judge.predict(images)
    present = probs >= 0.5
    asked = ~present.any(1) if k == present.shape[1] else present[:, k]
    return float(np.mean(asked)), float(np.mean((present & ~stated).any(1)))


def _spread(images: np.ndarray) -> float:
    """Mean over pixels of the standard deviation across images (0-1 intensity): near 0 when a
    generator gives one image whatever its noise (mode collapse)."""
    if len(images) < 2:
        return float("nan")
    return float((np.asarray(images, np.float32) / 255.0).std(axis=0).mean())


def _runner_up(predicted: np.ndarray, label: int, names: list[str]) -> str:
    """The class the judge gave most of the images it did not judge as asked, with its share."""
    wrong = predicted[predicted != label]
    if len(wrong) == 0:
        return "-"
    values, counts = np.unique(wrong, return_counts=True)
    top = values[counts.argmax()]
    name = names[top] if 0 <= top < len(names) else "another modality"
    return f"{name} {counts.max() / len(predicted):.0%}"


def _judge(modality: str, size: int, args: argparse.Namespace):
    """A small CNN trained on real images of a fresh simulation (kept under ``--judges`` and
    reused); and that simulation's test split."""
    from synthbench.data.source import load_data
    from synthbench.nets import CNNConfig, TrainedCNN

    spec = f"phantom:{modality}?n={args.judge_n}&size={size}&seed={args.judge_seed}"
    data = load_data(spec)
    seed = "" if args.judge_seed == JUDGE_SEED else f"-seed{args.judge_seed}"
    folder = args.judges / f"{modality}-n{args.judge_n}-{size}px-e{args.judge_epochs}{seed}"
    t0 = time.perf_counter()
    if (folder / "model.safetensors").is_file():
        judge = TrainedCNN.load(folder)
    else:
        judge = TrainedCNN.fit(data.train, CNNConfig(epochs=args.judge_epochs, seed=0))
        judge.save(folder)
    if judge.space.kind == "findings":  # per finding, whether present
        _, probs = judge.predict(data.test.images)
        acc = float(np.mean((probs >= 0.5) == (np.asarray(data.test.findings) >= 0.5)))
        what = "real test accuracy per finding"
    else:
        acc, what = _accuracy(judge, data.test, modality), "real test accuracy"
    print(
        f"judge for {modality} ({spec}): {len(data.train)} real training images, "
        f"{what} {acc:.1%} ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    return judge, data.test


def _predicted_labels(judge, images: np.ndarray, modality: str) -> np.ndarray:
    _, probs = judge.predict(images)
    keys = judge.space.keys
    return np.array([keys[j][1] if keys[j][0] == modality else -1 for j in probs.argmax(1)])


def _share(judge, images: np.ndarray, modality: str, label: int) -> float:
    if len(images) == 0:
        return float("nan")
    return float(np.mean(_predicted_labels(judge, images, modality) == label))


def _accuracy(judge, cohort, modality: str) -> float:
    return float(np.mean(_predicted_labels(judge, cohort.images, modality) == cohort.label))


def _conditions(gen, modality: str, label: int, real_test, n: int):
    """Label conditions, or real held-out reports of the class for text-conditioned generators."""
    from synthbench.generators.conditions import Conditions

    if gen.capabilities.conditioning != "text":
        return Conditions.from_labels([label] * n, modality=modality)
    rows = np.flatnonzero((real_test.label == label) & (real_test.modality == modality))
    return _prompts([real_test.text[i] for i in rows], n)


def _prompts(reports: list[str], n: int):
    """``n`` prompts, the reports in turn."""
    from synthbench.generators.conditions import Conditions

    return Conditions.from_prompts([reports[i % len(reports)] for i in range(n)])


def _grid(name: str, ckpt: Path, modality: str, cohorts, out: Path) -> Path:
    from synthbench.viz import image_grid

    rows = [(cls, np.stack(synthetic.native_images(slice(0, 8)))) for cls, synthetic in cohorts]
    return image_grid(
        rows,
        out / f"{ckpt.name}-{modality}.png",
        scale=3,
        title=f"{name} ({ckpt.name}): {modality}, one row per asked-for class",
    )


if __name__ == "__main__":
    main()
