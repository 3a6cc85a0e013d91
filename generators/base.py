"""The generator contract: configs per budget profile, capabilities, fit / sample / save / load.

>>> from synthbench.generators.base import create_generator
>>> gen = create_generator("real-only", profile="smoke")
>>> gen.capabilities.conditioning
'none'

A generator is a class with a frozen :class:`GeneratorConfig` (values per profile), declared
:class:`Capabilities`, and four methods that subclasses fill in: ``_fit``, ``_generate``,
``_save_state`` and ``_load_state``. The base class handles the rest: resolving conditions
against the training schema, seeded sampling in fixed blocks (so the same seed gives the same
images however a request is chunked), assembling the output :class:`~synthbench.cohort.Cohort`
with the training data's schema, and the checkpoint layout::

    DIR/synthbench_generator.json   name, config (and its version), config hash, training
                                    schema, fit summary, what made it (package version, source
                                    revision, training precision) and the sha256 of every file
    DIR/<component>/...             safetensors + JSON config (diffusers save_pretrained layout)

Loading never unpickles: weights are safetensors, everything else is JSON. It checks every
file against its recorded sha256, so an altered or damaged file is refused in one line. A
checkpoint written by an earlier synthbench loads with a one-line notice naming the command
that rewrites it (``python -m synthbench.generators.upgrade DIR``), or is refused in one line
where its settings name code that is gone.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthbench.config import ProfiledConfig
from synthbench.errors import SynthbenchError
from synthbench.generators.conditions import CohortSchema, Conditions, ResolvedConditions
from synthbench.io import atomic_dir

if TYPE_CHECKING:
    from typing import Self

    import torch

    from synthbench.cohort import Cohort

CHECKPOINT_FILE = "synthbench_generator.json"
#: the model card beside the checkpoint (``model_card``); like the metadata, not digested
CARD_FILE = "README.md"
#: 2: the training schema holds condition counts instead of training reports; the config has
#: a version; what made the checkpoint and every file's sha256 are recorded
CHECKPOINT_FORMAT = 2
#: earlier formats that still load (converted in memory, with a notice)
READABLE_FORMATS = (1, 2)
UPGRADE_COMMAND = "python -m synthbench.generators.upgrade"


class CheckpointError(SynthbenchError):
    """A checkpoint folder that is missing, corrupt, truncated or from another format."""


class CheckpointNotice(UserWarning):
    """A checkpoint written by an earlier synthbench was read (and converted in memory)."""


_noticed: dict = {}


@functools.cache
def package_version() -> str:
    """The installed synthbench's version (package metadata), or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthbench")
    except PackageNotFoundError:
        return "unknown"


def source_revision() -> str:
    """The git commit of the synthbench source tree, or "unknown" outside a checkout."""
    from synthbench.results import git_sha

    return git_sha() or "unknown"


def file_digests(path: Path) -> dict[str, str]:
    """The sha256 of every file of a checkpoint folder but its metadata and model card, keyed by
    path relative to the folder (``/``-separated)."""
    out = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel not in (CHECKPOINT_FILE, CARD_FILE):
            out[rel] = _sha256(file)
    return out


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(digests: dict[str, str]) -> str:
    """One sha256 over a checkpoint's file digests (for the model card)."""
    text = "".join(f"{k}\t{v}\n" for k, v in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def check_digests(path: Path, digests: dict[str, str]) -> None:
    """A one-line :class:`CheckpointError` unless every recorded file is there with its sha256."""
    for rel, expected in sorted(digests.items()):
        file = path / rel
        if not file.is_file():
            raise CheckpointError(f"{path}: {rel} is missing from the checkpoint")
        actual = _sha256(file)
        if actual != expected:
            raise CheckpointError(
                f"{path}: {rel} has sha256 {actual[:16]}..., not the {expected[:16]}... recorded "
                "when the checkpoint was written; the file was changed or damaged (restore it, "
                "or retrain with the command in the model card)"
            )


def precision_name(mixed_precision: str | None) -> str | None:
    """The arithmetic a training loop's resolved mixed precision means (``no`` -> ``fp32``)."""
    if mixed_precision is None:
        return None
    return "fp32" if mixed_precision == "no" else mixed_precision


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class GeneratorConfig(ProfiledConfig):
    """Base of every generator's settings. Subclasses add fields (defaults = the ``quick``
    profile) and per-profile overrides in ``PROFILES``; ``for_profile`` builds one."""

    HASH_KIND: ClassVar[str] = "generator"
    #: settings that only change how a trained model samples (``synthbench generate --set``)
    SAMPLING: ClassVar[tuple[str, ...]] = ()

    def require_non_negative(self, *names: str) -> None:
        """A ``ValueError`` naming the first of the settings ``names`` that is negative (or
        NaN); each is a weight, count or scale that 0 turns off."""
        for name in names:
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off), got {value}")

    def with_sampling(self, pairs: Sequence[str]) -> Self:
        """This config with ``key=value`` sampling settings changed (from the command line);
        anything else is a one-line error naming what may be changed."""
        changes = dict(self.parse_override(pair) for pair in pairs)
        for key in changes:
            if key not in self.SAMPLING:
                allowed = ", ".join(self.SAMPLING) or "none"
                raise SynthbenchError(
                    f"--set {key}: not a sampling setting (a trained model's sampling settings: "
                    f"{allowed})"
                )
        return self.replace(**changes) if changes else self


@dataclass(frozen=True)
class Capabilities:
    """What a generator can do. ``conditioning`` is what its samples honour: ``"text"``
    (prompts; labels and reports of ``like`` conditions too), ``"label"`` or ``"none"``."""

    conditioning: Literal["text", "label", "none"]
    feedback: bool = False
    transfer: bool = False
    #: False for the real-only control, whose samples are always empty
    produces_images: bool = True
    #: True when ``fit`` trains a network through the shared training loop
    trains: bool = False


# ---------------------------------------------------------------------------------- contract
class Generator:
    """Base class of every generator; see the module docstring."""

    name: ClassVar[str]
    Config: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    capabilities: ClassVar[Capabilities]
    #: rows per seeded sampling block (the unit that makes chunked sampling reproducible)
    block_size: ClassVar[int] = 64

    def __init__(self, config: GeneratorConfig | None = None, *, profile: str = "quick") -> None:
        if config is None:
            config = self.Config.for_profile(profile)
        if not isinstance(config, self.Config):
            raise SynthbenchError(
                f"{self.name} takes a {self.Config.__qualname__}, got {type(config).__qualname__}"
            )
        self.config = config
        self.schema_: CohortSchema | None = None
        self.fit_info_: dict[str, Any] = {}
        #: what made the fitted model: ``synthbench_version`` and ``source_revision``
        self.made_by_: dict[str, str] = {}
        #: where the training loop keeps periodic checkpoints for resuming (None: none kept)
        self.state_dir: Path | None = None
        self.progress = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    @property
    def config_hash(self) -> str:
        return self.config.config_hash(self.name)

    # ------------------------------------------------------------------ public API
    def fit(self, train: Cohort, *, seed: int = 0) -> Generator:
        """Fit on a training cohort (only ever the training split). Returns ``self``.

        The fit is seeded by ``seed`` alone, and the caller's global random state (torch's and
        numpy's) is as it was afterwards, whatever the generator seeds inside."""
        import torch

        self.schema_ = CohortSchema.of(train, seed=seed)
        self.fit_info_ = {"seed": seed, "n_train": len(train)}
        self.made_by_ = {
            "synthbench_version": package_version(),
            "source_revision": source_revision(),
        }
        numpy_state = np.random.get_state()
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        try:
            with torch.random.fork_rng(devices=devices):
                self.fit_info_.update(self._fit(train, seed=seed) or {})
        finally:
            np.random.set_state(numpy_state)
        return self

    def sample(self, conditions: Conditions | int, *, seed: int = 0) -> Cohort:
        """Make one image per condition (an ``int`` ``n``: ``n`` balanced conditions).

        The same seed gives identical images; the output cohort has the training data's image
        shape, modalities, classes and findings, and ``source`` = name@config-hash?seed=seed.
        """
        resolved = self.resolve(conditions, seed=seed)
        return self._sample_range(resolved, seed, 0, len(resolved))

    def sample_chunks(
        self, conditions: Conditions | int, *, seed: int = 0, chunk_size: int = 1024
    ) -> Iterator[Cohort]:
        """The cohort :meth:`sample` would return, as consecutive chunks of about ``chunk_size``
        rows (a multiple of ``block_size``), so any number of images fits in flat memory.
        The concatenated chunks equal ``sample(conditions, seed=seed)`` exactly."""
        resolved = self.resolve(conditions, seed=seed)
        chunk = max(1, round(chunk_size / self.block_size)) * self.block_size
        for start in range(0, len(resolved), chunk):
            yield self._sample_range(resolved, seed, start, min(len(resolved), start + chunk))

    def _sample_range(
        self, resolved: ResolvedConditions, seed: int, start: int, stop: int
    ) -> Cohort:
        """Rows ``start:stop`` of a request (``start`` a multiple of ``block_size``)."""
        schema = self._require_fit()
        part = resolved.subset(start, stop)
        images = np.empty((len(part), *schema.image_shape), np.uint8)
        texts: list[str] = []
        for offset in range(0, len(part), self.block_size):
            block = part.subset(offset, offset + self.block_size)
            images[offset : offset + len(block)], block_texts = self._generate_block(
                block, seed, start + offset
            )
            texts.extend(block_texts)
        return self._cohort(part, images, seed, first_index=start, texts=texts)

    def resolve(self, conditions: Conditions | int, *, seed: int = 0) -> ResolvedConditions:
        """Conditions checked against the training schema (an ``int`` gives balanced ones)."""
        schema = self._require_fit()
        if isinstance(conditions, int | np.integer):
            conditions = schema.balanced(int(conditions), seed=seed)
        if not isinstance(conditions, Conditions):
            raise SynthbenchError(
                f"conditions must be Conditions or an int, got {type(conditions).__name__}"
            )
        resolved = schema.resolve(conditions)
        if self.capabilities.conditioning == "text" and not all(resolved.text):
            resolved = schema.fill_prompts(resolved, seed=seed)
        if self.capabilities.conditioning == "label":
            for i, (mod, label) in enumerate(zip(resolved.modality, resolved.label.tolist())):
                if label < 0 and schema.label_names.get(mod):
                    raise SynthbenchError(
                        f"{self.name} is conditioned on class labels and condition {i} ({mod}) has "
                        f"none; give labels ({', '.join(schema.label_names[mod])}), a cohort to "
                        "imitate, or a number for balanced conditions"
                    )
        return resolved

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint folder (atomically: a temporary folder renamed into place)."""
        schema = self._require_fit()
        path = Path(path)
        with atomic_dir(path) as work:
            self._save_state(work)
            info = CheckpointInfo(
                generator=self.name,
                config_version=self.config.config_version(),
                config=self.config.to_dict(),
                config_hash=self.config_hash,
                training_schema=schema.to_json(),
                fit=self.fit_info_,
                training_precision=precision_name(self.fit_info_.get("mixed_precision")),
                weights_sha256=file_digests(work),
                **self.made_by_,
            )
            (work / CHECKPOINT_FILE).write_text(info.model_dump_json(indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Generator:
        """Load a checkpoint written by :meth:`save`. Any damage is a one-line :class:`CheckpointError`."""
        info = read_checkpoint_info(path)
        if cls is not Generator and info.generator != cls.name:
            raise CheckpointError(f"{path}: a {info.generator!r} checkpoint, not {cls.name!r}")
        gen_cls = cls if cls is not Generator else get_generator_class(info.generator)
        try:
            values, changes = gen_cls.Config.upgrade(info.config, version=info.config_version)
            config = gen_cls.Config.from_dict(values)
        except SynthbenchError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        if config.config_hash(gen_cls.name) != info.config_hash:
            raise CheckpointError(
                f"{path}: config hash {info.config_hash} does not match its settings "
                f"({config.config_hash(gen_cls.name)}); the checkpoint was edited or written by another version"
            )
        check_digests(Path(path), info.weights_sha256)
        gen = gen_cls(config)
        try:
            gen.schema_ = CohortSchema.from_json(info.training_schema)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: invalid training schema ({exc})") from None
        gen.fit_info_ = dict(info.fit)
        gen.made_by_ = {
            "synthbench_version": info.synthbench_version,
            "source_revision": info.source_revision,
        }
        try:
            gen._load_state(Path(path))
        except SynthbenchError:
            raise
        except Exception as exc:  # safetensors, diffusers and json raise many types for damage
            raise CheckpointError(
                f"{path}: corrupt or truncated checkpoint ({type(exc).__name__}: {_one_line(exc)})"
            ) from None
        current = config.config_version()
        if info.format < CHECKPOINT_FORMAT or info.config_version < current:
            _notice(
                f"{path}: a {gen.name} checkpoint of format {info.format}, config version "
                f"{info.config_version}, read as format {CHECKPOINT_FORMAT}, version {current}"
                + "".join(f"; {c}" for c in changes)
                + ("; it records no file digests to check" if not info.weights_sha256 else "")
                + ("; its training reports were dropped" if "bank" in info.training_schema else "")
                + f"; rewrite it with: {UPGRADE_COMMAND} {path}"
            )
        return gen

    # ------------------------------------------------------------------ for subclasses
    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def _generate(
        self, conditions: ResolvedConditions, generator: torch.Generator
    ) -> np.ndarray | tuple[np.ndarray, list[str]]:
        """uint8 images (n, *schema.image_shape) for resolved conditions, drawing randomness
        only from ``generator``; optionally with the report of each image (default: its prompt)."""
        raise NotImplementedError

    def _save_state(self, path: Path) -> None:
        raise NotImplementedError

    def _load_state(self, path: Path) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _require_fit(self) -> CohortSchema:
        if self.schema_ is None:
            raise SynthbenchError(f"{self.name}: call fit() or load a checkpoint before sampling")
        return self.schema_

    def _generate_block(
        self, block: ResolvedConditions, seed: int, start: int
    ) -> tuple[np.ndarray, list[str]]:
        import torch

        if start % self.block_size:
            raise ValueError("sampling blocks must start at multiples of block_size")
        generator = torch.Generator().manual_seed(block_seed(seed, start // self.block_size))
        out = self._generate(block, generator)
        images, texts = out if isinstance(out, tuple) else (out, list(block.text))
        expected = (len(block), *self._require_fit().image_shape)
        if images.shape != expected or images.dtype != np.uint8:
            raise RuntimeError(
                f"{self.name} produced {images.dtype} {images.shape}, expected uint8 {expected}"
            )
        return images, texts

    def sampling_precision(self) -> str:
        """The arithmetic :meth:`sample` runs at (recorded beside results): ``fp32`` unless the
        generator samples under autocast (``bf16`` / ``fp16``)."""
        return "fp32"

    def sampling_device(self) -> str:
        """Where :meth:`sample` runs its networks (recorded beside results)."""
        return "cpu"

    def source(self, seed: int) -> str:
        return f"{self.name}@{self.config_hash}?seed={seed}"

    def _cohort(
        self,
        conditions: ResolvedConditions,
        images: np.ndarray,
        seed: int,
        *,
        first_index: int,
        texts: list[str] | None = None,
    ) -> Cohort:
        from synthbench.cohort import Cohort

        schema = self._require_fit()
        n = len(conditions)
        # a text-conditioned image made from a patient's own report stands for that patient, so
        # it carries the patient's biomarker status (e.g. EGFR); other generators are not asked
        # for anything the status goes with, so their images carry none
        biomarker = None
        if self.capabilities.conditioning == "text" and conditions.biomarker is not None:
            biomarker = conditions.biomarker
        cohort = Cohort.from_arrays(
            images,
            modality=list(conditions.modality),
            label=conditions.label,
            label_names=schema.label_names,
            text=list(conditions.text) if texts is None else texts,
            patient_id=[f"{self.name}-s{seed}-{first_index + i:07d}" for i in range(n)],
            findings=conditions.findings,
            finding_names=schema.finding_names,
            source=self.source(seed),
            biomarker=biomarker,
            biomarker_name=schema.biomarker_name,
            description=f"synthetic: {self.name} (config {self.config_hash}), seed {seed}",
        )
        cohort.channels = np.asarray(
            [schema.channels[m] for m in conditions.modality], np.int8
        ).reshape(n)
        return cohort


def block_seed(seed: int, block: int) -> int:
    """The torch seed of one sampling block: independent streams per (seed, block)."""
    digest = hashlib.sha256(f"{seed}/{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------------------------- checkpoints
class CheckpointInfo(BaseModel):
    """``synthbench_generator.json``: what a checkpoint folder holds and what made it."""

    model_config = ConfigDict(extra="forbid")

    format: int = CHECKPOINT_FORMAT
    #: the synthbench that fitted the model (package metadata) and its git commit
    synthbench_version: str = Field(default_factory=package_version)
    source_revision: str = "unknown"
    generator: str
    #: the layout version of ``config`` (``ProfiledConfig.VERSIONS``); 1 before it was recorded
    config_version: int = 1
    config: dict[str, Any]
    config_hash: str
    #: the arithmetic training ran at (``bf16``, ``fp16``, ``fp32``); None: nothing was trained
    training_precision: str | None = None
    #: sha256 of every file of the folder but this one and the model card
    weights_sha256: dict[str, str] = {}
    training_schema: dict[str, Any]
    fit: dict[str, Any] = {}
    #: set by ``upgrade``: the format it was converted from, by which synthbench, what changed
    converted: dict[str, Any] | None = None


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    info_path = path / CHECKPOINT_FILE
    if not info_path.is_file():
        raise CheckpointError(
            f"{path}: not a generator checkpoint (missing {CHECKPOINT_FILE}); write one with 'synthbench train'"
        )
    try:
        info = CheckpointInfo.model_validate_json(info_path.read_bytes())
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{info_path}: corrupt checkpoint metadata ({_one_line(exc)})"
        ) from None
    if info.format not in READABLE_FORMATS:
        raise CheckpointError(
            f"{info_path}: checkpoint format {info.format}; this synthbench reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}"
        )
    return info


def _notice(message: str) -> None:
    """One line, once per message and process (a notice, not an error)."""
    warnings.warn_explicit(
        message, CheckpointNotice, filename="synthbench", lineno=0, registry=_noticed
    )


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    return load_file(str(path))


def load_module_state(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path
) -> None:
    """Strict state-dict load with a one-line error naming the checkpoint."""
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: weights do not fit the model ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:240] + ("..." if len(text) > 240 else "")


# ---------------------------------------------------------------------------------- lookup
def get_generator_class(name: str) -> type[Generator]:
    """The generator class registered as ``name`` (built-ins and plugins)."""
    from synthbench import registry

    return registry.generators.get(name)


def create_generator(name: str, *, profile: str = "quick", **overrides: Any) -> Generator:
    """A generator by name with its profile config and overrides, e.g.
    ``create_generator("minim", profile="smoke", steps=50)``."""
    cls = get_generator_class(name)
    return cls(cls.Config.for_profile(profile, **overrides))


def load_generator(path: str | Path) -> Generator:
    """Load any generator checkpoint folder (the generator named in its JSON), or a shipped one
    named ``shipped:<name>``."""
    from synthbench.generators.shipped import resolve_checkpoint

    return Generator.load(resolve_checkpoint(path))
