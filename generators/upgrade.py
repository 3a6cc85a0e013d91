"""Rewrite a checkpoint written by an earlier synthbench in the current format; the weights and
every other file stay byte for byte as they are.

    python -m synthbench.generators.upgrade CKPT [CKPT ...]

What changes is the metadata (``synthbench_generator.json``): the training schema's reports give
way to condition counts, the config is read at its current version (settings added since at the
value that does what they did then, removed ones dropped where they were off), the file digests
are recorded, and a ``converted`` entry says from what, by which synthbench and what changed. The
config hash stays, so caches and results keyed by it stay valid. The model card gets a section
saying the same. A checkpoint that is already current is left alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from synthbench.errors import SynthbenchError
from synthbench.generators.base import (
    CARD_FILE,
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    CheckpointError,
    CheckpointInfo,
    check_digests,
    file_digests,
    get_generator_class,
    package_version,
    precision_name,
    read_checkpoint_info,
    source_revision,
    weights_digest,
)
from synthbench.generators.conditions import CohortSchema
from synthbench.io import write_text_atomic


def upgrade_checkpoint(path: str | Path, *, command: str = "") -> list[str]:
    """Rewrite the checkpoint folder ``path`` in the current format, in place (each file
    replaced atomically). Returns what changed, one phrase each (empty: it was current). A
    checkpoint whose settings cannot convert, or whose files do not match its recorded
    digests, is a one-line error and is left as it was."""
    path = Path(path)
    info = read_checkpoint_info(path)
    config_cls = get_generator_class(info.generator).Config
    current = config_cls.config_version()
    if info.format == CHECKPOINT_FORMAT and info.config_version == current:
        return []
    try:
        values, changes = config_cls.upgrade(info.config, version=info.config_version)
        config = config_cls.from_dict(values)
    except SynthbenchError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if config.config_hash(info.generator) != info.config_hash:
        raise CheckpointError(
            f"{path}: config hash {info.config_hash} does not match its settings "
            f"({config.config_hash(info.generator)}); it was edited, so it is not converted"
        )
    check_digests(path, info.weights_sha256)
    if "bank" in info.training_schema:
        changes.append("training reports dropped from the training schema")
    digests = file_digests(path)
    if not info.weights_sha256:
        changes.append(f"sha256 of {len(digests)} files recorded")
    converted: dict[str, Any] = {
        "from_format": info.format,
        "from_config_version": info.config_version,
        "synthbench_version": package_version(),
        "source_revision": source_revision(),
        "changes": changes,
    }
    new = CheckpointInfo(
        format=CHECKPOINT_FORMAT,
        synthbench_version=info.synthbench_version,
        source_revision=info.source_revision,
        generator=info.generator,
        config_version=current,
        config=config.to_dict(),
        config_hash=info.config_hash,
        training_precision=info.training_precision
        or precision_name(info.fit.get("mixed_precision")),
        weights_sha256=digests,
        training_schema=CohortSchema.from_json(info.training_schema).to_json(),
        fit=info.fit,
        converted=converted,
    )
    write_text_atomic(path / CHECKPOINT_FILE, new.model_dump_json(indent=2))
    card = path / CARD_FILE
    if card.is_file():
        lines = [
            card.read_text().rstrip("\n"),
            "",
            f"## Converted to checkpoint format {CHECKPOINT_FORMAT}",
            "",
            *([f"- command: `{command}`"] if command else []),
            f"- from format {info.format}, config version {info.config_version}, by synthbench "
            f"{converted['synthbench_version']}, source revision {converted['source_revision']}; "
            "the weights and every other file are unchanged and the config hash is the same",
            *[f"- {c}" for c in changes],
            f"- training precision {new.training_precision or '-'}; weights sha256 "
            f"{weights_digest(digests)}",
            "",
        ]
        write_text_atomic(card, "\n".join(lines))
    return changes


def main(argv: list[str] | None = None) -> int:
    """``python -m synthbench.generators.upgrade CKPT [CKPT ...]``: one line per checkpoint;
    a checkpoint that cannot be converted is one line on stderr and exit status 2."""
    args = sys.argv[1:] if argv is None else argv
    if not args or any(a.startswith("-") for a in args):
        print("usage: python -m synthbench.generators.upgrade CKPT [CKPT ...]", file=sys.stderr)
        return 2
    command = "python -m synthbench.generators.upgrade " + " ".join(args)
    for arg in args:
        try:
            changes = upgrade_checkpoint(arg, command=command)
        except SynthbenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{arg}: " + ("; ".join(changes) if changes else "already current"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
