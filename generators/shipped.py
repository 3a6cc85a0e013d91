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

    def current_hash(self) -> str:
        """The config hash the current code builds for this generator and profile."""
        from synthbench.generators.base import create_generator

        return create_generator(self.generator, profile=self.profile).config_hash

    @property
    def is_current(self) -> bool:
        return self.current_hash() == self.config_hash


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
