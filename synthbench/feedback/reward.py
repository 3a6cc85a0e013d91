"""A reward model learned from ratings: (image, prompt) -> expected realism and prompt fidelity.

The image goes through the small CNN of :mod:`synthbench.nets`. Realism is read from the image
alone. Prompt fidelity is "does the image show what the prompt asks for": where the report
labeller reads a prompt (its modality known), a class head on the image gives the probability of
the asked-for class (single-label modalities) or the agreement with the asked-for findings
(multi-label ones), and fidelity is 1 + 2 x that; a prompt the labeller cannot read goes through
a hashed bag of its words (so any prompt has features) into a small MLP with the image. The
model is an ensemble of ``members`` such networks, each from its own initialisation and order
of the ratings, whose predictions are averaged (fewer picks of one network's mistakes).

With ``labelled`` real images (the base's own training images, say), each network's image layers
and class head first learn their classes for ``pretrain_epochs``, as a classifier, and then the
ratings: the ratings then adjust what a classifier reads rather than teach it from 200-600 noisy
three-level scores.

Items (not ratings) are split into training and held-out parts, and the held-out agreement with
the raters is reported: accuracy of the rounded prediction and Spearman's rank correlation, per
score. Saved as safetensors plus JSON.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.feedback.batch import FeedbackError
from synthbench.feedback.store import rated_items
from synthbench.nets import CNNConfig

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

SCORES = ("realism", "fidelity")
#: the saved form (reward.json's ``format``); earlier forms are refused with a clear line
FORMAT = 2


@dataclass(frozen=True)
class RewardSettings:
    cnn: CNNConfig = field(default_factory=lambda: CNNConfig(embed_dim=64))
    text_dim: int = 256
    hidden: int = 64
    epochs: int = 60
    lr: float = 3e-3
    weight_decay: float = 1e-3
    held_out: float = 0.2
    #: networks in the ensemble
    members: int = 5
    #: epochs each network's image layers and class head first learn the classes of labelled
    #: real images (``train_reward``'s ``labelled``) before the ratings; 0: ratings only
    pretrain_epochs: int = 0
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


def prompt_labels(prompts: Sequence[str]) -> list[str]:
    """The label keys (``modality/class`` of single-label modalities, ``modality/finding`` of
    multi-label ones) of every modality the labeller reads among the prompts."""
    from synthbench.data.phantoms import get_modality, label_report

    mods = sorted({m for m in (label_report(p).modality for p in prompts if p) if m})
    return [f"{m}/{name}" for m in mods for name in get_modality(m).info.label_names]


def asked_for(
    prompts: Sequence[str], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prompt: its kind (0: not read, or its modality not among ``labels``; 1: one class;
    2: findings), the labels of its modality (mask) and what it asks for (one-hot or multi-hot)."""
    from synthbench.data.phantoms import get_modality, label_report

    index = {key: i for i, key in enumerate(labels)}
    known = {key.split("/", 1)[0] for key in labels}
    kind = np.zeros(len(prompts), np.int64)
    group = np.zeros((len(prompts), len(labels)), np.float32)
    want = np.zeros_like(group)
    for i, text in enumerate(prompts):
        read = label_report(text) if text else None
        if read is None or read.modality not in known:
            continue
        info = get_modality(read.modality).info
        for name in info.label_names:
            group[i, index[f"{read.modality}/{name}"]] = 1.0
        if info.multilabel:
            kind[i] = 2
            for name in read.findings:
                want[i, index[f"{read.modality}/{name}"]] = 1.0
        else:
            kind[i] = 1
            want[i, index[f"{read.modality}/{info.classes[info.class_of(read.findings)]}"]] = 1.0
    return kind, group, want


def _network(channels: int, n_labels: int, settings: RewardSettings):
    import torch
    from torch import nn

    from synthbench.nets import build_cnn

    class RewardNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            e = settings.cnn.embed_dim
            self.image = build_cnn(channels, 1, settings.cnn)
            self.realism = nn.Sequential(
                nn.Linear(e, settings.hidden), nn.ReLU(), nn.Linear(settings.hidden, 1)
            )
            self.words = nn.Sequential(
                nn.Linear(e + settings.text_dim, settings.hidden),
                nn.ReLU(),
                nn.Linear(settings.hidden, 1),
            )
            self.labels = nn.Linear(e, max(n_labels, 1))

        def forward(self, x, t, kind, group, want) -> torch.Tensor:
            e = self.image.embed(x)
            realism = 2.0 + self.realism(e)[:, 0]
            by_words = 2.0 + self.words(torch.cat([e, t], dim=1))[:, 0]
            z = self.labels(e)[:, : group.shape[1]]
            one = (z.masked_fill(group == 0, -1e4).softmax(dim=1) * want).sum(dim=1)
            off = (group * (torch.sigmoid(z) - want).abs()).sum(dim=1) / group.sum(dim=1).clamp(
                min=1
            )
            p = torch.where(kind == 1, one, 1.0 - off)
            fidelity = torch.where(kind == 0, by_words, 1.0 + 2.0 * p)
            return torch.stack([realism, fidelity], dim=1)

    return RewardNet()


def _inputs(prompts: Sequence[str], labels: Sequence[str], settings: RewardSettings) -> tuple:
    import torch

    kind, group, want = asked_for(prompts, labels)
    return (
        torch.from_numpy(prompt_features(prompts, settings.text_dim)),
        torch.from_numpy(kind),
        torch.from_numpy(group),
        torch.from_numpy(want),
    )


@dataclass
class RewardModel:
    """A trained reward model and its held-out agreement with the raters."""

    nets: list[Any]
    channels: int
    size: int
    settings: RewardSettings
    #: the label keys of the class head (:func:`prompt_labels` of the training prompts)
    labels: list[str]
    agreement: dict[str, float] = field(default_factory=dict)
    #: labelled real images each network learnt the classes of before the ratings (0: none)
    n_pretrain: int = 0

    def predict(self, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """Expected (realism, fidelity) per image, shape (n, 2)."""
        import torch

        from synthbench.nets import prepare

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), 256):
                x = prepare(images[start : start + 256], channels=self.channels, size=self.size)
                inputs = _inputs(prompts[start : start + 256], self.labels, self.settings)
                each = [net.eval()(x, *inputs).double().numpy() for net in self.nets]
                out.append(np.mean(each, axis=0))
        return np.concatenate(out) if out else np.zeros((0, len(SCORES)))

    def reward(self, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """One number per image: the mean of the expected scores."""
        return self.predict(images, prompts).mean(axis=1)

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        from synthbench.io import atomic_dir

        with atomic_dir(folder) as work:
            save_file(
                {
                    f"{i}.{k}": v.contiguous()
                    for i, net in enumerate(self.nets)
                    for k, v in net.state_dict().items()
                },
                str(work / "model.safetensors"),
            )
            meta = {
                "format": FORMAT,
                "labels": self.labels,
                "channels": self.channels,
                "size": self.size,
                "settings": asdict(self.settings),
                "agreement": self.agreement,
                "n_pretrain": self.n_pretrain,
            }
            (work / "reward.json").write_text(json.dumps(meta, indent=2))
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> RewardModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            meta = json.loads((folder / "reward.json").read_text())
            if meta.get("format", 1) != FORMAT:
                raise FeedbackError(
                    f"{folder}: a reward model of an earlier synthbench (format "
                    f"{meta.get('format', 1)}, this one reads {FORMAT}); train it again "
                    "(synthbench feedback reward)"
                )
            settings = RewardSettings(
                **{**meta["settings"], "cnn": CNNConfig(**meta["settings"]["cnn"])}
            )
            labels = list(meta["labels"])
            state = load_file(str(folder / "model.safetensors"))
            nets = []
            for i in range(settings.members):
                net = _network(meta["channels"], len(labels), settings)
                prefix = f"{i}."
                net.load_state_dict(
                    {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                )
                nets.append(net.eval())
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise FeedbackError(
                f"{folder}: not a reward model ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        return cls(
            nets,
            meta["channels"],
            meta["size"],
            settings,
            labels,
            meta.get("agreement", {}),
            int(meta.get("n_pretrain", 0)),
        )


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


def _pretrain(net: Any, labelled: tuple, settings: RewardSettings, gen: Any) -> None:
    """Teach ``net``'s image layers and class head the classes of ``labelled`` (images and
    the (kind, group, want) of their reports): cross-entropy over a single-label modality's
    classes, binary cross-entropy over a multi-label one's findings."""
    import torch

    x, kind, group, want = labelled
    opt = torch.optim.AdamW(
        [*net.image.parameters(), *net.labels.parameters()],
        lr=settings.lr,
        weight_decay=settings.weight_decay,
    )
    for _ in range(settings.pretrain_epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            if len(idx) < 2:
                continue
            z = net.labels(net.image.embed(x[idx]))[:, : group.shape[1]]
            g, w, k = group[idx], want[idx], kind[idx]
            single = -(z.masked_fill(g == 0, -1e4).log_softmax(dim=1) * w).sum(dim=1)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(z, w, reduction="none")
            multi = (g * bce).sum(dim=1) / g.sum(dim=1).clamp(min=1)
            loss = torch.where(k == 1, single, multi).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def labelled_inputs(cohort: Cohort, labels: Sequence[str], channels: int, size: int) -> tuple:
    """(images, kind, group, want) of the real images whose reports the labeller reads in a
    modality among ``labels``: what :func:`_pretrain` learns from."""
    import torch

    from synthbench.nets import prepare

    if not labels:
        raise FeedbackError(
            "the ratings' prompts name no modality the report labeller reads, so a class head "
            "has nothing to learn; train the reward model without labelled images"
        )
    kind, group, want = asked_for(list(cohort.text), labels)
    rows = np.flatnonzero(kind > 0)
    if not len(rows):
        raise FeedbackError(
            "the labelled images hold no report of a modality the ratings' prompts ask for "
            f"({', '.join(sorted({k.split('/', 1)[0] for k in labels}))})"
        )
    try:
        images = cohort.subset(rows).to_channels(channels).images
    except SynthbenchError as exc:
        raise FeedbackError(f"the labelled images do not match the rated ones: {exc}") from None
    return (
        prepare(images, channels=channels, size=size),
        torch.from_numpy(kind[rows]),
        torch.from_numpy(group[rows]),
        torch.from_numpy(want[rows]),
    )


def train_reward(
    batches: Sequence[str | Path],
    settings: RewardSettings | None = None,
    labelled: Cohort | None = None,
) -> RewardModel:
    """Fit a reward model on the ratings of the batches; held-out items measure agreement.
    With ``labelled`` and ``settings.pretrain_epochs``, each network first learns the classes
    of those real images (their reports read by the labeller)."""
    import torch
    from scipy import stats

    from synthbench.nets import prepare

    settings = settings or RewardSettings()
    if settings.pretrain_epochs < 0:
        raise FeedbackError(f"pretrain_epochs must be 0 or more, got {settings.pretrain_epochs}")
    if settings.pretrain_epochs and labelled is None:
        raise FeedbackError("pretrain_epochs needs labelled images to learn the classes from")
    images, prompts, scores, keys = training_data(batches)
    items = sorted(set(keys))
    rng = np.random.default_rng(settings.seed)
    held = set(
        rng.choice(
            items, size=max(1, round(settings.held_out * len(items))), replace=False
        ).tolist()
    )
    test = np.array([k in held for k in keys])
    if settings.members < 1:
        raise FeedbackError(f"members must be at least 1, got {settings.members}")
    channels, size = images.shape[1], min(32, images.shape[-1])
    labels = prompt_labels(prompts)
    x = prepare(images, channels=channels, size=size)
    inputs = _inputs(prompts, labels, settings)
    known = labelled is not None and settings.pretrain_epochs > 0
    pre = labelled_inputs(labelled, labels, channels, size) if known else None
    y = torch.from_numpy(scores)
    train_rows = torch.from_numpy(np.flatnonzero(~test))
    nets = []
    for member in range(settings.members):
        seed = settings.seed + 7919 * member
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _network(channels, len(labels), settings)
            opt = torch.optim.AdamW(
                net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
            )
            gen = torch.Generator().manual_seed(seed)
            net.train()
            if pre is not None:
                _pretrain(net, pre, settings, gen)
            for _ in range(settings.epochs):
                order = train_rows[torch.randperm(len(train_rows), generator=gen)]
                for start in range(0, len(order), 64):
                    idx = order[start : start + 64]
                    if len(idx) < 2:
                        continue
                    pred = net(x[idx], *(part[idx] for part in inputs))
                    loss = torch.nn.functional.mse_loss(pred, y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        nets.append(net.eval())
    model = RewardModel(
        nets, channels, size, settings, labels, n_pretrain=0 if pre is None else len(pre[0])
    )
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
