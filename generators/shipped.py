"""Shipped checkpoints: generators trained by ``synthbench train`` on the default phantom data.

They live in ``checkpoints/<profile>/<name>/`` beside this module, each a normal checkpoint folder
with its model card (``README.md``: the exact command, config hash, data spec, training time and
final loss). ``shipped:<name>`` names one wherever a checkpoint folder is expected::

    synthbench generate shipped:minim-oct-brain_mri --prompt "Brain MRI: large mass" --out g.png

:func:`find_shipped` is how a suite picks one up instead of retraining: it matches the generator,
the profile and the data spec, and uses a checkpoint only while its config hash equals the one the
current code builds for that profile (the hash includes the generator's ``CODE_VERSION``), so a
changed default or changed training code never runs with stale weights, and while its files match
the sha256 digests it recorded. When it finds none it says, per checkpoint of the generator, why
it declined it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from synthbench.errors import SynthbenchError

SHIPPED_ROOT = Path(__file__).resolve().parent / "checkpoints"
PREFIX = "shipped:"


@dataclass(frozen=True)
class Shipped:
    """One shipped checkpoint, as its metadata describes it."""

    name: str
    path: Path
    generator: str
    profile: str
    data: str
    config_hash: str
    #: a fine-tuned checkpoint (``init_from``): the config hash of the one it started from
    base_hash: str | None = None
    #: its settings as stored (JSON text), to check what the fine-tuning changed
    config_json: str = "{}"
    #: the layout version of those settings
    config_version: int = 1

    def current_hash(self) -> str:
        """The config hash the current code builds for this generator and profile."""
        from synthbench.generators.base import create_generator

        return create_generator(self.generator, profile=self.profile).config_hash

    @property
    def is_current(self) -> bool:
        """Trained with the profile's config, for any budget (``BUDGET``: a longer run takes the
        same steps and then more); or, fine-tuned, started from a checkpoint trained with it and
        changed no settings but the fine-tuning's own (the checkpoint to start from, learning
        rate, warm-up and budget: ``FINE_TUNING`` and ``BUDGET``)."""
        return self.stale_reason() is None

    def stale_reason(self) -> str | None:
        """Why the current code would not use this checkpoint (None: it would): its config hash
        is not the one the profile builds now (changed defaults or ``CODE_VERSION``), or a
        fine-tuned one's base or settings differ."""
        current = self.current_hash()
        retrain = "retrain it with the command in its README.md"
        if self.base_hash is None:
            if current == self.config_hash:
                return None
            # another budget: the same config once the budget is put back, under the code
            # that trained it (its stored settings still hash to what it recorded)
            budget = getattr(self._config_class(), "BUDGET", ())
            if self._as_profile_hash(()) == self.config_hash and (
                self._as_profile_hash(budget) == current
            ):
                return None
            return (
                f"trained with config {self.config_hash}, the {self.profile} profile now builds "
                f"{current} (changed defaults or CODE_VERSION); {retrain}"
            )
        if self.base_hash != current:
            return (
                f"fine-tuned from a checkpoint of config {self.base_hash}, the {self.profile} "
                f"profile now builds {current}; {retrain}"
            )
        cls = self._config_class()
        own = (*getattr(cls, "FINE_TUNING", ()), *getattr(cls, "BUDGET", ()))
        if self._as_profile_hash(own) != current:
            return f"fine-tuned with settings other than the fine-tuning's own; {retrain}"
        return None

    def damage(self) -> str | None:
        """Why its files cannot be trusted (None: they match the digests it recorded)."""
        from synthbench.generators.base import CheckpointError, check_digests, read_checkpoint_info

        try:
            check_digests(self.path, read_checkpoint_info(self.path).weights_sha256)
        except CheckpointError as exc:
            return str(exc)
        return None

    def declines(self, data: str, profile: str) -> str | None:
        """Why this checkpoint does not serve ``data`` at ``profile`` (None: it does)."""
        from synthbench.data.source import DataSpec

        if self.profile != profile:
            return f"trained at profile {self.profile}, not {profile}"
        if not self.data:
            return "its metadata names no data spec"
        if DataSpec.parse(self.data) != DataSpec.parse(data):
            return f"trained on {self.data}, not {data}"
        return self.stale_reason() or self.damage()

    def _config_class(self) -> type:
        from synthbench.generators.base import get_generator_class

        return get_generator_class(self.generator).Config

    def _as_profile_hash(self, names: tuple[str, ...]) -> str:
        """The config hash, under the current code, of this checkpoint's settings with those
        ``names`` put back to the profile's (none: as stored)."""
        cls = self._config_class()
        profile = cls.for_profile(self.profile)
        stored = cls.from_stored(json.loads(self.config_json), version=self.config_version)
        put_back = {k: getattr(profile, k) for k in names}
        return stored.replace(**put_back).config_hash(self.generator)


def list_shipped(root: Path | None = None) -> list[Shipped]:
    """Every shipped checkpoint under ``root`` (default: the package's), sorted by name."""
    return list(_scan(Path(root) if root is not None else SHIPPED_ROOT))


@cache
def _scan(root: Path) -> tuple[Shipped, ...]:
    from synthbench.generators.base import CHECKPOINT_FILE, read_checkpoint_info

    found = []
    for meta_path in sorted(root.glob(f"*/*/{CHECKPOINT_FILE}")):
        meta = read_checkpoint_info(meta_path.parent)  # damaged metadata: a one-line error
        fit = meta.fit
        found.append(
            Shipped(
                name=meta_path.parent.name,
                path=meta_path.parent,
                generator=meta.generator,
                profile=fit.get("profile", meta_path.parent.parent.name),
                data=fit.get("data", ""),
                config_hash=meta.config_hash,
                base_hash=(fit.get("init_from") or {}).get("config_hash"),
                config_json=json.dumps(meta.config),
                config_version=meta.config_version,
            )
        )
    return tuple(found)


class NoShippedCheckpoint(SynthbenchError):
    """No shipped checkpoint serves a generator, profile and data spec; the message says why
    each one of that generator was declined."""


def find_shipped(
    generator: str, data: str, profile: str = "quick", *, root: Path | None = None
) -> Shipped:
    """The shipped checkpoint of ``generator`` at ``profile`` trained on ``data`` (the same spec,
    options in any order) that the current code would build the same config for and whose files
    are intact. Without one, a :class:`NoShippedCheckpoint` (one line) says why each checkpoint
    of ``generator`` was declined."""
    reasons = []
    for item in list_shipped(root):
        if item.generator != generator:
            continue
        why = item.declines(data, profile)
        if why is None:
            return item
        reasons.append(f"{item.name}: {why}")
    raise NoShippedCheckpoint(
        f"no shipped {generator} checkpoint for profile {profile} and data {data}"
        + (f" ({'; '.join(reasons)})" if reasons else f" (none of {generator} is installed)")
    )


def resolve_checkpoint(path: str | Path, *, root: Path | None = None) -> Path:
    """``shipped:<name>`` -> the shipped folder; any other path is returned unchanged."""
    text = str(path)
    if not text.startswith(PREFIX):
        return Path(path)
    name = text[len(PREFIX) :]
    items = list_shipped(root)
    for item in items:
        if item.name == name:
            return item.path
    valid = ", ".join(f"{PREFIX}{i.name}" for i in items) or "none are installed"
    raise SynthbenchError(f"no shipped checkpoint {name!r}; valid: {valid}")
