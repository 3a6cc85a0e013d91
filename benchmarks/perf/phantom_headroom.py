"""Room for augmentation at the default difficulty.

Trains the same small CNN on 50 and on 2,000 phantom images per class and prints both test
accuracies per modality; the gap is the room synthetic data has to help. The requirement is a gap
of at least 10 points for oct, fundus, chest_ct and breast_mri.

    python benchmarks/perf/phantom_headroom.py [--modalities oct fundus] [--steps 600]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from synthbench.data.phantoms import DEFAULT_DIFFICULTY, get_modality, simulate


def small_cnn(in_channels: int, n_classes: int) -> nn.Module:
    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)
        )

    return nn.Sequential(
        block(in_channels, 32),
        block(32, 64),
        block(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(128, n_classes),
    )


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(127.5).sub_(1.0)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return float((pred == y).float().mean())


def train_and_test(train, val, test, n_classes: int, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    xtr, ytr = to_tensor(train.images), torch.from_numpy(train.labels)
    xva, yva = to_tensor(val.images), torch.from_numpy(val.labels)
    xte, yte = to_tensor(test.images), torch.from_numpy(test.labels)
    model = small_cnn(xtr.shape[1], n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    best_val, best_test = -1.0, 0.0
    for step in range(steps):
        model.train()
        idx = torch.randint(len(xtr), (64,), generator=gen)
        xb = xtr[idx]
        loss = nn.functional.cross_entropy(model(xb), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % max(steps // 8, 1) == 0 or step == steps - 1:
            v = accuracy(model, xva, yva)
            if v > best_val:
                best_val, best_test = v, accuracy(model, xte, yte)
    return best_test


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--modalities", nargs="+", default=["oct", "fundus", "chest_ct", "breast_mri"]
    )
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--small", type=int, default=50, help="images per class, low-data run")
    parser.add_argument("--large", type=int, default=2000, help="images per class, full-data run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    print(
        f"{'modality':<11} {'classes':>7} {f'acc@{args.small}/cls':>12} {f'acc@{args.large}/cls':>13} {'gap (pts)':>9} {'s':>5}"
    )
    for modality in args.modalities:
        t0 = time.perf_counter()
        k = get_modality(modality).info.n_classes
        kw = dict(size=args.size, difficulty=args.difficulty)
        test = simulate(modality, 300 * k, seed=args.seed + 1000, **kw)
        val = simulate(modality, 100 * k, seed=args.seed + 2000, **kw)
        small = simulate(modality, args.small * k, seed=args.seed, **kw)
        large = simulate(modality, args.large * k, seed=args.seed + 3000, **kw)
        acc_small = train_and_test(small, val, test, k, args.steps, args.seed)
        acc_large = train_and_test(large, val, test, k, args.steps, args.seed)
        gap = 100 * (acc_large - acc_small)
        flag = "ok" if gap >= 10 else "TOO SMALL"
        print(
            f"{modality:<11} {k:>7} {acc_small:>12.3f} {acc_large:>13.3f} {gap:>9.1f} {time.perf_counter() - t0:>5.0f}  {flag}",
            flush=True,
        )


if __name__ == "__main__":
    main()
