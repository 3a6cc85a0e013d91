"""Small CNNs trained from scratch on a cohort: the domain encoder, the CAS classifier and the
image tower of the retrieval dual encoder share this code.

Targets: single-label cohorts are classified over global classes, one per (modality, label)
pair present in the training cohort; cohorts with only multi-label findings are trained with a
sigmoid per finding. Weights are saved as safetensors beside a JSON config (nothing unpickled).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class CNNConfig:
    """Size and training recipe of a small CNN (defaults fit the smoke and quick profiles)."""

    width: int = 16
    convs: int = 2  # convolutions in each of the second and third blocks
    embed_dim: int = 64
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    input_size: int | None = None  # None: the training cohort's image size, capped at 32
    seed: int = 0


@dataclass(frozen=True)
class ClassSpace:
    """What the network predicts: global classes ``(modality, label)`` or findings."""

    kind: str  # "classes" or "findings"
    names: tuple[str, ...]  # "modality/class" or finding names
    keys: tuple[tuple[str, int], ...] = ()  # (modality, label) per class

    @classmethod
    def of(cls, cohort: Cohort) -> ClassSpace:
        has_label = cohort.label >= 0
        if has_label.any():
            keys = sorted(
                {
                    (str(m), int(lbl))
                    for m, lbl in zip(cohort.modality[has_label], cohort.label[has_label])
                }
            )
            names = []
            for m, lbl in keys:
                label_names = cohort.label_names.get(m, [])
                names.append(f"{m}/{label_names[lbl] if lbl < len(label_names) else lbl}")
            return cls("classes", tuple(names), tuple(keys))
        if cohort.finding_names and cohort.findings.any():
            return cls("findings", tuple(cohort.finding_names))
        raise SynthbenchError(
            "the real training cohort has neither class labels nor findings; a domain encoder "
            "needs one of them (use --extractor inception or local instead)"
        )

    def targets(self, cohort: Cohort) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, targets)``: the rows that have a target in this space, and the targets
        (class index, or a float findings matrix in this space's finding order)."""
        if self.kind == "classes":
            index = {k: i for i, k in enumerate(self.keys)}
            t = np.array(
                [index.get((str(m), int(lbl)), -1) for m, lbl in zip(cohort.modality, cohort.label)]
            )
            rows = np.flatnonzero(t >= 0)
            return rows, t[rows]
        cols = [
            cohort.finding_names.index(f) if f in cohort.finding_names else -1 for f in self.names
        ]
        out = np.zeros((len(cohort), len(self.names)), np.float32)
        for j, c in enumerate(cols):
            if c >= 0:
                out[:, j] = cohort.findings[:, c]
        return np.arange(len(cohort)), out

    def to_json(self) -> dict:
        return {"kind": self.kind, "names": list(self.names), "keys": [list(k) for k in self.keys]}

    @classmethod
    def from_json(cls, data: dict) -> ClassSpace:
        return cls(
            data["kind"], tuple(data["names"]), tuple((str(m), int(lbl)) for m, lbl in data["keys"])
        )


def build_cnn(in_channels: int, n_outputs: int, config: CNNConfig) -> torch.nn.Module:
    import torch
    from torch import nn

    w = config.width

    def conv(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    def block(cin: int, cout: int, convs: int) -> nn.Sequential:
        layers = conv(cin, cout)
        for _ in range(convs - 1):
            layers += conv(cout, cout)
        return nn.Sequential(*layers)

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                block(in_channels, w, 1),
                nn.MaxPool2d(2),
                block(w, 2 * w, config.convs),
                nn.MaxPool2d(2),
                block(2 * w, 4 * w, config.convs),
            )
            self.embed_layer = nn.Linear(4 * w, config.embed_dim)
            self.head = nn.Linear(config.embed_dim, n_outputs)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            """The penultimate layer (input of the classification head)."""
            h = self.body(x).mean(dim=(-2, -1))
            return torch.relu(self.embed_layer(h))

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """The domain encoder's feature vector: spatially pooled activations of the first
            two blocks (texture, noise, sharpness) beside the penultimate layer (content), so
            both low-level fidelity and findings move the features."""
            pooled = []
            h = x
            for i, layer in enumerate(self.body):
                h = layer(h)
                if i in (0, 2):  # after the first and second blocks
                    pooled.append(h.mean(dim=(-2, -1)))
            return torch.cat([*pooled, torch.relu(self.embed_layer(h.mean(dim=(-2, -1))))], dim=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(x))

    return SmallCNN()


def save_network(folder: Path, model: torch.nn.Module, meta: dict) -> None:
    """A trained network in ``folder``: its weights (``model.safetensors``) and what rebuilds it
    (``config.json``, ``meta``)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(json.dumps(meta, indent=2))


def load_network(folder: Path, build: Callable[[dict], torch.nn.Module]) -> tuple[Any, dict]:
    """The network :func:`save_network` wrote, in eval mode, built by ``build(meta)``, and its
    ``meta``."""
    from safetensors.torch import load_file

    meta = json.loads((folder / "config.json").read_text())
    model = build(meta)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    return model, meta


def to_input(x: torch.Tensor, *, channels: int, size: int) -> torch.Tensor:
    """A float image tensor (n, C, H, W) with ``channels`` channels (1 <-> 3 by averaging or
    replicating) at ``size`` px (bilinear, antialiased)."""
    import torch.nn.functional as F

    if x.shape[1] != channels:
        if channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise SynthbenchError(
                f"cannot feed {x.shape[1]}-channel images to a {channels}-channel encoder"
            )
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x


def prepare(images: np.ndarray, *, channels: int, size: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> float tensor in [-2, 2]-ish, with ``channels`` channels and ``size``
    px (:func:`to_input`)."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(
        255.0
    )  # a copy: cohort arrays may be read-only
    return (to_input(x, channels=channels, size=size) - 0.5) / 0.25


def _input_size(cohort: Cohort, config: CNNConfig) -> int:
    return config.input_size or min(32, cohort.image_shape[-1])


def train_cnn(cohort: Cohort, config: CNNConfig) -> tuple[torch.nn.Module, ClassSpace, int, int]:
    """Train a small CNN on ``cohort``'s labels (or findings). Returns ``(model, space,
    channels, input_size)``; the model is in eval mode. Deterministic for a seed."""
    import torch
    import torch.nn.functional as F

    space = ClassSpace.of(cohort)
    rows, targets = space.targets(cohort)
    if len(rows) < 2:
        raise SynthbenchError(
            f"need at least 2 labelled images to train a classifier, got {len(rows)}"
        )
    channels, size = cohort.image_shape[0], _input_size(cohort, config)
    x = prepare(cohort.images[rows], channels=channels, size=size)
    y = torch.as_tensor(targets)
    torch.manual_seed(config.seed)
    model = build_cnn(channels, len(space.names), config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * max(1, -(-len(x) // config.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            xb = x[idx]
            # cheap augmentation: random horizontal shift by up to 1/16 of the width
            shift = int(torch.randint(-(size // 16), size // 16 + 1, (1,), generator=gen))
            xb = torch.roll(xb, shifts=shift, dims=-1)
            logits = model(xb)
            if space.kind == "classes":
                loss = F.cross_entropy(logits, y[idx])
            else:
                loss = F.binary_cross_entropy_with_logits(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model, space, channels, size


def predict(
    model: torch.nn.Module, images: np.ndarray, *, channels: int, size: int, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """``(features, probabilities)`` for uint8 images (softmax over classes; sigmoid per finding
    when ``model.multilabel``)."""
    import torch

    embs, probs = [], []
    multilabel = getattr(model, "multilabel", False)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = prepare(images[start : start + batch_size], channels=channels, size=size)
            logits = model(x)
            embs.append(model.features(x).double().numpy())
            p = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)
            probs.append(p.double().numpy())
    return np.concatenate(embs), np.concatenate(probs)


@dataclass
class TrainedCNN:
    """A trained small CNN with what it needs to be used and saved."""

    model: torch.nn.Module
    space: ClassSpace
    channels: int
    input_size: int
    config: CNNConfig

    @classmethod
    def fit(cls, cohort: Cohort, config: CNNConfig) -> TrainedCNN:
        model, space, channels, size = train_cnn(cohort, config)
        model.multilabel = space.kind == "findings"
        return cls(model, space, channels, size, config)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return predict(self.model, images, channels=self.channels, size=self.input_size)

    def save(self, folder: Path) -> None:
        meta = {
            "config": asdict(self.config),
            "space": self.space.to_json(),
            "channels": self.channels,
            "input_size": self.input_size,
        }
        save_network(folder, self.model, meta)

    @classmethod
    def load(cls, folder: Path) -> TrainedCNN:
        model, meta = load_network(
            folder,
            lambda meta: build_cnn(
                meta["channels"], len(meta["space"]["names"]), CNNConfig(**meta["config"])
            ),
        )
        config = CNNConfig(**meta["config"])
        space = ClassSpace.from_json(meta["space"])
        model.multilabel = space.kind == "findings"
        return cls(model, space, meta["channels"], meta["input_size"], config)
