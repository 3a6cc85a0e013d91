"""``best-of-n``: MINIM's published refinement, a sampling wrapper around a trained checkpoint.

For every condition it draws ``n_candidates`` images from the base generator and keeps the one
a reward model (learned from ratings, :mod:`synthbench.feedback.reward`) scores highest. With
``pick_quantile`` set, the pick satisfices instead: each of the reward model's two predicted
ratings (realism, prompt fidelity) counts up to a cap only, its ``pick_quantile`` quantile over
all candidates of the sampling block (every condition's), so the first candidate predicted to
reach both caps is kept, and where none does, the one with the highest capped sum. The argmax
leans to the images the reward model finds most typical, which narrows the spread of what is
kept (FD rises); a cap keeps any candidate that is good enough. The
checkpoint folder holds copies of the base checkpoint (``base/``) and the reward model
(``reward/``), so it stands alone. ``synthbench improve CKPT --ratings BATCH --method best-of-n``
writes one; ``fit`` builds one from the ``base`` and ``reward`` folders of its config.

With ``candidate_cache`` set to a folder (refinement rounds set it for their held-out evaluation
batch), the candidates of a block are kept there by the base's identity, the block's
conditions and the random state it starts from: a later round whose reward model differs but
whose base, prompts and seed are the same re-ranks the same candidates instead of drawing them
again, and leaves the random state where drawing them would have.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.config import ConfigVersion
from synthbench.errors import SynthbenchError
from synthbench.generators.base import Capabilities, Generator, GeneratorConfig
from synthbench.generators.conditions import ResolvedConditions

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class BestOfNConfig(GeneratorConfig):
    base: str = ""  # the checkpoint to sample from (a folder or shipped:<name>)
    reward: str = ""  # the reward model folder
    n_candidates: int = 4
    #: the base's sampling settings (``key=value``, e.g. ``guidance_scale=3``)
    base_sampling: tuple[str, ...] = ()
    #: 0: keep the reward model's best; q in (0, 1): keep the first candidate whose predicted
    #: realism and fidelity both reach their q-quantile over the block's candidates, else the
    #: best of the capped sums
    pick_quantile: float = 0.0

    SAMPLING: ClassVar[tuple[str, ...]] = ("n_candidates", "pick_quantile")
    #: version 2 added ``pick_quantile``; 0, the reward model's best, is what earlier ones did
    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(1),
        ConfigVersion(2, added={"pick_quantile": 0.0}),
    )
    #: 2: the base samples with ``base_sampling``
    CODE_VERSION: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if self.n_candidates < 1:
            raise ValueError(f"n_candidates must be at least 1, got {self.n_candidates}")
        if not 0 <= self.pick_quantile < 1:
            raise ValueError(
                f"pick_quantile must be 0 (the best) or a quantile in (0, 1), got {self.pick_quantile}"
            )


class BestOfN(Generator):
    """Keeps the reward model's best of ``n_candidates`` base samples per condition."""

    name = "best-of-n"
    Config = BestOfNConfig
    capabilities = Capabilities(conditioning="text", feedback=True)
    config: BestOfNConfig
    #: where candidates are kept for re-ranking (see the module docstring); None: not kept
    candidate_cache: Path | None = None

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        from synthbench.feedback.reward import RewardModel
        from synthbench.generators.shipped import resolve_checkpoint

        if not self.config.base or not self.config.reward:
            raise SynthbenchError(
                "best-of-n needs base=<checkpoint> and reward=<reward model folder> (--set ...)"
            )
        self._base_path = resolve_checkpoint(self.config.base)
        self._reward_path = Path(self.config.reward)
        self.base_ = self._load_base(self._base_path)
        self.reward_ = RewardModel.load(self._reward_path)
        self.schema_ = self.base_.schema_  # it makes what the base makes
        return {
            "base": {
                "path": str(self._base_path),
                "generator": self.base_.name,
                "config_hash": self.base_.config_hash,
            },
            "reward_agreement": self.reward_.agreement,
        }

    def _generate(
        self, conditions: ResolvedConditions, generator: torch.Generator
    ) -> tuple[np.ndarray, list[str]]:
        import torch

        kept = self._kept(conditions, generator) if self.candidate_cache else None
        if kept is not None and kept.is_file():
            with np.load(kept) as saved:
                candidates = list(saved["images"])
                texts = [[str(x) for x in t] for t in saved["texts"]]
                generator.set_state(torch.from_numpy(saved["state"].copy()))
        else:
            candidates, texts = [], []
            for _ in range(self.config.n_candidates):
                out = self.base_._generate(conditions, generator)
                images, text = out if isinstance(out, tuple) else (out, list(conditions.text))
                candidates.append(images)
                texts.append(list(text))
            if kept is not None:
                self._keep(kept, candidates, texts, generator)
        best = self._pick(candidates, list(conditions.text))
        rows = np.arange(len(conditions))
        return np.stack(candidates)[best, rows], [texts[k][i] for i, k in enumerate(best)]

    def _pick(self, candidates: list[np.ndarray], prompts: list[str]) -> np.ndarray:
        """Per condition, the index of the candidate kept (the first among equals)."""
        q = self.config.pick_quantile
        if not q:
            scores = [self.reward_.reward(images, prompts) for images in candidates]
            return np.argmax(np.stack(scores), axis=0)
        # candidates x conditions x (realism, fidelity); each score's cap over the whole block
        predicted = np.stack([self.reward_.predict(images, prompts) for images in candidates])
        cap = np.quantile(predicted.reshape(-1, predicted.shape[-1]), q, axis=0)
        return np.argmax(np.minimum(predicted, cap).sum(axis=2), axis=0)

    def _kept(self, conditions: ResolvedConditions, generator: torch.Generator) -> Path:
        """The file of this block's candidates: by the base (config and weights), the
        conditions, the candidate count and the random state the block starts from."""
        import hashlib
        import json

        h = hashlib.sha256()
        identity = [
            self.base_.config_hash,
            self._base_weights,  # read with the base, not per block
            self.config.n_candidates,
            list(conditions.modality),
            list(conditions.text),
        ]
        h.update(json.dumps(identity, default=str).encode())
        for part in (conditions.label, conditions.findings, conditions.biomarker):
            h.update(b"-" if part is None else np.ascontiguousarray(part).tobytes())
        h.update(generator.get_state().numpy().tobytes())
        return Path(self.candidate_cache) / f"{h.hexdigest()[:24]}.npz"

    @staticmethod
    def _keep(
        path: Path, candidates: list[np.ndarray], texts: list[list[str]], generator: Any
    ) -> None:
        """Write the candidates and the random state after them, whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary name per process: two cells may keep the same candidates at once
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            images=np.stack(candidates),
            texts=np.array(texts, dtype=str),
            state=generator.get_state().numpy(),
        )
        tmp.replace(path)

    def sampling_precision(self) -> str:
        return self.base_.sampling_precision()

    def sampling_device(self) -> str:
        return self.base_.sampling_device()

    def _save_state(self, path: Path) -> None:
        from synthbench.generators.upgrade import upgrade_checkpoint

        shutil.copytree(self._base_path, path / "base")
        # a base from an earlier synthbench may hold training reports: its copy is converted
        upgrade_checkpoint(path / "base")
        shutil.copytree(self._reward_path, path / "reward")

    def _load_state(self, path: Path) -> None:
        from synthbench.feedback.reward import RewardModel

        self._base_path, self._reward_path = path / "base", path / "reward"
        self.base_ = self._load_base(path / "base")
        self.reward_ = RewardModel.load(path / "reward")

    def _load_base(self, path: Path) -> Generator:
        from synthbench.generators.base import load_generator, read_checkpoint_info

        # the weights' digests: with the config hash, what identifies kept candidates
        self._base_weights = read_checkpoint_info(path).weights_sha256
        base = load_generator(path)
        base.config = base.config.with_sampling(self.config.base_sampling)
        return base
