"""Suites as data: a TOML file naming data sets, generators, downstream experiments and quality
checks, validated by a pydantic schema that rejects unknown keys.

>>> suite = Suite.model_validate({
...     "name": "mini", "profile": "smoke", "seeds": [0, 1],
...     "data": {"oct": {"spec": "phantom:oct?n=120&size=16"}},
...     "generators": {"classical-aug": {}},
...     "experiments": [{"task": "classification", "data": "oct", "generators": ["classical-aug"],
...                      "same-data": {"synth_ratios": [1], "real_fractions": [1.0]}}],
... })
>>> suite.generators["classical-aug"].generator
'classical-aug'

A generator entry either names a trained ``checkpoint`` (a folder or ``shipped:<name>``), or is
trained inside the suite with its ``settings`` over the suite profile's config. Which real images
it saw follows from that, and the runner computes each row's protocol from it (see
:mod:`synthbench.runner.plan`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthbench.errors import SynthbenchError

#: generator names that are controls the runner adds itself, never entries of a suite
CONTROLS = ("real-only", "real-pool", "real-vs-real")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DataEntry(_Strict):
    """One real data set: a data spec (string or table form)."""

    spec: str | dict[str, Any]
    #: keep only these modalities of the spec (its splits stay those of the whole spec)
    modalities: list[str] | None = None


class GeneratorEntry(_Strict):
    """A generator of the suite, keyed by the label its rows carry."""

    #: the registered generator (default: the entry's key)
    generator: str = ""
    #: a trained checkpoint folder or ``shipped:<name>``; without one the suite trains it
    checkpoint: str | None = None
    #: config settings over the suite profile's, when the suite trains it
    settings: dict[str, Any] = Field(default_factory=dict)
    #: sampling settings (``guidance_scale``, ``sampling_steps``, ``temperature``, ...)
    sampling: dict[str, Any] = Field(default_factory=dict)
    #: training seed, when the suite trains it
    seed: int = 0

    @model_validator(mode="after")
    def _no_settings_with_checkpoint(self) -> GeneratorEntry:
        if self.checkpoint is not None and self.settings:
            raise ValueError("give either 'checkpoint' or training 'settings', not both")
        return self


class ProtocolGrid(_Strict):
    """Synthetic-to-real ratios and real fractions of one protocol."""

    synth_ratios: list[float]
    real_fractions: list[float] = Field(default_factory=lambda: [1.0])

    @field_validator("synth_ratios")
    @classmethod
    def _ratios(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one synthetic ratio")
        for r in value:
            if not r > 0:
                raise ValueError(f"synthetic ratios must be > 0 (real only is always run), got {r}")
        return value

    @field_validator("real_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one real fraction")
        for f in value:
            if not 0 < f <= 1:
                raise ValueError(f"real fractions must be in (0, 1], got {f}")
        return value


class Experiment(_Strict):
    """A downstream task on one data set, with the generators and protocols to compare."""

    task: str
    data: str
    generators: list[str] = Field(default_factory=list)
    #: task settings over the suite profile's config
    settings: dict[str, Any] = Field(default_factory=dict)
    same_data: ProtocolGrid | None = Field(default=None, alias="same-data")
    pretrain_pool: ProtocolGrid | None = Field(default=None, alias="pretrain-pool")
    #: real-only (and real-pool) control rows only, at these real fractions
    real_fractions: list[float] = Field(default_factory=list)
    #: overrides the suite's seeds
    seeds: list[int] | None = None

    @field_validator("real_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        return ProtocolGrid._fractions(value) if value else value


class QualityCheck(_Strict):
    """Image quality of generators' cohorts against a real split none of them trained on."""

    data: str
    generators: list[str]
    metrics: list[str] = Field(default_factory=lambda: ["fd", "kd", "prdc", "memorisation"])
    extractor: str = "domain"
    extractor_path: str | None = None
    #: a data spec the extractor (``domain``, ``autoencoder``, ``contrastive``) trains on instead of ``data``'s training split (a
    #: larger simulation of the same modality with another seed, where 200 images teach it little)
    extractor_data: str | None = None
    #: the Inception extractor's resizing: clean-fid's ``clean`` or ``legacy`` (None: its default)
    resize: Literal["clean", "legacy"] | None = None
    #: the real split to compare with; the domain extractor and the generators train on ``train``
    reference_split: Literal["val", "test"] = "test"


class Refinement(_Strict):
    """Rounds of refinement of a checkpoint with the simulated rater, one chain per method and
    seed (round 0, the base, shared), scored against ``data``."""

    data: str
    #: a [generators] entry with a checkpoint (a text-conditioned one: minim)
    generator: str
    methods: list[str]
    rounds: int = 3
    #: flat settings of the rounds (``RoundSettings.KEYS``: n_prompts, per_prompt, steps, ...)
    settings: dict[str, Any] = Field(default_factory=dict)
    #: overrides the suite's seeds
    seeds: list[int] | None = None
    #: names the block's rows (the rounds table reads ``best-of-n · <label>``, its round 0
    #: ``base · <label>``), so that blocks on the same data and generator with other settings
    #: stand side by side instead of mixing
    label: str | None = None

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip() or "·" in value):
            raise ValueError(f"{value!r}: give a non-empty name without surrounding spaces or '·'")
        return value

    @field_validator("rounds")
    @classmethod
    def _rounds(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value


class Suite(_Strict):
    """A benchmark: what to run, at which profile, over which seeds."""

    name: str
    description: str = ""
    profile: Literal["smoke", "quick", "standard"] = "quick"
    #: seeds of the downstream runs: each varies the training run and the real subset drawn
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    #: the seed every synthetic cohort is sampled with (shared by all downstream seeds)
    sampling_seed: int = 0
    data: dict[str, DataEntry]
    generators: dict[str, GeneratorEntry] = Field(default_factory=dict)
    experiments: list[Experiment] = Field(default_factory=list)
    quality: list[QualityCheck] = Field(default_factory=list)
    refinement: list[Refinement] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if not value or len(set(value)) != len(value):
            raise ValueError("give one or more distinct seeds")
        return value

    @model_validator(mode="after")
    def _fill_names(self) -> Suite:
        for key, entry in self.generators.items():
            if key in CONTROLS:
                raise ValueError(f"generators.{key}: {key!r} is a control the runner adds itself")
            if not entry.generator:
                object.__setattr__(entry, "generator", key)
        return self


def load_suite(path: str | Path, *, profile: str | None = None) -> Suite:
    """Read and check a suite file: schema, then every name, data spec and combination.

    Any problem is one :class:`SynthbenchError` line naming the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise SynthbenchError(f"{path}: no such suite file")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SynthbenchError(f"{path}: not valid TOML ({exc})") from None
    if profile is not None:
        raw["profile"] = profile
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        raise SynthbenchError(f"{path}: {where}: {message}") from None
    check_suite(suite, where=str(path))
    return suite


def check_suite(suite: Suite, *, where: str = "suite") -> None:
    """Check what the schema cannot: registered names, data specs, keys that exist and the
    settings of every component. What needs the data loaded (tasks the data can serve, which
    real patients each generator saw) is checked when the plan is made."""
    from synthbench import registry
    from synthbench.data.source import check_spec
    from synthbench.errors import RegistryError
    from synthbench.metrics.evaluate import check_extractor_data

    def fail(key: str, message: str) -> None:
        raise SynthbenchError(f"{where}: {key}: {message}")

    def known(reg: Any, name: str, key: str) -> None:
        try:
            reg.get(name)
        except RegistryError as exc:
            fail(key, str(exc))

    for key, entry in suite.data.items():
        try:
            check_spec(entry.spec)
        except SynthbenchError as exc:
            fail(f"data.{key}.spec", str(exc))
    for key, entry in suite.generators.items():
        known(registry.generators, entry.generator, f"generators.{key}.generator")
        if entry.checkpoint is not None:
            _check_checkpoint(entry, f"{where}: generators.{key}.checkpoint")
        else:
            cls = registry.generators.get(entry.generator)
            try:
                cls.Config.for_profile(suite.profile, **entry.settings)
            except SynthbenchError as exc:
                fail(f"generators.{key}.settings", str(exc))
        if entry.sampling:
            cls = registry.generators.get(entry.generator)
            bad = sorted(set(entry.sampling) - set(getattr(cls.Config, "SAMPLING", ())))
            if bad:
                valid = ", ".join(getattr(cls.Config, "SAMPLING", ())) or "none"
                fail(f"generators.{key}.sampling", f"not sampling settings: {bad}; valid: {valid}")
    for i, exp in enumerate(suite.experiments):
        key = f"experiments[{i}]"
        known(registry.tasks, exp.task, f"{key}.task")
        if exp.data not in suite.data:
            fail(f"{key}.data", f"no data set {exp.data!r}; valid: {', '.join(suite.data)}")
        for name in exp.generators:
            if name not in suite.generators:
                fail(
                    f"{key}.generators",
                    f"no generator {name!r} in [generators]; valid: {', '.join(suite.generators) or 'none'}",
                )
        if exp.generators and exp.same_data is None and exp.pretrain_pool is None:
            fail(key, "generators need a protocol grid: 'same-data' and/or 'pretrain-pool'")
        if exp.pretrain_pool is not None and 1.0 in exp.pretrain_pool.real_fractions:
            fail(
                f"{key}.pretrain-pool.real_fractions",
                "must be below 1: the downstream model sees a subset of the generator's pool",
            )
        task_cls = registry.tasks.get(exp.task)
        try:
            task_cls.Config.for_profile(suite.profile, **exp.settings)
        except SynthbenchError as exc:
            fail(f"{key}.settings", str(exc))
    for i, check in enumerate(suite.quality):
        key = f"quality[{i}]"
        if check.data not in suite.data:
            fail(f"{key}.data", f"no data set {check.data!r}; valid: {', '.join(suite.data)}")
        for name in check.generators:
            if name not in suite.generators:
                fail(f"{key}.generators", f"no generator {name!r} in [generators]")
        for metric in check.metrics:
            known(registry.metrics, metric, f"{key}.metrics")
        known(registry.feature_extractors, check.extractor, f"{key}.extractor")
        if check.extractor_data is not None:
            try:
                check_extractor_data(check.extractor)
            except SynthbenchError as exc:
                fail(f"{key}.extractor_data", str(exc))
            try:
                check_spec(check.extractor_data)
            except SynthbenchError as exc:
                fail(f"{key}.extractor_data", str(exc))

    for i, ref in enumerate(suite.refinement):
        _check_refinement(suite, ref, f"refinement[{i}]", fail)
        for j, other in enumerate(suite.refinement[:i]):
            if _rows_collide(suite, other, ref):
                fail(
                    f"refinement[{i}].label",
                    f"refinement[{j}] refines {ref.generator!r} on {ref.data!r} for the same seeds "
                    f"with other settings and {'the same label' if ref.label else 'no label either'}"
                    ": their rows would mix; give each block its own label",
                )


def _rows_collide(suite: Suite, a: Refinement, b: Refinement) -> bool:
    """True where two refinement blocks would write rows no table can tell apart: the same
    data, generator, label and a shared seed, with other settings (so another round 0 and other
    rounds under the same method names). Blocks that differ in their methods or rounds alone
    share their cells."""
    seeds = set(a.seeds or suite.seeds) & set(b.seeds or suite.seeds)
    same = (a.data, a.generator, a.label) == (b.data, b.generator, b.label)
    return same and bool(seeds) and a.settings != b.settings


def _check_refinement(suite: Suite, ref: Refinement, key: str, fail: Any) -> None:
    from synthbench.feedback.refine import METHODS
    from synthbench.feedback.rounds import RoundSettings

    if ref.data not in suite.data:
        fail(f"{key}.data", f"no data set {ref.data!r}; valid: {', '.join(suite.data)}")
    entry = suite.generators.get(ref.generator)
    if entry is None:
        fail(f"{key}.generator", f"no generator {ref.generator!r} in [generators]")
    elif entry.checkpoint is None:
        fail(
            f"{key}.generator", f"{ref.generator!r} needs a checkpoint: refinement starts from one"
        )
    for method in ref.methods:
        if method not in METHODS:
            fail(f"{key}.methods", f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if not ref.methods:
        fail(f"{key}.methods", f"name at least one of {', '.join(METHODS)}")
    try:
        RoundSettings.from_flat(ref.settings)
    except SynthbenchError as exc:
        fail(f"{key}.settings", str(exc))
    if ref.settings.get("reward_pretrain") and set(ref.methods) <= {"dpo"}:
        fail(
            f"{key}.settings",
            "reward_pretrain shapes a reward model; dpo learns from the rating pairs and uses none",
        )
    if ref.settings.get("pick_quantile") and "best-of-n" not in ref.methods:
        fail(f"{key}.settings", "pick_quantile is how best-of-n picks; name best-of-n in methods")


def _check_checkpoint(entry: GeneratorEntry, where: str) -> None:
    from synthbench.generators.base import read_checkpoint_info
    from synthbench.generators.shipped import resolve_checkpoint

    try:
        info = read_checkpoint_info(resolve_checkpoint(entry.checkpoint or ""))
    except SynthbenchError as exc:
        raise SynthbenchError(f"{where}: {exc}") from None
    if info.generator != entry.generator:
        raise SynthbenchError(
            f"{where}: a {info.generator!r} checkpoint, but the entry's generator is {entry.generator!r}"
        )
