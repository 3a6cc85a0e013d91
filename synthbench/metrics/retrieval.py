"""Image-to-image and image-to-text retrieval top-10 (MINIM's IIR and ITR; registry entry
``retrieval``) with a small dual encoder trained on the real training image-report pairs.

The dual encoder: the small CNN as image tower, a bag-of-words (unigrams and bigrams, so "no
drusen" differs from "drusen") linear text tower, both projected to 64-d unit vectors and
trained with the symmetric contrastive (CLIP) loss. Trained once per training cohort and config,
cached by content hash.

- ``iir_top10``: each synthetic image retrieves its 10 nearest real test images (image tower);
  the score is the share of retrieved images with the query's class (findings set for
  multi-label cohorts), averaged over queries.
- ``itr_top10``: the same with the real test reports as the gallery (text tower).

Chance level is the class frequency (0.25 for four balanced classes). The real validation
images as queries give the ``set=real-val`` baseline.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.metrics.base import EvalContext, QualityMetric, Score
from synthbench.metrics.cache import FeatureCache, cohort_hash
from synthbench.nets import CNNConfig, build_cnn, prepare

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort

TOP_K = 10
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


@dataclass(frozen=True)
class DualEncoderConfig:
    image: CNNConfig = field(default_factory=CNNConfig)
    dim: int = 64
    vocab_size: int = 2000
    min_count: int = 2
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0


def tokens(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def build_vocab(texts: list[str], config: DualEncoderConfig) -> list[str]:
    from collections import Counter

    counts = Counter(t for text in texts for t in set(tokens(text)))
    kept = [t for t, c in counts.items() if c >= config.min_count]
    kept.sort(key=lambda t: (-counts[t], t))
    return kept[: config.vocab_size]


def bag_of_words(texts: list[str], vocab: list[str]) -> np.ndarray:
    index = {t: i for i, t in enumerate(vocab)}
    out = np.zeros((len(texts), len(vocab)), np.float32)
    for r, text in enumerate(texts):
        for t in tokens(text):
            j = index.get(t)
            if j is not None:
                out[r, j] = 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-6)


class DualEncoder:
    """Image and text towers mapping to one unit-sphere space."""

    def __init__(
        self, vocab: list[str], channels: int, input_size: int, config: DualEncoderConfig
    ) -> None:
        import torch
        from torch import nn

        self.vocab, self.channels, self.input_size, self.config = (
            vocab,
            channels,
            input_size,
            config,
        )
        torch.manual_seed(config.seed)
        self.image_tower = build_cnn(channels, config.dim, config.image)  # head = projection
        self.text_tower = nn.Sequential(
            nn.Linear(len(vocab), 128), nn.ReLU(), nn.Linear(128, config.dim)
        )
        self.log_temp = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))

    def parameters(self) -> list[Any]:
        return [*self.image_tower.parameters(), *self.text_tower.parameters(), self.log_temp]

    def _img(self, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.normalize(self.image_tower(x), dim=1)

    def _txt(self, b: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.normalize(self.text_tower(b), dim=1)

    def fit(self, images: np.ndarray, texts: list[str]) -> DualEncoder:
        import torch
        import torch.nn.functional as F

        cfg = self.config
        x = prepare(images, channels=self.channels, size=self.input_size)
        b = torch.from_numpy(bag_of_words(texts, self.vocab))
        opt = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.image_tower.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                if len(idx) < 2:
                    continue
                logits = (
                    self._img(x[idx]) @ self._txt(b[idx]).T * self.log_temp.exp().clamp(max=100)
                )
                target = torch.arange(len(idx))
                loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        self.image_tower.eval()
        return self

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = [
                self._img(
                    prepare(images[s : s + 256], channels=self.channels, size=self.input_size)
                ).numpy()
                for s in range(0, len(images), 256)
            ]
        return np.concatenate(out).astype(np.float64)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return (
                self._txt(torch.from_numpy(bag_of_words(texts, self.vocab)))
                .numpy()
                .astype(np.float64)
            )

    # ------------------------------------------------------------------ disk
    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"image.{k}": v for k, v in self.image_tower.state_dict().items()}
        tensors |= {f"text.{k}": v for k, v in self.text_tower.state_dict().items()}
        tensors["log_temp"] = self.log_temp.detach().reshape(1)
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors")
        )
        meta = {
            "vocab": self.vocab,
            "channels": self.channels,
            "input_size": self.input_size,
            "config": asdict(self.config),
        }
        (folder / "config.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> DualEncoder:
        import torch
        from safetensors.torch import load_file

        meta = json.loads((folder / "config.json").read_text())
        cfg = meta["config"]
        config = DualEncoderConfig(**{**cfg, "image": CNNConfig(**cfg["image"])})
        enc = cls(meta["vocab"], meta["channels"], meta["input_size"], config)
        tensors = load_file(str(folder / "model.safetensors"))
        enc.image_tower.load_state_dict(
            {k[6:]: v for k, v in tensors.items() if k.startswith("image.")}
        )
        enc.text_tower.load_state_dict(
            {k[5:]: v for k, v in tensors.items() if k.startswith("text.")}
        )
        with torch.no_grad():
            enc.log_temp.copy_(tensors["log_temp"][0])
        enc.image_tower.eval()
        return enc

    @classmethod
    def for_cohort(
        cls, train: Cohort, config: DualEncoderConfig, cache: FeatureCache
    ) -> DualEncoder:
        """Trained on ``train``'s image-report pairs, or loaded from the cache."""
        parts = {"train": cohort_hash(train, with_text=True), "config": asdict(config)}

        def build() -> DualEncoder:
            if not any(train.text):
                raise SynthbenchError(
                    "retrieval needs reports (text) in the real training cohort to train its dual encoder"
                )
            vocab = build_vocab(train.text, config)
            size = config.image.input_size or min(32, train.image_shape[-1])
            return cls(vocab, train.image_shape[0], size, config).fit(train.images, train.text)

        return cache.model("dual-encoder", parts, load=cls.load, build=build, save=cls.save)


def _keys(cohort: Cohort) -> list[tuple]:
    if (cohort.label >= 0).any():
        return [(str(m), int(lbl)) for m, lbl in zip(cohort.modality, cohort.label)]
    return [(str(m), *np.flatnonzero(f).tolist()) for m, f in zip(cohort.modality, cohort.findings)]


def precision_at_k(
    queries: np.ndarray, gallery: np.ndarray, query_keys: list, gallery_keys: list, k: int = TOP_K
) -> float:
    """Mean share of each query's ``k`` most similar gallery rows (cosine) with its key."""
    k = min(k, len(gallery))
    sims = queries @ gallery.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    g = np.asarray([hash(x) for x in gallery_keys])
    q = np.asarray([hash(x) for x in query_keys])
    return float((g[top] == q[:, None]).mean())


class Retrieval(QualityMetric):
    """See the module docstring."""

    name = "retrieval"
    higher_is_better = True
    uses_features = False
    config = DualEncoderConfig()

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        config = replace(self.config, seed=ctx.seed)
        encoder = ctx.model(
            "dual-encoder", lambda: DualEncoder.for_cohort(ctx.real.train, config, ctx.cache)
        )
        test = ctx.real.test
        if not any(test.text):
            raise SynthbenchError("retrieval needs reports (text) in the real test cohort")
        if synthetic.image_shape[0] != test.image_shape[0] and synthetic.image_shape[0] not in (
            1,
            3,
        ):
            raise SynthbenchError(
                f"cannot compare {synthetic.image_shape[0]}-channel images with the real ones"
            )
        gallery_img = encoder.encode_images(test.images)
        gallery_txt = encoder.encode_texts(test.text)
        gallery_keys = _keys(test)
        out = []
        for set_name, cohort in (("synthetic", synthetic), ("real-val", ctx.real.val)):
            q = encoder.encode_images(cohort.images)
            keys = _keys(cohort)
            base = {} if set_name == "synthetic" else {"set": "real-val"}
            for metric, gallery in (("iir_top10", gallery_img), ("itr_top10", gallery_txt)):
                value = precision_at_k(q, gallery, keys, gallery_keys)
                out.append(
                    Score(
                        metric,
                        value,
                        True,
                        dict(base),
                        n_real=len(test),
                        n_synth=len(cohort),
                        uses_features=False,
                    )
                )
        return out
