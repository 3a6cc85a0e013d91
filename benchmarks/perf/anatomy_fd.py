"""Which feature spaces see anatomy? Planted controls first, then a suite's generators in each space.

    python benchmarks/perf/anatomy_fd.py benchmarks/transfer_brain_seeds.toml --data brain \\
        --cache CACHE --work WORK --out results/anatomy-fd/transfer-brain-seeds

On brain MRI at 32 px the sample grids show scratch drawing noise with neither skull nor
ventricles and the adapted models drawing both, yet every FD measured so far puts them level
(docs/transfer.md). FD compares means and covariances of features, so a space in which images
without anatomy have the real images' first two moments cannot tell them apart. This script asks
each space that question with images whose answer is known, before it scores any generator.

**Planted controls.** From 250 real images of the suite's ``extractor_data`` test split (a fresh
simulation whose test images none of the networks here trained on), each a known distance from
real:

- ``real (fresh simulation)``: the images as they are, the floor (as many images as each
  generator's set);
- three controls meant to hold no anatomy: ``pixel Gaussian`` (images drawn from a Gaussian with the
  fresh training images' pixel mean and covariance: right first and second moments, and no model of
  shape; added after the figures were seen: where the anatomy lies in the same place in every image,
  as in the brain phantom, its draws show it, see ``controls.png``), ``phase-scrambled`` (each
  image's Fourier amplitudes kept and its phases randomised: the same power spectrum, no shapes;
  clipped to 0-255 afterwards, which on images with a dark background also changes the histogram and
  part of the spectrum) and ``pixel-shuffled`` (each image's pixels permuted: the same histogram,
  nothing else);
- the mildest and strongest blur and noise of ``synthbench.metrics.corruptions``.

A space **sees anatomy** when (a) every control without anatomy scores an FD at least
``FLOOR_TIMES`` times the floor, and (b) farther than the mildest blur and the mildest noise:
losing all anatomy must cost more than a slight degradation. This criterion was fixed before any
space's figures on these controls were seen.

**Spaces.** The suite's quality blocks' extractors on ``--data`` (rebuilt from the run's cache and
checked against the identity its rows record: the ``domain`` CNN, the ``autoencoder``), the first
64 principal components of the pixels (``pixel_fd.py``'s space), and a contrastive embedding:
the ``copy-detection`` metric's network at its defaults (``synthbench.metrics.copy_detect``),
trained on the fresh simulation's training images (instance discrimination: each image told from every other under small shifts,
blur, noise and intensity changes, so nothing in its loss rewards passing over what every image
shares). Its views are blurred and noised, so it learns to pass over blur and noise, which an
FD must see; a second contrastive space, ``contrastive-sharp``, is the same network trained
without the blur and with noise of at most 4 grey levels (under the phantom's own noise, so that
an image's noise cannot tell it from the others), defined thus before its figures were seen.
That network is now synthbench's ``contrastive`` extractor at its defaults (the same weights, bit
for bit): where the suite itself scores in ``contrastive``, its rebuilt extractor is that space,
under the identity the rows record, and ``contrastive-sharp`` is not trained a second time.

**Generators.** The images the suite's first quality block on ``--data`` scored (read from the
cell cache as ``pixel_fd.py`` does), each set's FD against the suite's real test split in every
space, and each adapted generator's FD minus scratch's of the same training seed, per space.

Writes ``controls.md``, ``controls.png`` (the first 8 images of each control), ``fd.md``,
``pairs.md``, ``scores.json`` and ``manifest.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

FLOOR_TIMES = 10.0
FLOOR = "real (fresh simulation)"
STRUCTURELESS = ("pixel Gaussian", "phase-scrambled", "pixel-shuffled")
PIXELS = "pixels-pca64"
CONTRASTIVE = "contrastive"
SHARP = "contrastive-sharp"


def pixel_gaussian(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` images drawn from a Gaussian with ``train``'s pixel mean and covariance."""
    flat = train.reshape(len(train), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    centred = flat - mean
    # x = mean + z @ (centred / sqrt(m - 1)) has covariance centred.T @ centred / (m - 1)
    z = np.random.default_rng([seed, 0x6A]).standard_normal((n, len(flat)))
    drawn = mean + z @ centred / np.sqrt(len(flat) - 1)
    return np.clip(drawn, 0, 255).round().astype(np.uint8).reshape(n, *train.shape[1:])


def phase_scrambled(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image with its Fourier amplitudes kept and its phases replaced by those of white noise
    (which keeps the result real), its mean restored."""
    x = images.astype(np.float64)
    rng = np.random.default_rng([seed, 0x50])
    amplitude = np.abs(np.fft.fft2(x))
    phase = np.angle(np.fft.fft2(rng.standard_normal(x.shape)))
    y = np.real(np.fft.ifft2(amplitude * np.exp(1j * phase)))
    y += x.mean(axis=(-2, -1), keepdims=True) - y.mean(axis=(-2, -1), keepdims=True)
    return np.clip(y, 0, 255).round().astype(np.uint8)


def pixel_shuffled(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image's pixels (all channels of a pixel together) in a random order of its own."""
    rng = np.random.default_rng([seed, 0x5F])
    n, c, h, w = images.shape
    flat = images.reshape(n, c, h * w)
    order = np.argsort(rng.random((n, h * w)), axis=1)
    return np.take_along_axis(flat, order[:, None, :], axis=2).reshape(images.shape)


def planted(fresh_test: np.ndarray, fresh_train: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The floor, the three controls without anatomy and the mildest and strongest blur and noise."""
    from synthbench.metrics.corruptions import (
        BLUR_SIGMAS,
        NOISE_STDS,
        gaussian_blur,
        gaussian_noise,
    )

    return {
        FLOOR: fresh_test,
        "pixel Gaussian": pixel_gaussian(fresh_train, len(fresh_test), seed),
        "phase-scrambled": phase_scrambled(fresh_test, seed),
        "pixel-shuffled": pixel_shuffled(fresh_test, seed),
        **{f"blur {s}px": gaussian_blur(fresh_test, s) for s in (BLUR_SIGMAS[0], BLUR_SIGMAS[-1])},
        **{
            f"noise {s}": gaussian_noise(fresh_test, s, seed=seed)
            for s in (NOISE_STDS[0], NOISE_STDS[-1])
        },
    }


def verdict(fd: dict[str, float]) -> tuple[bool, str]:
    """Whether a space sees anatomy by the fixed criterion, and why in a few words."""
    floor = fd[FLOOR]
    mild = max(fd[k] for k in _MILDEST)
    why = []
    for k in STRUCTURELESS:
        if fd[k] < FLOOR_TIMES * floor:
            why.append(f"{k} at {fd[k] / floor:.1f}x the floor")
        elif fd[k] <= mild:
            why.append(f"{k} nearer than a mild blur or noise")
    return (False, "no: " + ", ".join(why)) if why else (True, "yes")


def _mildest() -> tuple[str, str]:
    from synthbench.metrics.corruptions import BLUR_SIGMAS, NOISE_STDS

    return f"blur {BLUR_SIGMAS[0]}px", f"noise {NOISE_STDS[0]}"


_MILDEST = _mildest()


def _weights_digest(model: Any) -> str:
    """A digest of a network's weights, so that two runs can show they used the same one."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def suite_extractors(suite_path: Path, data: str, cache: Path) -> dict[str, dict[str, Any]]:
    """For each of the suite's quality blocks on ``data``: its extractor's settings (from a
    finished cell's payload) and the identity its rows record, keyed by extractor name."""
    from synthbench.results import read_rows
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import data_payload, make_plan
    from synthbench.runner.suite import load_suite

    suite = load_suite(suite_path)
    want = data_payload(suite, data)
    store = Store(cache)
    found: dict[str, dict[str, Any]] = {}
    for cell in make_plan(suite).of_kind("quality"):
        p = cell.payload
        if p["data"] != want or p["extractor"] in found or not store.done("quality", cell.key):
            continue
        rows = read_rows(store.dir("quality", cell.key) / "rows.jsonl")
        ids = {r.feature_extractor for r in rows if r.metric == "fd"}
        found[p["extractor"]] = {
            "extractor_path": p["extractor_path"],
            "resize": p.get("resize"),
            "extractor_data": p.get("extractor_data"),
            "seed": p["seed"],
            "identity": ids.pop() if len(ids) == 1 else "",
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--data", required=True, help="the suite's data key")
    parser.add_argument("--cache", type=Path, required=True, help="the run's cell cache")
    parser.add_argument("--work", type=Path, required=True, help="where the embedding is kept")
    parser.add_argument("--seed", type=int, default=0, help="draws of the planted controls")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/anatomy_fd.py")
    started = time.perf_counter()

    import pandas as pd
    import torch
    from pixel_fd import pixel_pca, scored_images, suite_samples
    from transfer_tables import fd_pairs

    from synthbench.data.source import load_data
    from synthbench.machine import write_script_manifest
    from synthbench.metrics.cache import FeatureCache
    from synthbench.metrics.contrastive import ContrastiveExtractor
    from synthbench.metrics.copy_detect import CopyConfig
    from synthbench.metrics.evaluate import extractor_training, get_extractor
    from synthbench.metrics.frechet import frechet_distance_of_features
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import load_payload_data
    from synthbench.viz import image_grid

    torch.set_num_threads(1)
    check, want, samples, own_fd, draws = suite_samples(args.suite, args.data, args.cache)
    store = Store(args.cache)
    real = load_payload_data(want)
    channels = real.test.images.shape[1]
    fresh = load_data(check.extractor_data)
    fresh_cohort = extractor_training(check.extractor_data, real)
    fresh_train = fresh_cohort.images
    pick = np.sort(
        np.random.default_rng([args.seed, 0xA7]).choice(
            len(fresh.test), size=min(len(real.test), len(fresh.test)), replace=False
        )
    )
    fresh_test = fresh.test.subset(pick).to_channels(channels).images
    if any(n != len(fresh_test) for n, _ in draws.values()):
        sys.exit(
            f"error: the controls hold {len(fresh_test)} images and the generators' draws differ"
        )
    controls = planted(fresh_test, fresh_train, args.seed)

    spaces: dict[str, Any] = {}
    identities: dict[str, str] = {}
    for name, s in suite_extractors(args.suite, args.data, args.cache).items():
        extractor = get_extractor(name).create(
            extractor_training(s["extractor_data"], real) if s["extractor_data"] else real.train,
            cache=FeatureCache(store.root / "features"),
            path=s["extractor_path"],
            seed=s["seed"],
            resize=s["resize"],
        )
        if extractor.identity != s["identity"]:
            sys.exit(
                f"error: the {name} extractor rebuilt from {args.cache} is {extractor.identity}, "
                f"not the {s['identity'] or 'one'} the suite's rows record"
            )
        spaces[extractor.identity] = extractor
        identities[name] = extractor.identity

    spaces[PIXELS] = pixel_pca(fresh_train, 64)
    configs = {CONTRASTIVE: CopyConfig()}
    embedded: dict[str, Any] = {}
    if "contrastive" in identities:  # the suite's own: contrastive-sharp's network
        own = spaces[identities["contrastive"]].network
        embedded[identities["contrastive"]] = {
            "config": asdict(own.config),
            "final_loss": own.final_loss,
            "weights_sha256": _weights_digest(own.model),
        }
    else:
        configs[SHARP] = CopyConfig(blur=0.0, max_noise=4.0)
    work = FeatureCache(args.work)
    for space, config in configs.items():
        t0 = time.perf_counter()
        spaces[space] = ContrastiveExtractor.create(fresh_cohort, cache=work, config=config)
        network = spaces[space].network
        embedded[space] = {
            "config": asdict(config),
            "final_loss": network.final_loss,
            "weights_sha256": _weights_digest(network.model),
            "seconds_to_load_or_train": round(time.perf_counter() - t0, 1),
        }

    generated = scored_images(args.cache, samples, draws, channels)
    control_fd: dict[str, dict[str, float]] = {}
    generator_fd: dict[str, dict[str, float]] = {}
    for space, features in spaces.items():
        test = features(real.test.images)
        control_fd[space] = {
            k: frechet_distance_of_features(test, features(v)) for k, v in controls.items()
        }
        generator_fd[space] = {
            k: frechet_distance_of_features(test, features(v)) for k, v in generated.items()
        }
    verdicts = {space: verdict(fd) for space, fd in control_fd.items()}
    first = identities.get(check.extractor, "")
    agree = sum(
        np.isclose(generator_fd[first][k], v, rtol=1e-6)
        for k, v in own_fd.items()
        if first and k in generator_fd[first]
    )
    compared = sum(k in generated for k in own_fd)
    print(f"the suite's FD ({first}) reproduced for {agree} of {compared} generators")
    if not compared or agree != compared:
        sys.exit(
            f"error: {first or check.extractor} FDs differ from the suite's rows; nothing written"
        )

    names = list(spaces)
    head = "| images | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = [
        f"| {k} | " + " | ".join(f"{control_fd[s][k]:.3f}" for s in names) + " |" for k in controls
    ]
    rows.append("| sees anatomy | " + " | ".join(verdicts[s][1] for s in names) + " |")
    controls_md = "\n".join([head, *rows])
    fd_rows = [
        f"| {k} | " + " | ".join(f"{generator_fd[s][k]:.3f}" for s in names) + " |"
        for k in generated
    ]
    fd_md = "\n".join([head.replace("| images |", "| generator |"), *fd_rows])
    pairs_md = fd_pairs(
        pd.DataFrame(
            [
                {
                    "dataset": want["spec"],
                    "generator": k,
                    "feature_extractor": s,
                    "metric": "fd",
                    "value": v,
                }
                for s in names
                for k, v in generator_fd[s].items()
            ]
        )
    )
    with atomic_dir(args.out) as out:
        (out / "controls.md").write_text(controls_md + "\n")
        image_grid(
            [(k, v[:8]) for k, v in controls.items()],
            out / "controls.png",
            title="planted controls (first 8 of each)",
        )
        (out / "fd.md").write_text(fd_md + "\n")
        (out / "pairs.md").write_text(pairs_md + "\n")
        (out / "scores.json").write_text(
            json.dumps(
                {
                    "controls": control_fd,
                    "generators": generator_fd,
                    "sees_anatomy": {s: v[0] for s, v in verdicts.items()},
                    "suite_fd": own_fd,
                    "suite_fd_reproduced": f"{agree} of {compared}",
                    "extractors": identities,
                    "n": {"controls": len(fresh_test), "test": len(real.test)},
                },
                indent=1,
            )
        )
        write_script_manifest(
            out,
            "benchmarks/perf/anatomy_fd.py",
            started,
            threads=1,
            precision={"networks": "fp32", "FD": "fp64"},
            samples=samples,
            contrastive=embedded,
            criterion={"floor_times": FLOOR_TIMES, "farther_than": list(_MILDEST)},
        )
    print(controls_md, fd_md, pairs_md, sep="\n\n")


if __name__ == "__main__":
    main()
