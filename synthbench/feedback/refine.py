"""Refining a text-conditioned diffusion checkpoint from ratings: one round of a method.

- ``best-of-n``: MINIM's published refinement. The round's checkpoint wraps the *original* base
  with a reward model learned from every rating so far (:mod:`synthbench.generators.best_of_n`);
  the base's weights never change.
- ``raft`` (reward-ranked fine-tuning, Dong et al. 2023): for each prompt of the latest batch the
  parent draws ``n_candidates`` images, the reward model keeps the best, and the parent is
  fine-tuned (``init_from``) on the kept images together with the images raters gave the top
  rating on both scores.
- ``dpo`` (Diffusion-DPO, Wallace et al. 2024): preference pairs are two images of the same prompt
  whose ratings differ; the UNet is trained to denoise the preferred image better, and the other
  worse, than a frozen copy of itself (the reference), with strength ``beta``.

Each returns a generator ready to save; its ``fit_info_`` names the parent and the ratings, and
keeps the parent's ``data`` (a refined model saw no real image its parent did not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.feedback.batch import FeedbackError, load_batch
from synthbench.feedback.store import rated_items

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.feedback.reward import RewardModel
    from synthbench.generators.base import Generator

METHODS = ("best-of-n", "raft", "dpo")
#: learning rates that worked at the quick profile (UNet of ~1.7M parameters)
DEFAULT_LR = {"raft": 1e-4, "dpo": 2e-5}


@dataclass(frozen=True)
class RefineSettings:
    """How one round refines. ``lr`` None: the method's default (``DEFAULT_LR``)."""

    n_candidates: int = 4
    steps: int = 200
    batch_size: int = 32
    lr: float | None = None
    #: Diffusion-DPO's strength: how far the policy may move from the reference per unit of loss
    beta: float = 2500.0
    reward_epochs: int = 60
    #: > 0: the reward model first learns the classes of the base's own labelled training
    #: images for this many epochs (:func:`synthbench.feedback.reward.train_reward`)
    reward_pretrain: int = 0
    #: best-of-n's pick: 0 keeps the reward model's best candidate; q in (0, 1) keeps the first
    #: whose predicted realism and fidelity both reach their q-quantile over the sampling
    #: block's candidates, else the best capped sum (:mod:`synthbench.generators.best_of_n`)
    pick_quantile: float = 0.0
    #: sampling settings of the base (``key=value``, e.g. ``guidance_scale=3``): every model a
    #: round samples from (the base, best-of-n's candidates, raft's and dpo's parents) uses them
    sampling: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_candidates", "steps", "batch_size", "reward_epochs", "reward_pretrain"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise FeedbackError(f"{name} must be a whole number, got {value!r}")
        for name in ("n_candidates", "steps", "batch_size", "reward_epochs"):
            if getattr(self, name) < 1:
                raise FeedbackError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.reward_pretrain < 0:
            raise FeedbackError(
                f"reward_pretrain must be 0 (ratings only) or more epochs, got {self.reward_pretrain}"
            )
        if self.lr is not None and not self.lr > 0:
            raise FeedbackError(f"lr must be a positive number, got {self.lr}")
        if not self.beta > 0:
            raise FeedbackError(f"beta must be a positive number, got {self.beta}")
        q = self.pick_quantile
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q < 1:
            raise FeedbackError(
                f"pick_quantile must be 0 (the reward model's best) or a quantile in (0, 1), got {q!r}"
            )

    def learning_rate(self, method: str) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[method]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise FeedbackError(f"unknown refinement method {method!r}; one of {', '.join(METHODS)}")
    return method


def top_rated(batches: Sequence[str | Path]) -> Cohort | None:
    """The images rated 3 for both realism and prompt fidelity (None if there are none)."""
    from synthbench.cohort import Cohort

    parts = []
    for folder in map(Path, batches):
        rows = sorted(
            {
                it["row"]
                for it in rated_items([folder])
                if it["realism"] == 3 and it["fidelity"] == 3
            }
        )
        if rows:
            parts.append(Cohort.load(folder / "cohort").subset(np.asarray(rows, np.int64)))
    return Cohort.concat(parts) if parts else None


def preference_pairs(batches: Sequence[str | Path]) -> list[tuple[Path, int, int]]:
    """(batch, preferred row, other row): two images of one prompt in one batch whose mean
    ratings (realism and fidelity, averaged over raters) differ."""
    pairs = []
    for folder in map(Path, batches):
        score: dict[int, list[float]] = {}
        prompt: dict[int, str] = {}
        for it in rated_items([folder]):
            score.setdefault(it["row"], []).append((it["realism"] + it["fidelity"]) / 2)
            prompt[it["row"]] = it["prompt"]
        by_prompt: dict[str, list[int]] = {}
        for row in sorted(score):
            by_prompt.setdefault(prompt[row], []).append(row)
        for rows in by_prompt.values():
            means = {r: float(np.mean(score[r])) for r in rows}
            for a, i in enumerate(rows):
                for j in rows[a + 1 :]:
                    if means[i] != means[j]:
                        win, lose = (i, j) if means[i] > means[j] else (j, i)
                        pairs.append((folder, win, lose))
    return pairs


def load_parent(checkpoint: str | Path, settings: RefineSettings) -> Generator:
    """The checkpoint a round samples from or fine-tunes, with the settings' sampling applied
    (a fine-tuned model keeps them in its config, so its own rounds sample alike)."""
    from synthbench.generators.base import load_generator

    gen = load_generator(checkpoint)
    gen.config = gen.config.with_sampling(settings.sampling)
    return gen


# ---------------------------------------------------------------------------------- methods
def best_of_n(
    base: str | Path, reward_dir: Path, like: Cohort, settings: RefineSettings
) -> Generator:
    """The base wrapped with the reward model (see the module docstring); ``like`` is any
    cohort (best-of-n learns nothing from images: it makes what its base makes)."""
    from synthbench.generators.best_of_n import BestOfN, BestOfNConfig

    gen = BestOfN(
        BestOfNConfig(
            base=str(base),
            reward=str(reward_dir),
            n_candidates=settings.n_candidates,
            base_sampling=tuple(settings.sampling),
            pick_quantile=float(settings.pick_quantile),
        )
    )
    gen.fit(like, seed=settings.seed)
    gen.fit_info_["data"] = gen.base_.fit_info_.get("data")
    return gen


def raft(
    parent: Path,
    batches: Sequence[Path],
    reward_dir: Path,
    settings: RefineSettings,
) -> Generator:
    """Fine-tune the parent on its reward-ranked best images and the top-rated ones."""
    from synthbench.cohort import Cohort
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.minim import Minim

    model = load_parent(parent, settings)
    if not isinstance(model, Minim):
        raise FeedbackError(f"raft fine-tunes a minim checkpoint; {parent} is {model.name}")
    prompts = list(dict.fromkeys(item.prompt for item in load_batch(batches[-1]).items))
    ranked = best_of_n(parent, reward_dir, Cohort.load(batches[-1] / "cohort"), settings).sample(
        Conditions.from_prompts(prompts), seed=settings.seed
    )
    top = top_rated(batches)
    train = ranked if top is None else Cohort.concat([ranked, top])
    config = replace(
        model.config,
        init_from=str(parent),
        steps=settings.steps,
        minutes=None,
        lr=settings.learning_rate("raft"),
        warmup_steps=min(model.config.warmup_steps, settings.steps // 10),
        batch_size=min(settings.batch_size, len(train)),
        checkpoint_every=0,
    )
    tuned = Minim(config).fit(train, seed=settings.seed)
    tuned.fit_info_.update(
        {
            "data": model.fit_info_.get("data"),
            "refined": {
                "method": "raft",
                "parent": str(parent),
                "ratings": [str(b) for b in batches],
                "n_ranked": len(ranked),
                "n_top_rated": 0 if top is None else len(top),
            },
        }
    )
    return tuned


def dpo(parent: Path, batches: Sequence[Path], settings: RefineSettings) -> Generator:
    """Diffusion-DPO of the parent's UNet on the rating pairs of the batches (text encoder
    frozen). The loss, per pair with shared noise and timestep, is
    ``-log sigmoid(-beta/2 * ((e_w - e_w_ref) - (e_l - e_l_ref)))``, ``e`` the denoising error
    of the policy and ``e_ref`` that of the frozen reference."""
    import copy

    import torch

    from synthbench.cohort import Cohort
    from synthbench.generators import diffusion
    from synthbench.generators.image_space import to_model_space
    from synthbench.generators.minim import MODEL_CHANNELS, Minim

    model = load_parent(parent, settings)
    if not isinstance(model, Minim):
        raise FeedbackError(f"dpo fine-tunes a minim checkpoint; {parent} is {model.name}")
    pairs = preference_pairs(batches)
    if len(pairs) < 2:
        raise FeedbackError(
            f"dpo needs at least 2 preference pairs (two images of one prompt rated differently); "
            f"the ratings give {len(pairs)}"
        )
    cohorts = {b: Cohort.load(b / "cohort") for b in dict.fromkeys(p[0] for p in pairs)}
    prompts = {b: [item.prompt for item in load_batch(b).items] for b in cohorts}
    size = model.config.image_size

    def images(rows: list[tuple[Path, int]]) -> torch.Tensor:
        x = np.stack([cohorts[b].images[r] for b, r in rows])
        return model._resize(to_model_space(x, MODEL_CHANNELS), size)

    x_win = images([(b, w) for b, w, _ in pairs])
    x_lose = images([(b, lo) for b, _, lo in pairs])
    ids, mask = model.tokenizer_([prompts[b][w] for b, w, _ in pairs])
    beta = settings.beta
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        unet = model.unet_.train()
        reference = copy.deepcopy(unet).eval().requires_grad_(False)
        encoder = model.text_encoder_.eval().requires_grad_(False)
        scheduler = diffusion.noise_scheduler(model.config.prediction_type)
        opt = torch.optim.AdamW(unet.parameters(), lr=settings.learning_rate("dpo"))
        gen = torch.Generator().manual_seed(settings.seed)
        batch = min(settings.batch_size, len(pairs))
        losses, accuracy = [], []
        for _ in range(settings.steps):
            idx = torch.randperm(len(pairs), generator=gen)[:batch]
            with torch.no_grad():
                states, pooled = model.encode_prompts(encoder, ids[idx], mask[idx])
            states2, mask2 = torch.cat([states, states]), torch.cat([mask[idx], mask[idx]])
            pooled2 = None if pooled is None else torch.cat([pooled, pooled])
            x0 = torch.cat([x_win[idx], x_lose[idx]])
            t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=gen)
            noise = torch.randn(x0[:batch].shape, generator=gen)
            t2, noise2 = torch.cat([t, t]), torch.cat([noise, noise])
            noisy = scheduler.add_noise(x0, noise2, t2)
            target = diffusion.training_target(scheduler, x0, noise2, t2).float()

            inputs = (states2, mask2, pooled2, noisy, t2, target)
            with torch.no_grad():
                ref_err = _denoising_error(reference, *inputs)
            err = _denoising_error(unet, *inputs)
            diff = (err - ref_err).view(2, batch)
            inside = -0.5 * beta * (diff[0] - diff[1])
            loss = -torch.nn.functional.logsigmoid(inside).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            accuracy.append(float((inside > 0).float().mean()))
    model.unet_ = unet.eval().requires_grad_(False)
    tail = max(1, len(losses) // 10)
    model.fit_info_.update(
        {
            "refined": {
                "method": "dpo",
                "parent": str(parent),
                "ratings": [str(b) for b in batches],
                "pairs": len(pairs),
                "steps": settings.steps,
                "beta": beta,
                "lr": settings.learning_rate("dpo"),
                "final_loss": round(float(np.mean(losses[-tail:])), 5),
                # how often the policy already prefers the preferred image more than the
                # reference does (0.5 at the start)
                "final_pair_accuracy": round(float(np.mean(accuracy[-tail:])), 4),
            }
        }
    )
    return model


def _denoising_error(
    unet: Any, states: Any, mask: Any, pooled: Any, noisy: Any, t: Any, target: Any
) -> Any:
    """Per image: the mean squared error of the UNet's output against its training target."""
    from synthbench.generators.minim import Minim

    out = Minim.denoiser(unet, states, mask, pooled)(noisy, t).float()
    return ((out - target) ** 2).mean(dim=(1, 2, 3))


def base_training_images(base: str | Path) -> Cohort:
    """The training split of the data spec the base checkpoint's record names (``fit.data``):
    labelled images the reward model may learn classes from, images of the base's own data.
    (An adapted base records the whole spec it drew its shots from.)"""
    from synthbench.data.source import load_data
    from synthbench.errors import SynthbenchError
    from synthbench.generators.base import read_checkpoint_info

    spec = (read_checkpoint_info(Path(base)).fit or {}).get("data")
    if not spec:
        raise FeedbackError(
            f"{base}: its checkpoint names no training data, so reward_pretrain has no labelled "
            "images to learn from; refine without it"
        )
    try:
        return load_data(spec).train
    except SynthbenchError as exc:  # data this machine lacks (a folder elsewhere)
        raise FeedbackError(
            f"{base}: its training data {spec!r} cannot be loaded for reward_pretrain ({exc})"
        ) from None


def refine(
    method: str,
    parent: Path,
    base: Path,
    batches: Sequence[Path],
    work: Path,
    settings: RefineSettings,
) -> tuple[Generator, RewardModel | None]:
    """One round of ``method``: the refined generator (not yet saved) and the reward model it
    used (saved under ``work/reward``; dpo learns from the pairs directly and uses none)."""
    from synthbench.cohort import Cohort
    from synthbench.feedback.reward import RewardSettings, train_reward

    check_method(method)
    if method == "dpo":
        return dpo(parent, batches, settings), None
    reward = train_reward(
        batches,
        RewardSettings(
            epochs=settings.reward_epochs,
            pretrain_epochs=settings.reward_pretrain,
            seed=settings.seed,
        ),
        labelled=base_training_images(base) if settings.reward_pretrain else None,
    )
    reward_dir = reward.save(work / "reward")
    if method == "best-of-n":
        gen = best_of_n(base, reward_dir, Cohort.load(batches[-1] / "cohort"), settings)
        gen.fit_info_["refined"] = {
            "method": method,
            "parent": str(base),
            "ratings": [str(b) for b in batches],
        }
        return gen, reward
    return raft(parent, batches, reward_dir, settings), reward
