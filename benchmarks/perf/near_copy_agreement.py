"""Do the judges' near copies name the same images? The refinement rounds' near copies in every judge's space.

    python benchmarks/perf/near_copy_agreement.py \
        --rounds results/feedback-heldout-rejudged --cache CACHE_OF_THAT_SUITE \
        --rounds results/feedback-heldout-satisfice-rejudged --cache CACHE_OF_THAT_SUITE \
        --judge-data 'phantom:oct,fundus,cxr,chest_ct?n=2000&size=32&seed=32452843' \
        --judge-data 'phantom:oct,fundus,cxr,chest_ct?n=2000&size=32&seed=49979687' \
        --out results/near-copy-agreement

A synthetic image is a near copy (:mod:`synthbench.metrics.memorisation`) when it lies closer to
its nearest training image than half that image's own distance to its nearest training
neighbour. The refinement suites measure that in the features of a ``domain`` extractor (a small
CNN trained on a simulation): a round whose share rises is read as copying. This script asks
whether such a rise is about particular images. It takes the rounds an earlier
``rejudge_rounds.py`` run scored (``--rounds``: its output folder, whose manifest names the
round cells; ``--cache``: the suite's cell cache they are read from) and, for each image those
rounds were scored on, its distance ratio (distance to the nearest training image over that
image's own nearest-neighbour distance) in several spaces:

- the pixels (downsampled to at most 32 px, as the metric does): no network, so a copy in it is
  a copy of the picture;
- the copy detector of the ``copy-detection`` metric (``synthbench.metrics.copy_detect``: a CNN
  trained on the training images to tell each one from every other, whatever shift, blur, noise
  or change of intensity is laid on it), one network (seed 0) for every round;
- the ``domain`` extractor of the suite's own judge (the rounds' ``extractor_data``), of the
  ``--rounds`` folder's fresh judge and of each ``--judge-data``, each trained with the round's
  seed as the suite and ``rejudge_rounds.py`` train them.

It prints and writes (``agreement.md``, ``scores.json``, ``manifest.json`` under ``--out``) two
tables: each block's near-copy share per round and space, pooled over seeds, beside the real
test images' (the same gallery); and, over the distinct images of all the rounds, how often two
spaces flag the same image, against what chance would give (flags in one space independent of
the other's), with the rank correlation of their distance ratios. Each fresh judge's shares are
checked against the rows ``rejudge_rounds.py`` wrote for it: the script stops where they differ.

A third table says what each space can see: planted copies. For each seed, ``--planted`` real
training images (drawn with the seed) are copied with one change each (none; Gaussian pixel noise
of 4, 8 or 16 grey levels; a shift by 1 or 2 pixels, edges repeated; a 3x3 box blur) and scored
like the rounds' images. A space that flags few of them cannot be read as finding no copies; one
that flags many real test images (which copy nothing) counts noise as copies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PIXELS = "pixels"
COPY = "copy embedding"


@dataclass
class Scored:
    """One round cell's scored images: its labels, seed and each space's distance ratios."""

    blocks: list[str]  # the method labels the round's rows carry (one per suite block)
    round: int
    seed: int
    digests: list[str]
    ratio: dict[str, np.ndarray]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=Path, action="append", required=True)
    parser.add_argument("--cache", type=Path, action="append", required=True)
    parser.add_argument("--judge-data", action="append", default=[])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path.home() / ".cache" / "synthbench" / "near-copies",
        help="kept between runs: the judges' extractors",
    )
    parser.add_argument(
        "--planted", type=int, default=200, help="training images copied per seed and change"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/near_copy_agreement.py")
    if len(args.rounds) != len(args.cache):
        sys.exit("error: give one --cache for each --rounds folder, in the same order")
    started = time.perf_counter()

    from rejudge_rounds import _method, _rounds_like

    from synthbench.cohort import Cohort
    from synthbench.errors import SynthbenchError
    from synthbench.feedback.rounds import RoundSettings
    from synthbench.leaderboard.rounds import method_label
    from synthbench.machine import write_script_manifest
    from synthbench.metrics.copy_detect import CopyConfig
    from synthbench.metrics.memorisation import NEAR_COPY_ALPHA
    from synthbench.results import read_rows
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import load_payload_data

    space = Spaces(args.work)
    scored: list[Scored] = []
    real_ratio: dict[str, list[np.ndarray]] = {}
    planted_ratio: dict[str, dict[str, list[np.ndarray]]] = {}
    checks: list[tuple[str, float, float]] = []
    for folder, cache_dir in zip(args.rounds, args.cache):
        store = Store(cache_dir)
        try:
            rounds = _rounds_like(folder, store)
            argv = json.loads((folder / "manifest.json").read_text())["argv"]
            fresh = argv[argv.index("--judge-data") + 1]
        except (SynthbenchError, OSError, KeyError, ValueError) as exc:
            sys.exit(f"error: {folder}: not a folder rejudge_rounds.py wrote ({exc})")
        rejudged = {
            (r.seed, r.qualifiers["method"], r.qualifiers["round"], r.qualifiers.get("variant")): r
            for r in read_rows(folder / "rows.jsonl")
            if r.metric == "near_copy_share" and set(r.qualifiers) <= {"method", "round", "variant"}
        }
        for cell in rounds:
            p = cell.payload
            settings = RoundSettings.from_flat(p["settings"], seed=p["seed"])
            if not settings.eval_prompts or not settings.extractor_data:
                sys.exit(f"error: {folder}: its rounds have no held-out batch or no judge data")
            space.add("suite's judge", settings.extractor_data)
            fresh_name = space.add(f"fresh judge {_seed_of(fresh)}", fresh)
            for spec in args.judge_data:
                space.add(f"fresh judge {_seed_of(spec)}", spec)
            real = load_payload_data(p["data"])
            images = Cohort.load(store.dir("refine", cell.key) / "eval" / "cohort").images
            s = Scored(
                blocks=[method_label(_method(p), v) for v, _ in cell.copies],
                round=int(p["round"]),
                seed=int(p["seed"]),
                digests=[hashlib.sha256(x.tobytes()).hexdigest() for x in images],
                ratio={name: space.ratios(name, real, images, p["seed"]) for name in space.names},
            )
            scored.append(s)
            mine = float((s.ratio[fresh_name] <= NEAR_COPY_ALPHA).mean())
            for variant, _ in cell.copies:
                row = rejudged[(s.seed, _method(p), str(s.round), variant)]
                checks.append((cell.label, row.value, mine))
            if s.seed not in space.real_seeds:
                space.real_seeds.add(s.seed)
                for name in space.names:
                    real_ratio.setdefault(name, []).append(
                        space.ratios(name, real, real.test.images, s.seed)
                    )
                copies = planted_copies(real.train.images, s.seed, args.planted)
                for change, images in copies.items():
                    for name in space.names:
                        planted_ratio.setdefault(change, {}).setdefault(name, []).append(
                            space.ratios(name, real, images, s.seed)
                        )
            print(f"{cell.label}: scored", flush=True)

    wrong = [(label, a, b) for label, a, b in checks if abs(a - b) > 1e-9]
    if wrong:
        sys.exit(
            "error: the near-copy shares differ from the rejudged rows' (label, rows, here): "
            f"{wrong[:3]}"
        )
    text = (
        share_table(scored, real_ratio, space.names, NEAR_COPY_ALPHA)
        + "\n\n"
        + pair_table(scored, space.names, NEAR_COPY_ALPHA)
        + "\n\n"
        + planted_table(planted_ratio, real_ratio, space.names, NEAR_COPY_ALPHA)
        + "\n"
    )
    with atomic_dir(args.out) as out:
        (out / "agreement.md").write_text(text)
        scores = {
            "judges": space.specs,
            "rounds": [
                {
                    "blocks": s.blocks,
                    "round": s.round,
                    "seed": s.seed,
                    "ratio": {k: np.round(v, 6).tolist() for k, v in s.ratio.items()},
                }
                for s in scored
            ],
        }
        (out / "scores.json").write_text(json.dumps(scores))
        write_script_manifest(
            out,
            "benchmarks/perf/near_copy_agreement.py",
            started,
            threads=1,
            precision={"extractors": "fp32", "distances": "fp64"},
            judges=space.specs,
            shares_checked_against_rejudged_rows=len(checks),
            planted_per_seed=args.planted,
            copy_embedding={
                "config": asdict(CopyConfig()),
                "final_loss": space.copy_losses,
            },
        )
    print(text)


def _seed_of(spec: str) -> str:
    return spec.rsplit("seed=", 1)[-1] if "seed=" in spec else spec


class Spaces:
    """The pixels and each judge's ``domain`` extractor (by judge data and seed, trained once)."""

    def __init__(self, work: Path) -> None:
        from synthbench.metrics.cache import FeatureCache

        self.cache = FeatureCache(work)
        self.names: list[str] = [PIXELS, COPY]
        self.specs: dict[str, str] = {}
        self.real_seeds: set[int] = set()
        self._encoders: dict[tuple[str, int], tuple] = {}
        self.copy_losses: dict[str, float] = {}

    def add(self, name: str, spec: str) -> str:
        if self.specs.setdefault(name, spec) != spec:
            sys.exit(f"error: {name} names two judge data specs ({self.specs[name]} and {spec})")
        if name not in self.names:
            self.names.append(name)
        return name

    def ratios(self, name: str, real, images: np.ndarray, seed: int) -> np.ndarray:
        """Each image's distance to its nearest training image over that training image's own
        nearest-neighbour distance, in space ``name``."""
        from synthbench.metrics.evaluate import extractor_training, get_extractor
        from synthbench.metrics.memorisation import nearest, pixel_vectors
        from synthbench.metrics.prdc import knn_radii

        if name == PIXELS:
            train, query = pixel_vectors(real.train.images), pixel_vectors(images)
        elif name == COPY:
            from synthbench.metrics.copy_detect import CopyDetector

            key = (hashlib.sha256(real.train.images.tobytes()).hexdigest(), -1)
            if key not in self._encoders:
                embed = CopyDetector.create(real.train, cache=self.cache, seed=0)
                self.copy_losses[key[0][:16]] = embed.network.final_loss
                self._encoders[key] = (embed, embed(real.train.images))
            embed, train = self._encoders[key]
            query = embed(images)
        else:
            key = (self.specs[name], seed)
            if key not in self._encoders:
                extractor = get_extractor("domain").create(
                    extractor_training(self.specs[name], real), cache=self.cache, seed=seed
                )
                self._encoders[key] = (extractor, extractor(real.train.images))
            extractor, train = self._encoders[key]
            query = extractor(images)
        radius = knn_radii(train, 1)
        dist, index = nearest(query, train)
        return dist / radius[index]


CHANGES = (
    "none",
    "noise 4 grey levels",
    "noise 8 grey levels",
    "noise 16 grey levels",
    "shift 1 px",
    "shift 2 px",
    "3x3 box blur",
)


def planted_copies(train: np.ndarray, seed: int, n: int) -> dict[str, np.ndarray]:
    """``n`` training images (uint8, N x C x H x W; drawn with ``seed``) copied with each of
    :data:`CHANGES`: the same images under each change, pixel noise drawn with ``seed`` too."""
    rng = np.random.default_rng([seed, 7])
    picked = train[np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))]
    x = picked.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for change in CHANGES:
        if change == "none":
            y = x
        elif change.startswith("noise"):
            y = x + rng.normal(0.0, float(change.split()[1]), size=x.shape)
        elif change.startswith("shift"):
            k = int(change.split()[1])
            pad = np.pad(x, ((0, 0), (0, 0), (k, 0), (k, 0)), mode="edge")
            y = pad[:, :, : x.shape[2], : x.shape[3]]  # content moves down and right by k
        else:
            pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
            h, w = x.shape[2:]
            y = sum(pad[:, :, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
        out[change] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return out


def planted_table(
    planted: dict[str, dict[str, list[np.ndarray]]],
    real: dict[str, list[np.ndarray]],
    names: list[str],
    alpha: float,
) -> str:
    """Each space's share of planted copies flagged as near copies, per change, pooled over
    seeds, under the real test images' own share (which copy nothing)."""
    head = ["planted copies of training images", *names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for change, ratios in planted.items():
        cells = [_count([x <= alpha for x in ratios[n]]) for n in names]
        lines.append(f"| {change} | " + " | ".join(cells) + " |")
    cells = [_count([x <= alpha for x in real[n]]) for n in names]
    lines.append("| real test images (no copies) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _judges(names: list[str]) -> list[str]:
    return [n for n in names if n not in (PIXELS, COPY)]


def _count(flags: list[np.ndarray]) -> str:
    n, k = sum(len(f) for f in flags), int(sum(f.sum() for f in flags))
    return f"{k}/{n} ({k / n:.1%})"


def share_table(
    scored: list[Scored], real: dict[str, list[np.ndarray]], names: list[str], alpha: float
) -> str:
    """Near copies per block and round in each space (pooled over seeds), the images flagged
    in two or more learnt spaces, and the real test images' own."""
    learnt = _judges(names)
    head = ["block", "round", *names, f"in 2+ of the {len(learnt)} judges"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = sorted({(b, s.round) for s in scored for b in s.blocks})
    for block, r in keys:
        chosen = [s for s in scored if block in s.blocks and s.round == r]
        cells = [_count([s.ratio[n] <= alpha for s in chosen]) for n in names]
        both = [sum((s.ratio[n] <= alpha).astype(int) for n in learnt) >= 2 for s in chosen]
        lines.append(f"| {block} | {r} | " + " | ".join([*cells, _count(both)]) + " |")
    cells = [_count([x <= alpha for x in real[n]]) for n in names]
    both = [
        sum((real[n][i] <= alpha).astype(int) for n in learnt) >= 2
        for i in range(len(real[PIXELS]))
    ]
    lines.append("| real test images | | " + " | ".join([*cells, _count(both)]) + " |")
    return "\n".join(lines)


def pair_table(scored: list[Scored], names: list[str], alpha: float) -> str:
    """For each two learnt spaces, over the distinct images the rounds were scored on (per
    seed; pooled): how many each flags, how many both do, how many chance would give, and the
    mean over seeds of the rank correlation of their distance ratios."""
    from scipy.stats import spearmanr

    learnt = _judges(names)
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    for s in scored:
        seen = per_seed.setdefault(s.seed, {})
        for i, d in enumerate(s.digests):
            seen.setdefault(d, {n: float(s.ratio[n][i]) for n in learnt})
    images = sum(len(v) for v in per_seed.values())
    lines = [
        f"Distinct images scored: {images} ({len(per_seed)} seeds).",
        "",
        "| spaces | flagged by the first | by the second | by both | by both, expected by "
        "chance | rank correlation of the distance ratios |",
        "|---|---|---|---|---|---|",
    ]
    for i, a in enumerate(learnt):
        for b in learnt[i + 1 :]:
            na = nb = both = 0
            chance, rho = 0.0, []
            for seen in per_seed.values():
                ra = np.array([v[a] for v in seen.values()])
                rb = np.array([v[b] for v in seen.values()])
                fa, fb = ra <= alpha, rb <= alpha
                na, nb, both = na + fa.sum(), nb + fb.sum(), both + (fa & fb).sum()
                chance += fa.sum() * fb.sum() / len(ra)
                rho.append(spearmanr(ra, rb).statistic)
            lines.append(
                f"| {a} · {b} | {na} | {nb} | {both} | {chance:.2f} | {np.mean(rho):+.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
