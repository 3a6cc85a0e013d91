"""A reward model learned from ratings: (image, prompt) -> expected realism and prompt fidelity.

The image goes through the small CNN of :mod:`synthbench.nets`; the prompt through a hashed bag of
its words (so any prompt, phantom or not, has features); both meet in a small MLP with two
regression heads. Items (not ratings) are split into training and held-out parts, and the
held-out agreement with the raters is reported: accuracy of the rounded prediction and Spearman's
rank correlation, per score. Saved as safetensors plus JSON.

    synthbench feedback reward batch1/ batch2/ --out reward/
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthbench.feedback.batch import FeedbackError
from synthbench.feedback.store import rated_items
from synthbench.nets import CNNConfig

SCORES = ("realism", "fidelity")


@dataclass(frozen=True)
class RewardSettings:
    cnn: CNNConfig = field(default_factory=lambda: CNNConfig(embed_dim=64))
    text_dim: int = 256
    hidden: int = 64
    epochs: int = 60
    lr: float = 3e-3
    weight_decay: float = 1e-3
    held_out: float = 0.2
    seed: int = 0


def prompt_features(prompts: Sequence[str], dim: int) -> np.ndarray:
    """A hashed bag of lower-cased words and word pairs, L2-normalised per prompt."""
    out = np.zeros((len(prompts), dim), np.float32)
    for i, text in enumerate(prompts):
        words = re.findall(r"[a-z0-9]+", text.lower())
        for token in [*words, *(f"{a}_{b}" for a, b in itertools.pairwise(words))]:
            h = int.from_bytes(hashlib.sha1(token.encode()).digest()[:4], "little")
            out[i, h % dim] += 1.0
        norm = np.linalg.norm(out[i])
        if norm:
            out[i] /= norm
    return out


def _network(channels: int, settings: RewardSettings):
    import torch
    from torch import nn

    from synthbench.nets import build_cnn

    class RewardNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = build_cnn(channels, 1, settings.cnn)
            self.mlp = nn.Sequential(
                nn.Linear(settings.cnn.embed_dim + settings.text_dim, settings.hidden),
                nn.ReLU(),
                nn.Linear(settings.hidden, len(SCORES)),
            )

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return 2.0 + self.mlp(torch.cat([self.image.embed(x), t], dim=1))

    return RewardNet()


@dataclass
class RewardModel:
    """A trained reward model and its held-out agreement with the raters."""

    net: Any
    channels: int
    size: int
    settings: RewardSettings
    agreement: dict[str, float] = field(default_factory=dict)

    def predict(self, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """Expected (realism, fidelity) per image, shape (n, 2)."""
        import torch

        from synthbench.nets import prepare

        out = []
        self.net.eval()
        with torch.inference_mode():
            for start in range(0, len(images), 256):
                x = prepare(images[start : start + 256], channels=self.channels, size=self.size)
                t = torch.from_numpy(
                    prompt_features(prompts[start : start + 256], self.settings.text_dim)
                )
                out.append(self.net(x, t).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(SCORES)))

    def reward(self, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """One number per image: the mean of the expected scores."""
        return self.predict(images, prompts).mean(axis=1)

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        from synthbench.io import atomic_dir

        with atomic_dir(folder) as work:
            save_file(
                {k: v.contiguous() for k, v in self.net.state_dict().items()},
                str(work / "model.safetensors"),
            )
            meta = {
                "channels": self.channels,
                "size": self.size,
                "settings": asdict(self.settings),
                "agreement": self.agreement,
            }
            (work / "reward.json").write_text(json.dumps(meta, indent=2))
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> RewardModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            meta = json.loads((folder / "reward.json").read_text())
            settings = RewardSettings(
                **{**meta["settings"], "cnn": CNNConfig(**meta["settings"]["cnn"])}
            )
            net = _network(meta["channels"], settings)
            net.load_state_dict(load_file(str(folder / "model.safetensors")))
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise FeedbackError(
                f"{folder}: not a reward model ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        return cls(net.eval(), meta["channels"], meta["size"], settings, meta.get("agreement", {}))


def training_data(
    batches: Sequence[str | Path],
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """(images, prompts, scores (n, 2), item keys) of every non-skipped rating of the batches."""
    from synthbench.cohort import Cohort

    images, prompts, scores, keys = [], [], [], []
    cohorts: dict[Path, Cohort] = {}
    for it in rated_items(batches):
        folder = it["batch"]
        if folder not in cohorts:
            cohorts[folder] = Cohort.load(folder / "cohort")
        images.append(cohorts[folder].images[it["row"]])
        prompts.append(it["prompt"])
        scores.append((it["realism"], it["fidelity"]))
        keys.append(f"{folder}#{it['item_id']}")
    if len(images) < 10:
        raise FeedbackError(
            f"need at least 10 ratings (not skipped) to learn from, got {len(images)}"
        )
    return np.stack(images), prompts, np.asarray(scores, np.float32), keys


def train_reward(
    batches: Sequence[str | Path], settings: RewardSettings | None = None
) -> RewardModel:
    """Fit a reward model on the ratings of the batches; held-out items measure agreement."""
    import torch
    from scipy import stats

    from synthbench.nets import prepare

    settings = settings or RewardSettings()
    images, prompts, scores, keys = training_data(batches)
    items = sorted(set(keys))
    rng = np.random.default_rng(settings.seed)
    held = set(
        rng.choice(
            items, size=max(1, round(settings.held_out * len(items))), replace=False
        ).tolist()
    )
    test = np.array([k in held for k in keys])
    channels, size = images.shape[1], min(32, images.shape[-1])
    x = prepare(images, channels=channels, size=size)
    t = torch.from_numpy(prompt_features(prompts, settings.text_dim))
    y = torch.from_numpy(scores)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        net = _network(channels, settings)
        opt = torch.optim.AdamW(
            net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        train_rows = torch.from_numpy(np.flatnonzero(~test))
        gen = torch.Generator().manual_seed(settings.seed)
        net.train()
        for _ in range(settings.epochs):
            order = train_rows[torch.randperm(len(train_rows), generator=gen)]
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                if len(idx) < 2:
                    continue
                loss = torch.nn.functional.mse_loss(net(x[idx], t[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    model = RewardModel(net.eval(), channels, size, settings)
    pred = model.predict(images[test], [p for p, h in zip(prompts, test) if h])
    agreement: dict[str, float] = {"n_train": float((~test).sum()), "n_held_out": float(test.sum())}
    for j, name in enumerate(SCORES):
        truth = scores[test, j]
        agreement[f"{name}_accuracy"] = float((np.clip(np.rint(pred[:, j]), 1, 3) == truth).mean())
        rho = (
            stats.spearmanr(pred[:, j], truth).statistic
            if len(set(truth.tolist())) > 1
            else float("nan")
        )
        agreement[f"{name}_spearman"] = float(rho)
    model.agreement = agreement
    return model
