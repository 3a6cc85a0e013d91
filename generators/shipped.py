"""Shipped checkpoints: generators trained by ``synthbench train`` on the default phantom data.

They live in ``checkpoints/<profile>/<name>/`` beside this module, each a normal checkpoint folder
with its model card (``README.md``: the exact command, config hash, data spec, training time and
final loss). ``shipped:<name>`` names one wherever a checkpoint folder is expected::

    synthbench generate shipped:minim-oct-brain_mri --prompt "Brain MRI: large mass" --out g.png

:func:`find_shipped` is how a suite picks one up instead of retraining: it matches the generator,
the profile and the data spec, and uses a checkpoint only while its config hash equals the one the
current code builds for that profile, so a changed default never runs with stale weights.
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

    def current_hash(self) -> str:
        """The config hash the current code builds for this generator and profile."""
        from synthbench.generators.base import create_generator

        return create_generator(self.generator, profile=self.profile).config_hash

    @property
    def is_current(self) -> bool:
        """Trained with the profile's config; or, fine-tuned, started from a checkpoint
        trained with it and changed no settings but the fine-tuning's own (the checkpoint to
        start from, learning rate, warm-up and budget: ``FINE_TUNING`` and ``BUDGET``)."""
        current = self.current_hash()
        if self.base_hash is None:
            return current == self.config_hash
        return self.base_hash == current and self._as_profile_hash() == current

    def _as_profile_hash(self) -> str:
        """The config hash of this checkpoint's settings with the fine-tuning's own settings
        put back to the profile's."""
        from synthbench.generators.base import get_generator_class

        cls = get_generator_class(self.generator).Config
        profile = cls.for_profile(self.profile)
        stored = cls.from_stored(json.loads(self.config_json))
        reset = (*getattr(cls, "FINE_TUNING", ()), *getattr(cls, "BUDGET", ()))
        return stored.replace(**{k: getattr(profile, k) for k in reset}).config_hash(self.generator)


def list_shipped(root: Path | None = None) -> list[Shipped]:
    """Every shipped checkpoint under ``root`` (default: the package's), sorted by name."""
    return list(_scan(Path(root) if root is not None else SHIPPED_ROOT))


@cache
def _scan(root: Path) -> tuple[Shipped, ...]:
    from synthbench.generators.base import CHECKPOINT_FILE

    found = []
    for meta_path in sorted(root.glob(f"*/*/{CHECKPOINT_FILE}")):
        meta = json.loads(meta_path.read_text())
        fit = meta.get("fit", {})
        found.append(
            Shipped(
                name=meta_path.parent.name,
                path=meta_path.parent,
                generator=meta["generator"],
                profile=fit.get("profile", meta_path.parent.parent.name),
                data=fit.get("data", ""),
                config_hash=meta["config_hash"],
                base_hash=(fit.get("init_from") or {}).get("config_hash"),
                config_json=json.dumps(meta.get("config", {})),
            )
        )
    return tuple(found)


def find_shipped(
    generator: str, data: str, profile: str = "quick", *, root: Path | None = None
) -> Shipped | None:
    """The shipped checkpoint of ``generator`` at ``profile`` trained on ``data`` (the same spec,
    options in any order), if there is one and the current code would build the same config."""
    from synthbench.data.source import DataSpec

    want = DataSpec.parse(data)
    for item in list_shipped(root):
        if item.generator != generator or item.profile != profile or not item.data:
            continue
        if DataSpec.parse(item.data) == want and item.is_current:
            return item
    return None


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
