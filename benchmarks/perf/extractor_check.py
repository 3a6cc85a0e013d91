"""Does a suite's FD see what its images show? Its image quality re-scored with a second extractor.

    python benchmarks/perf/extractor_check.py benchmarks/transfer.toml --data breast \
        --cache ~/.cache/synthbench/cells --out out/extractor-check/breast

The ``domain`` extractor of a suite is a small CNN trained on the data set's own real training
images and their labels. Where those labels cannot be learnt from them (breast MRI's three classes
from 200 images at 32 px: docs/transfer.md), its features are those of a network that learnt
little, and FD in them may miss what an eye sees first (anatomy, noise). This script takes the
images a finished run of the suite sampled for its quality block on ``--data`` (read from the
run's cell cache; run the suite first) and scores them twice against the same real test split:

- ``suite``: the suite's own extractor (trained on the data's real training images), which
  reproduces the suite's FD, precision and recall;
- ``fresh``: the same network trained on ``--fresh-n`` real patients of a fresh simulation of the
  modality (another phantom seed: patients neither the generators nor the test split hold).

Each extractor's accuracy on the real test images is printed beside it (what it learnt), and a
``real-vs-real`` row (the validation split against the test split) is the floor of each. It
prints one table and writes it, with ``scores.json`` and a ``manifest.json`` (what was run, on
what machine, which sample cells, how long), under ``--out``; ``--seeds OUT`` prints, from those
scores, each generator's FD per training seed and its mean in both extractors' features.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

FRESH_SEED = 7919  # as the simulated rater's: far from the seeds data specs use by default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, nargs="?")
    parser.add_argument("--data", help="the suite's data key")
    parser.add_argument("--cache", type=Path, help="the run's cell cache")
    parser.add_argument(
        "--seeds", type=Path, help="print the per-seed table of a finished check's folder"
    )
    parser.add_argument("--fresh-n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.seeds is not None:
        print(seeds_table(json.loads((args.seeds / "scores.json").read_text())["scores"]))
        return
    if not (args.suite and args.data and args.cache and args.out):
        parser.error("give SUITE, --data, --cache and --out (or --seeds FOLDER)")
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/extractor_check.py")
    started = time.perf_counter()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.cohort import Cohort
    from synthbench.data.source import load_data
    from synthbench.metrics.features import DomainExtractor
    from synthbench.metrics.frechet import frechet_distance_of_features
    from synthbench.metrics.prdc import precision_recall_density_coverage
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import data_payload, load_payload_data, make_plan
    from synthbench.runner.suite import load_suite

    suite = load_suite(args.suite)
    if args.data not in suite.data:
        parser.error(f"--data {args.data!r} is not in {args.suite}; one of {', '.join(suite.data)}")
    plan = make_plan(suite)
    store = Store(args.cache)
    pattern = re.compile(rf"^quality of (\S+) on {re.escape(args.data)}$")
    samples: dict[str, Path] = {}
    for cell in plan.cells.values():
        match = pattern.match(cell.label) if cell.kind == "quality" else None
        if match is None or match.group(1) == "real-vs-real":
            continue
        (key,) = [d for d in cell.deps if d in plan.cells and plan.cells[d].kind == "sample"]
        if not store.done("sample", key):
            parser.error(f"{args.cache} lacks the images of {match.group(1)}; run the suite first")
        samples[match.group(1)] = store.dir("sample", key)
    if not samples:
        parser.error(f"{args.suite} scores no generator's images on {args.data}")

    real = load_payload_data(data_payload(suite, args.data))
    modalities = sorted(set(real.train.modality.tolist()))
    size = real.train.image_shape[-1]
    fresh = Cohort.concat(
        [
            load_data(f"phantom:{m}?n={args.fresh_n}&size={size}&seed={FRESH_SEED}").train
            for m in modalities
        ]
    )
    extractors = {
        "suite": DomainExtractor.create(real.train),
        "fresh": DomainExtractor.create(fresh),
    }
    cohorts = {"real-vs-real": real.val}
    cohorts.update(
        {name: Cohort.load(folder / "cohort") for name, folder in sorted(samples.items())}
    )

    scores: dict[str, dict[str, dict[str, float]]] = {}
    accuracy = {}
    for ext_name, extractor in extractors.items():
        keys = extractor.classifier.space.keys
        predicted = [keys[i] for i in extractor.probabilities(real.test.images).argmax(1)]
        truth = list(zip(real.test.modality.tolist(), real.test.label.tolist(), strict=True))
        accuracy[ext_name] = float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
        ref = extractor(real.test.images)
        for name, cohort in cohorts.items():
            feats = extractor(cohort.to_channels(real.test.images.shape[1]).images)
            prdc = precision_recall_density_coverage(ref, feats, k=5)
            scores.setdefault(name, {})[ext_name] = {
                "fd": frechet_distance_of_features(ref, feats),
                "precision": prdc["precision"],
                "recall": prdc["recall"],
                "n": len(cohort),
            }

    lines = [
        f"{args.suite} · {args.data}: FD / precision / recall against the {len(real.test)} real test "
        f"images; extractors' test accuracy: suite {accuracy['suite']:.3f} "
        f"({len(real.train)} training images), fresh {accuracy['fresh']:.3f} ({len(fresh)})",
        "",
        "| images | n | suite's extractor: FD / precision / recall | fresh extractor: FD / precision / recall |",
        "|---|---|---|---|",
    ]
    for name, by_ext in scores.items():
        cells = [
            f"{s['fd']:.3f} / {s['precision']:.3f} / {s['recall']:.3f}" for s in by_ext.values()
        ]
        lines.append(f"| {name} | {by_ext['suite']['n']} | {' | '.join(cells)} |")
    text = "\n".join(lines)
    with atomic_dir(args.out) as out:
        (out / "extractors.md").write_text(text + "\n")
        (out / "scores.json").write_text(
            json.dumps({"accuracy": accuracy, "scores": scores}, indent=1)
        )
        from synthbench.machine import write_script_manifest

        write_script_manifest(
            out,
            "benchmarks/perf/extractor_check.py",
            started,
            threads=args.threads,
            precision={"extractors and metrics": "fp32"},
            samples={name: folder.name for name, folder in sorted(samples.items())},
        )
    print(text)


def seeds_table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """FD per training seed (a generator ``NAME``, ``NAME-s1``, ``NAME-s2`` ...) and its mean,
    in each extractor's features."""
    seeds: dict[str, dict[int, dict[str, float]]] = {}
    for name, by_ext in scores.items():
        if name == "real-vs-real":
            continue
        match = re.fullmatch(r"(.+?)(?:-s(\d+))?", name)
        assert match is not None
        base, seed = match.group(1), int(match.group(2) or 0)
        seeds.setdefault(base, {})[seed] = {ext: s["fd"] for ext, s in by_ext.items()}
    lines = [
        "| generator | fresh extractor: FD per training seed | mean | suite's extractor: FD per "
        "training seed | mean |",
        "|---|---|---|---|---|",
    ]
    for base, by_seed in sorted(seeds.items()):
        cells = []
        for ext in ("fresh", "suite"):
            values = [by_seed[seed][ext] for seed in sorted(by_seed)]
            cells += [", ".join(f"{v:.3g}" for v in values), f"{np.mean(values):.3g}"]
        lines.append(f"| {base} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
