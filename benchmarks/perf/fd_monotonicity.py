"""Do the feature distances move the way they should, for each feature extractor?

    python benchmarks/perf/fd_monotonicity.py [--spec 'phantom:oct?n=400&size=32'] \\
        [--extractors domain autoencoder contrastive inception local] [--inception-weights FILE] [--local-path DIR]

On real phantom images, for every extractor that is available: FD(real train, real test) must be
the smallest distance; FD must rise at each of five levels of Gaussian blur and of added Gaussian
noise applied to the real test images; precision must fall with the strongest noise, and
coverage when only half of the classes are kept. ``inception`` is checked when its weights file is
found (``--inception-weights``, ``$SYNTHBENCH_INCEPTION_WEIGHTS`` or the cache's weights folder);
otherwise the line says where to put which file. ``local`` needs ``--local-path`` (a timm or
transformers encoder saved in a folder). Exits non-zero when a checked extractor fails.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", default="phantom:oct?n=400&size=32")
    parser.add_argument(
        "--extractors",
        nargs="+",
        default=["domain", "autoencoder", "contrastive", "inception", "local"],
    )
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument("--local-path", default=None)
    parser.add_argument("--cache", type=Path, default=Path("out/fd_monotonicity/cache"))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.data.source import load_data
    from synthbench.errors import SynthbenchError
    from synthbench.metrics.cache import FeatureCache
    from synthbench.metrics.corruptions import (
        BLUR_SIGMAS,
        NOISE_STDS,
        gaussian_blur,
        gaussian_noise,
    )
    from synthbench.metrics.evaluate import get_extractor
    from synthbench.metrics.frechet import frechet_distance_of_features

    data = load_data(args.spec)
    cache = FeatureCache(args.cache)
    test = data.test
    corrupted = {
        "clean": test.images,
        **{f"blur {s}px": gaussian_blur(test.images, s) for s in BLUR_SIGMAS},
        **{f"noise {s}": gaussian_noise(test.images, s) for s in NOISE_STDS},
    }
    classes = np.unique(test.label)
    half = test.images[np.isin(test.label, classes[: len(classes) // 2])]
    print(f"{args.spec}: {len(data.train)} real training images, {len(test)} real test images")
    failed = 0
    for name in args.extractors:
        path = {"inception": args.inception_weights, "local": args.local_path}.get(name)
        t0 = time.perf_counter()
        try:
            extractor = get_extractor(name).create(data.train, cache=cache, path=path)
        except SynthbenchError as exc:
            print(f"{name}: not checked: {exc}")
            continue
        train = extractor(data.train.images)
        feats = {k: extractor(v) for k, v in corrupted.items()}
        fd = {k: frechet_distance_of_features(train, f) for k, f in feats.items()}
        ok, lines = _verdicts(fd, train, feats, extractor(half))
        failed += not ok
        print(f"\n{name} ({extractor.identity}, {time.perf_counter() - t0:.0f} s)")
        print("  " + "  ".join(f"{k}: {v:.4g}" for k, v in fd.items()))
        for line in lines:
            print("  " + line)
    sys.exit(1 if failed else 0)


def _verdicts(fd, train, feats, half_feats) -> tuple[bool, list[str]]:
    from synthbench.metrics.corruptions import NOISE_STDS
    from synthbench.metrics.prdc import precision_recall_density_coverage as prdc

    blur = [v for k, v in fd.items() if k.startswith("blur")]
    noise = [v for k, v in fd.items() if k.startswith("noise")]
    clean = prdc(train, feats["clean"])
    noisy = prdc(train, feats[f"noise {NOISE_STDS[-1]}"])
    halved = prdc(train, half_feats)
    checks = {
        "real test is the closest": fd["clean"] < min(blur[0], noise[0]),
        "FD rises with each blur level": all(a < b for a, b in itertools.pairwise(blur)),
        "FD rises with each noise level": all(a < b for a, b in itertools.pairwise(noise)),
        f"precision falls with noise ({clean['precision']:.3f} -> {noisy['precision']:.3f})": (
            noisy["precision"] < clean["precision"]
        ),
        f"coverage falls with half the classes ({clean['coverage']:.3f} -> "
        f"{halved['coverage']:.3f})": halved["coverage"] < clean["coverage"],
    }
    return all(checks.values()), [f"{'ok  ' if v else 'FAIL'} {k}" for k, v in checks.items()]


if __name__ == "__main__":
    main()
