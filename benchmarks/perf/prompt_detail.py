"""Do a prompt's details matter? "Large" vs "small" lesion prompts, sizes measured from the images.

    python benchmarks/perf/prompt_detail.py checkpoints/quick/minim-oct-brain_mri \\
        --modality brain_mri --per-arm 100

Phantom reports grade clearly small and clearly large lesions in words ("a large 45 mm mass", "a
small 21 mm lesion"). Prompts are real held-out reports of lesion patients from a fresh simulation
(seed 1000): those that say "large" and those that say "small". Lesion size is measured from each
image by a small CNN regressor trained on real phantom images of lesion patients with their known
size (the simulator's geometry, ``--size-factor``); its correlation with the true size on real test
images is printed first, so the meter's own precision is on the table. Then the measured size of
images generated from each arm of prompts (mean with a 95% CI), their difference and a Welch t-test,
next to the same measurement on the real test images behind those prompts. Expected: large > small.
A grid of both arms is written for a person to look at.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

JUDGE_SEED = 1000
ARMS = ("small", "large")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--modality", default="brain_mri")
    parser.add_argument("--size-factor", default="size_mm", help="the simulator's lesion size")
    parser.add_argument("--per-arm", type=int, default=100)
    parser.add_argument("--meter-n", type=int, default=4000, help="real patients for the meter")
    parser.add_argument("--meter-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", type=Path, default=Path("out/conditioning"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--meters",
        type=Path,
        default=Path("out/conditioning/meters"),
        help="folder where trained size meters are kept and reused",
    )
    args = parser.parse_args()

    import torch
    from scipy import stats

    if args.threads:
        torch.set_num_threads(args.threads)
    from synthbench.data.source import load_data
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions

    gen = load_generator(args.checkpoint)
    size = gen.schema_.image_shape[-1]
    if args.modality not in gen.schema_.modalities:
        raise SystemExit(f"{args.checkpoint}: not trained on {args.modality}")
    data = load_data(f"phantom:{args.modality}?n={args.meter_n}&size={size}&seed={JUDGE_SEED}")
    t0 = time.perf_counter()
    folder = args.meters / (
        f"{args.modality}-{args.size_factor}-n{args.meter_n}-{size}px-e{args.meter_epochs}"
    )
    if (folder / "model.safetensors").is_file():
        meter = SizeMeter.load(folder)
    else:
        meter = SizeMeter.fit(data.train, args.size_factor, epochs=args.meter_epochs)
        meter.save(folder)
    test = data.test.subset(np.flatnonzero(data.test.label > 0))
    true = np.asarray(test.factors[args.size_factor], float)
    measured = meter(test.images)
    r = float(np.corrcoef(true, measured)[0, 1])
    print(
        f"size meter ({args.modality}, {args.size_factor}): trained on "
        f"{int((data.train.label > 0).sum())} real lesion images, "
        f"r = {r:.3f} with the true size on {len(test)} real test lesions "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    print(
        f"{'prompts':<8} {'n':>4} {'generated: size':>16} {'95% CI':>16}   "
        f"{'real test: size':>15} {'n':>4}"
    )
    results, grid_rows = {}, []
    for arm_i, arm in enumerate(ARMS):
        word = re.compile(rf"\b{arm}\b", re.IGNORECASE)
        rows = [i for i, text in enumerate(test.text) if word.search(text)]
        if not rows:
            raise SystemExit(f"no real test report says {arm!r}; raise --meter-n")
        prompts = [test.text[rows[i % len(rows)]] for i in range(args.per_arm)]
        synthetic = gen.sample(Conditions.from_prompts(prompts), seed=args.seed + arm_i)
        sizes = meter(synthetic.images)
        results[arm] = sizes
        grid_rows.append((f'"{arm}"', np.stack(synthetic.native_images(slice(0, 10)))))
        half = stats.t.ppf(0.975, len(sizes) - 1) * sizes.std(ddof=1) / np.sqrt(len(sizes))
        real_sizes = measured[rows]
        print(
            f"{arm:<8} {len(sizes):>4} {sizes.mean():>13.1f} mm "
            f"{f'[{sizes.mean() - half:.1f}, {sizes.mean() + half:.1f}]':>16}   "
            f"{real_sizes.mean():>12.1f} mm {len(rows):>4}"
        )
    diff = results["large"].mean() - results["small"].mean()
    t = stats.ttest_ind(results["large"], results["small"], equal_var=False)
    print(
        f"large - small: {diff:+.1f} mm (Welch t = {t.statistic:.2f}, p = {t.pvalue:.2g}): "
        f"{'as asked' if diff > 0 and t.pvalue < 0.05 else 'NOT as asked'}"
    )
    from synthbench.viz import image_grid

    path = image_grid(
        grid_rows,
        args.grids / f"{args.checkpoint.name}-{args.modality}-size.png",
        scale=3,
        title=f"{gen.name}: {args.modality} from prompts that say small / large",
    )
    print(f"grid {path}")


class SizeMeter:
    """A small CNN regressing the simulator's lesion size from real lesion images."""

    def __init__(self, model, channels: int, size: int, mean: float, std: float) -> None:
        self.model, self.channels, self.size, self.mean, self.std = model, channels, size, mean, std

    @classmethod
    def fit(cls, cohort, factor: str, *, epochs: int, seed: int = 0) -> SizeMeter:
        import torch

        from synthbench.nets import CNNConfig, build_cnn, prepare

        rows = np.flatnonzero(cohort.label > 0)
        y = np.asarray(cohort.factors[factor], float)[rows]
        mean, std = float(y.mean()), float(y.std())
        channels, size = cohort.image_shape[0], cohort.image_shape[-1]
        x = prepare(cohort.images[rows], channels=channels, size=size)
        target = torch.as_tensor((y - mean) / std, dtype=torch.float32)
        torch.manual_seed(seed)
        model = build_cnn(channels, 1, CNNConfig())
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        batch = 64
        steps = epochs * -(-len(x) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch):
                idx = order[start : start + batch]
                if len(idx) < 2:
                    continue
                loss = torch.nn.functional.mse_loss(model(x[idx]).squeeze(1), target[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        return cls(model, channels, size, mean, std)

    def save(self, folder: Path) -> None:
        import json

        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.model.state_dict(), folder / "model.safetensors")
        meta = {"channels": self.channels, "size": self.size, "mean": self.mean, "std": self.std}
        (folder / "meter.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> SizeMeter:
        import json

        from safetensors.torch import load_file

        from synthbench.nets import CNNConfig, build_cnn

        meta = json.loads((folder / "meter.json").read_text())
        model = build_cnn(meta["channels"], 1, CNNConfig())
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return cls(model.eval(), **meta)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        from synthbench.nets import prepare

        x = prepare(images, channels=self.channels, size=self.size)
        with torch.no_grad():
            out = torch.cat([self.model(x[i : i + 256]) for i in range(0, len(x), 256)])
        return out.squeeze(1).numpy() * self.std + self.mean


if __name__ == "__main__":
    main()
