"""Does a suite's FD see anatomy? Its sampled images' FD again, in a feature space no network learnt.

    python benchmarks/perf/pixel_fd.py benchmarks/transfer_brain_seeds.toml --data brain \
        --cache CACHE --out results/pixel-fd/transfer-brain-seeds

The ``domain`` extractor is a small CNN trained to tell a data set's classes apart (brain MRI:
tumour or not). Features learnt for that may ignore what every image shares (the skull, the
ventricles) and so miss a generator that draws none of it. This script takes the images a
finished run of the suite sampled for its quality blocks on ``--data`` (read from the run's cell
cache; run the suite first) and measures FD in the first ``--components`` principal components
of the pixels, fitted on the training split of the suite's ``extractor_data`` (a fresh
simulation none of the generators or the test split hold), against the same real test split,
with the real-vs-real floor (the validation split against the test split, as the suite's). No
network is trained: nothing in it can learn to overlook a part of the image.

It prints two tables and writes them (``fd.md``, ``pairs.md``), with ``scores.json`` and a
``manifest.json``, under ``--out``: each generator's FD in the features of the suite's first
quality block on ``--data``, from its rows, beside its pixel-PCA FD; and, where the generators
are named by training seed as ``transfer_tables.py`` reads them (``lora-s2``), each one's
pixel-PCA FD minus scratch's of the same training seed, with the mean and its 95% t interval
over the seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--data", required=True, help="the suite's data key")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cell cache")
    parser.add_argument("--components", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/pixel_fd.py")
    started = time.perf_counter()

    import pandas as pd
    from transfer_tables import fd_pairs

    from synthbench.data.source import load_data
    from synthbench.machine import write_script_manifest
    from synthbench.metrics.frechet import frechet_distance_of_features
    from synthbench.runner.plan import load_payload_data

    check, want, samples, own_fd, draws = suite_samples(args.suite, args.data, args.cache)
    real = load_payload_data(want)
    generated = scored_images(args.cache, samples, draws, real.test.images.shape[1])
    features = pixel_pca(load_data(check.extractor_data).train.images, args.components)
    test = features(real.test.images)
    scores = {"real-vs-real": frechet_distance_of_features(test, features(real.val.images))}
    for name, images in generated.items():
        scores[name] = frechet_distance_of_features(test, features(images))

    lines = [
        f"| generator | FD, suite's features | FD, pixels ({args.components} principal components) |",
        "|---|---|---|",
    ]
    for name, value in scores.items():
        own = f"{own_fd[name]:.3f}" if name in own_fd else ""
        lines.append(f"| {name} | {own} | {value:.3f} |")
    table = "\n".join(lines)
    space = f"pixels-pca{args.components}"
    pairs = fd_pairs(
        pd.DataFrame(
            {
                "dataset": want["spec"],
                "generator": list(scores),
                "feature_extractor": space,
                "metric": "fd",
                "value": list(scores.values()),
            }
        )
    )
    with atomic_dir(args.out) as out:
        (out / "pairs.md").write_text(pairs + "\n")
        (out / "scores.json").write_text(json.dumps({"scores": scores, "suite_fd": own_fd}))
        (out / "fd.md").write_text(table + "\n")
        write_script_manifest(
            out,
            "benchmarks/perf/pixel_fd.py",
            started,
            threads=1,
            precision={"principal components and FD": "fp64"},
            samples=samples,
        )
    print(table, pairs, sep="\n\n")


def pixel_pca(train: np.ndarray, components: int) -> Callable[[np.ndarray], np.ndarray]:
    """Features in the first ``components`` principal components of ``train``'s pixels (grey
    levels scaled to 0-1): a space no network learnt."""

    def flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float64) / 255.0

    basis = flat(train)
    mean = basis.mean(axis=0)
    project = np.linalg.svd(basis - mean, full_matrices=False)[2][:components].T
    return lambda images: (flat(images) - mean) @ project


def scored_images(
    cache: Path, samples: dict[str, str], draws: dict[str, tuple[int, int]], channels: int
) -> dict[str, np.ndarray]:
    """Each generator's images as its quality cell scored them: the sample cell's cohort, cut to
    the cell's seeded draw of ``n`` (a sample cell that also fed a classifier holds more)."""
    from synthbench.cohort import Cohort
    from synthbench.runner.cells import Store, _subset

    store = Store(cache)
    out = {}
    for name in sorted(samples):
        cohort = Cohort.load(store.dir("sample", samples[name]) / "cohort")
        n, seed = draws[name]
        out[name] = _subset(cohort, n, seed).to_channels(channels).images
    return out


def suite_samples(
    suite_path: Path, data: str, cache: Path
) -> tuple[Any, dict[str, Any], dict[str, str], dict[str, float], dict[str, tuple[int, int]]]:
    """The first quality block on ``data`` with ``extractor_data``, the data's payload, each
    generator's sample cell key (the images that block scored), its FD in that block's features
    and the cell's draw from the sample (``n`` and seed, for :func:`scored_images`), read from a
    finished run's cell cache ``cache``; exits with one line otherwise."""
    from synthbench.errors import SynthbenchError
    from synthbench.results import read_rows
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import data_payload, make_plan
    from synthbench.runner.suite import load_suite

    try:
        suite = load_suite(suite_path)
        plan = make_plan(suite)
    except SynthbenchError as exc:
        sys.exit(f"error: {exc}")
    checks = [q for q in suite.quality if q.data == data]
    if not checks or not checks[0].extractor_data:
        sys.exit(f"error: {suite_path} has no quality block on {data!r} with extractor_data")
    check = checks[0]
    store = Store(cache)
    samples: dict[str, str] = {}
    draws: dict[str, tuple[int, int]] = {}
    own_fd: dict[str, float] = {}
    want = data_payload(suite, data)
    for cell in plan.of_kind("quality"):
        if cell.payload["data"] != want or not store.done("quality", cell.key):
            continue
        if cell.payload["extractor"] != check.extractor:  # another block's features
            continue
        if cell.deps:
            for note in cell.annotations:
                samples[note["generator"]] = cell.deps[0]
                draws[note["generator"]] = (cell.payload["n"], cell.payload["seed"])
        for row in read_rows(store.dir("quality", cell.key) / "rows.jsonl"):
            if row.metric == "fd" and not row.qualifiers:  # the cell's rows name no generator
                for note in cell.annotations:
                    own_fd[note["generator"]] = row.value
    if not samples:
        sys.exit(f"error: {cache} holds no finished quality cell of {suite_path}")
    return check, want, samples, own_fd, draws


if __name__ == "__main__":
    main()
