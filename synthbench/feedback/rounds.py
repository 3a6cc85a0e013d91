"""Refinement rounds with the simulated rater: sample, rate, learn, round after round.

Round 0 samples a batch from the base checkpoint and has it rated; round ``r`` > 0 refines the
previous round's checkpoint from every batch rated so far (:mod:`synthbench.feedback.refine`),
samples a fresh batch from the result and has it rated. Every round's batch is also scored
against the real data, so each round writes result rows (task ``refine``, qualifiers ``method``
and ``round``):

- ``top_rated``: share of the batch the simulated rater gives 3 for realism and for prompt
  fidelity; ``top_realism``, ``top_fidelity``: the shares given 3 for each (the second is the
  rater's prompt adherence); ``rating_realism`` and ``rating_fidelity``: its mean scores (1-3);
- ``mean_reward``: the batch's mean under the reward model the round learned (the score the
  round optimised; best-of-n and raft only): rising while ``top_rated`` does not is reward hacking;
- the quality metrics asked for (default FD against the test split, CAS, prompt adherence,
  memorisation and copy detection, whose ``near_copy_share`` would show a model copying its
  training images; the copy detector's, ``space=copy``, is the one shown to see altered copies).

With ``eval_prompts`` set, the batch above is only learned from: every round also samples a
held-out evaluation batch (``eval/``) for the same ``eval_prompts`` reports of the test split
(drawn with the test split's class mix) with the same seed, has it rated, and the rows describe
that batch (protocol ``held-out``). No reward model learns from it, and a round's change from
round 0 is then measured on the same prompts and noise, not on a fresh draw whose class mix and
wording move FD by more than the change itself (docs/feedback-guidance3.md).

A round folder holds ``checkpoint/`` (rounds > 0), ``reward/`` (where used), ``batch/`` (with
its ratings), ``eval/`` (with ``eval_prompts``) and ``rows.jsonl``; it is written whole and
renamed into place, so a killed run resumes at the first round without one.

    synthbench improve shipped:minim-oct-brain_mri --rounds 3 --rater simulated \\
        --data 'phantom:oct?n=2000&size=32' --method raft --out rounds/
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from synthbench.feedback.batch import FeedbackError
from synthbench.feedback.rater import RaterSettings
from synthbench.feedback.refine import RefineSettings, check_method

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.results import ResultRow

ROWS_FILE = "rows.jsonl"
#: the protocol of rows scored on the held-out evaluation batch
HELD_OUT = "held-out"
#: the sampling seed of the evaluation batch is ``seed * 1000 + EVAL_SEED`` in every round
EVAL_SEED = 500
DEFAULT_METRICS = ("fd", "cas", "prompt-adherence", "memorisation", "copy-detection")


@dataclass(frozen=True)
class RoundSettings:
    """What every round does besides the method: batch size, rater, metrics, seed."""

    n_prompts: int = 150
    per_prompt: int = 2
    #: > 0: every round is scored on a held-out batch of this many test-split reports
    #: (``per_prompt`` images each), the same prompts and sampling seed in every round
    eval_prompts: int = 0
    metrics: tuple[str, ...] = DEFAULT_METRICS
    #: a data spec whose training split the scoring features and the adherence classifier learn
    #: from instead of the real data's (``EvalSettings.extractor_data``): a judge that saw
    #: neither the base's training images nor anything a reward model learnt from
    extractor_data: str | None = None
    rater: RaterSettings = field(default_factory=RaterSettings)
    refine: RefineSettings = field(default_factory=RefineSettings)
    seed: int = 0

    #: the flat keys a suite's ``[[refinement]] settings`` may set
    KEYS: ClassVar[dict[str, str]] = {
        "n_prompts": "",
        "per_prompt": "",
        "eval_prompts": "",
        "metrics": "",
        "extractor_data": "",
        "noise": "rater",
        "bias": "rater",
        "n_real": "rater",
        "n_candidates": "refine",
        "steps": "refine",
        "batch_size": "refine",
        "lr": "refine",
        "beta": "refine",
        "reward_epochs": "refine",
        "reward_pretrain": "refine",
        "pick_quantile": "refine",
        "sampling": "refine",
    }

    @classmethod
    def from_flat(cls, values: dict[str, Any], *, seed: int = 0) -> RoundSettings:
        """Settings from flat keys (``KEYS``); an unknown key is one :class:`FeedbackError`."""
        unknown = sorted(set(values) - set(cls.KEYS))
        if unknown:
            raise FeedbackError(
                f"unknown refinement settings {unknown}; valid: {', '.join(cls.KEYS)}"
            )
        parts: dict[str, dict[str, Any]] = {"": {}, "rater": {}, "refine": {}}
        for key, value in values.items():
            parts[cls.KEYS[key]][key] = _flat_value(key, value)
        try:
            return cls(
                **parts[""],
                rater=RaterSettings(**parts["rater"], seed=seed),
                refine=RefineSettings(**parts["refine"], seed=seed),
                seed=seed,
            )
        except TypeError as exc:
            raise FeedbackError(f"invalid refinement settings: {exc}") from None

    def __post_init__(self) -> None:
        if self.n_prompts < 1 or self.per_prompt < 1:
            raise FeedbackError(
                f"n_prompts and per_prompt must be at least 1, got {self.n_prompts} and {self.per_prompt}"
            )
        if self.eval_prompts < 0:
            raise FeedbackError(
                f"eval_prompts must be 0 (score the learning batch) or more, got {self.eval_prompts}"
            )
        judged = "prompt-adherence" in self.metrics
        if self.refine.reward_pretrain and judged and self.extractor_data is None:
            raise FeedbackError(
                "reward_pretrain teaches the reward model the classes of the base's training "
                "images, which the data set's own adherence classifier learnt from too: set "
                "extractor_data (a fresh simulation) so that adherence is judged afresh"
            )
        if self.extractor_data is not None:
            from synthbench.data.source import check_spec
            from synthbench.errors import SynthbenchError

            try:
                check_spec(self.extractor_data)
            except SynthbenchError as exc:
                raise FeedbackError(f"extractor_data: {exc}") from None


def _flat_value(key: str, value: Any) -> Any:
    if key == "metrics":
        return tuple(value)
    if key == "sampling":  # {name: value} (a suite's table) or ["name=value", ...]
        pairs = [f"{k}={v}" for k, v in sorted(value.items())] if isinstance(value, dict) else value
        if not isinstance(pairs, list | tuple) or not all(isinstance(p, str) for p in pairs):
            raise FeedbackError(
                f"sampling: a table of sampling settings or a list of 'name=value', got {value!r}"
            )
        return tuple(pairs)
    return value


def round_prompts(real: RealData, n: int, seed: int, round_index: int) -> list[str]:
    """``n`` held-out real reports (the validation split's), drawn afresh each round."""
    reports = [t for t in real.val.text if t]
    if not reports:
        raise FeedbackError(f"{real.spec}: the validation split has no reports to prompt with")
    rng = np.random.default_rng([seed, round_index, 0x9E1])
    return [reports[i] for i in rng.choice(len(reports), n, replace=n > len(reports))]


def evaluation_prompts(real: RealData, n: int, seed: int) -> list[str]:
    """``n`` reports of the test split in its class mix (largest-remainder shares of every
    modality and class, or set of findings), the same for every round of a chain: prompts no
    round learns from, for the split FD is measured against. More than the split holds repeats
    its reports."""
    test = real.test
    rows = np.array([i for i, t in enumerate(test.text) if t], dtype=np.int64)
    if not len(rows):
        raise FeedbackError(f"{real.spec}: the test split has no reports to evaluate with")
    strata: dict[tuple[Any, ...], list[int]] = {}
    for i in rows:
        key = (str(test.modality[i]), int(test.label[i]), tuple(test.findings[i].tolist()))
        strata.setdefault(key, []).append(int(i))
    keys = sorted(strata)
    exact = np.array([n * len(strata[k]) / len(rows) for k in keys])
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: n - counts.sum()]] += 1
    rng = np.random.default_rng([seed, 0xE7A1])
    picked = [
        i for k, c in zip(keys, counts) for i in np.resize(rng.permutation(strata[k]), c).tolist()
    ]
    return [test.text[i] for i in rng.permutation(picked)]


def run_round(
    round_index: int,
    method: str,
    *,
    base: Path,
    earlier: Sequence[Path],
    real: RealData,
    out: Path,
    settings: RoundSettings,
    cache_dir: Path | None = None,
) -> list[ResultRow]:
    """One round into ``out``, written whole (see the module docstring); ``earlier``: the round
    folders before it, oldest first. Round 0 ignores ``method`` and samples ``base``; round r
    refines round r-1's checkpoint (round 1: ``base``)."""
    from synthbench.io import atomic_dir

    with atomic_dir(out) as work:
        return round_into(
            work,
            out,
            round_index,
            method,
            base=base,
            earlier=earlier,
            real=real,
            settings=settings,
            cache_dir=cache_dir,
        )


def round_into(
    work: Path,
    final: Path,
    round_index: int,
    method: str,
    *,
    base: Path,
    earlier: Sequence[Path],
    real: RealData,
    settings: RoundSettings,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> list[ResultRow]:
    """:func:`run_round`'s work in an existing folder ``work`` that becomes ``final``; ``log``
    hears each stage as it begins (a cell's log says where a long round is)."""
    from synthbench.feedback.refine import load_parent, refine
    from synthbench.results import write_rows

    say = log or (lambda message: None)
    if round_index:
        check_method(method)
    batches = [Path(r) / "batch" for r in earlier]
    parent = Path(earlier[-1]) / "checkpoint" if round_index > 1 else base
    reward = None
    if round_index == 0:
        gen, checkpoint = load_parent(base, settings.refine), base
    else:
        say(f"{method}: learning from the ratings of {len(batches)} earlier batch(es)")
        gen, reward = refine(method, parent, base, batches, work, settings.refine)
        gen.save(work / "checkpoint")
        checkpoint = final / "checkpoint"
    s = settings
    prompts = round_prompts(real, s.n_prompts, s.seed, round_index)
    say(f"sampling and rating the batch: {len(prompts) * s.per_prompt} images")
    cohort = _rate_batch(gen, checkpoint, prompts, s.seed * 1000 + round_index, work / "batch", s)
    scored = work / "batch"
    if s.eval_prompts:
        prompts = evaluation_prompts(real, s.eval_prompts, s.seed)
        scored = work / "eval"
        if cache_dir is not None and hasattr(gen, "candidate_cache"):
            # best-of-n draws the same candidates for these prompts every round (same base,
            # prompts and seed): kept once, re-ranked by each round's reward model
            gen.candidate_cache = Path(cache_dir) / "candidates"
        say(f"sampling and rating the held-out batch: {len(prompts) * s.per_prompt} images")
        cohort = _rate_batch(gen, checkpoint, prompts, s.seed * 1000 + EVAL_SEED, scored, s)
    say(f"scoring: {', '.join(s.metrics)}")
    rows = round_rows(cohort, scored, reward, real, round_index, method, settings, cache_dir)
    for row in rows:
        row.protocol = HELD_OUT if s.eval_prompts else ""
        row.generator = gen.name
        row.generator_config_hash = gen.config_hash
        row.precision = gen.sampling_precision()  # the arithmetic that made the batch
    write_rows(work / ROWS_FILE, rows)
    return rows


def _rate_batch(
    gen: Any, checkpoint: Path, prompts: list[str], seed: int, folder: Path, s: RoundSettings
) -> Cohort:
    """``per_prompt`` images of every prompt, sampled with ``seed``, written and rated."""
    from synthbench.feedback.batch import write_batch
    from synthbench.feedback.rater import simulate
    from synthbench.generators.conditions import Conditions

    conditions = Conditions.from_prompts([p for p in prompts for _ in range(s.per_prompt)])
    cohort = gen.sample(conditions, seed=seed)
    write_batch(
        cohort,
        folder,
        checkpoint=str(checkpoint),
        generator=gen.name,
        config_hash=gen.config_hash,
        seed=seed,
    )
    simulate(folder, s.rater)
    return cohort


def round_rows(
    cohort: Cohort,
    batch: Path,
    reward: Any,
    real: RealData,
    round_index: int,
    method: str,
    settings: RoundSettings,
    cache_dir: Path | None,
) -> list[ResultRow]:
    """The rater's figures and the quality metrics of one round's batch."""
    from synthbench.feedback.store import rated_items
    from synthbench.metrics.evaluate import EvalSettings, evaluate
    from synthbench.results import ResultRow

    label = {"method": method if round_index else "base", "round": str(round_index)}
    items = rated_items([batch])
    realism = np.array([it["realism"] for it in items], float)
    fidelity = np.array([it["fidelity"] for it in items], float)
    figures = {
        "top_rated": float(((realism == 3) & (fidelity == 3)).mean()),
        "top_realism": float((realism == 3).mean()),
        "top_fidelity": float((fidelity == 3).mean()),
        "rating_realism": float(realism.mean()),
        "rating_fidelity": float(fidelity.mean()),
    }
    if reward is not None:
        figures["mean_reward"] = float(reward.reward(cohort.images, list(cohort.text)).mean())
    rows = [
        ResultRow(
            task="refine",
            dataset=real.spec,
            metric=name,
            qualifiers=dict(label),
            value=round(value, 6),
            higher_is_better=True,
            seed=settings.seed,
            n_synth=len(cohort),
        )
        for name, value in figures.items()
    ]
    scored = evaluate(
        real,
        cohort,
        settings.metrics,
        EvalSettings(
            reference_split="test",
            seed=settings.seed,
            cache_dir=cache_dir,
            extractor_data=settings.extractor_data,
        ),
    )
    for row in scored.rows:
        row.task = "refine"
        row.qualifiers = {**row.qualifiers, **label}
    return rows + scored.rows


def run_rounds(
    checkpoint: str | Path,
    method: str,
    rounds: int,
    real: RealData,
    out: Path,
    settings: RoundSettings,
    *,
    log: Any = print,
) -> list[ResultRow]:
    """Rounds 0..``rounds`` of ``method`` into ``out/round-<r>``, resuming after the last
    finished round; returns every round's rows."""
    from synthbench.generators.shipped import resolve_checkpoint
    from synthbench.results import read_rows

    check_method(method)
    if rounds < 1:
        raise FeedbackError(f"--rounds must be at least 1, got {rounds}")
    base = resolve_checkpoint(str(checkpoint))
    if settings.refine.sampling:  # a setting the base lacks stops here, before anything is written
        from synthbench.feedback.refine import load_parent

        load_parent(base, settings.refine)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[ResultRow] = []
    done: list[Path] = []
    for r in range(rounds + 1):
        folder = out / f"round-{r}"
        if not (folder / ROWS_FILE).is_file():
            run_round(
                r,
                method,
                base=base,
                earlier=done,
                real=real,
                out=folder,
                settings=settings,
                cache_dir=out / "features",
            )
        round_rows_ = read_rows(folder / ROWS_FILE)
        log(summary_line(round_rows_, r))
        rows += round_rows_
        done.append(folder)
    return rows


def summary_line(rows: Sequence[ResultRow], round_index: int) -> str:
    """``round 1: top-rated 31.3%, adherence 0.88, FD 5.12, near copies 0.0%``."""
    value = {
        (
            r.metric,
            tuple(sorted((k, v) for k, v in r.qualifiers.items() if k not in ("method", "round"))),
        ): r.value
        for r in rows
    }
    parts = [f"round {round_index}: top-rated {value.get(('top_rated', ()), float('nan')):.1%}"]
    copy = (("space", "copy"),)
    for name, key, quals in (
        ("fidelity 3", "top_fidelity", ()),
        ("adherence", "prompt_adherence", ()),
        ("FD", "fd", ()),
        ("near copies", "near_copy_share", ()),
        ("copy detector's near copies", "near_copy_share", copy),
    ):
        if (key, quals) in value:
            v = value[(key, quals)]
            share = key in ("near_copy_share", "top_fidelity")
            parts.append(f"{name} {v:.1%}" if share else f"{name} {v:.3g}")
    return ", ".join(parts)
