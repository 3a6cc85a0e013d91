"""Batches to rate: images sampled from a checkpoint, with their prompts and provenance.

A batch folder holds ``batch.json`` (the items: id, prompt, image file, modality, class), the
images as PNG files (``images/``), the sampled cohort (``cohort/``, for refinement) and, once
rated, ``ratings.sqlite`` (see :mod:`synthbench.feedback.store`). It is written whole and renamed
into place.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

BATCH_FILE = "batch.json"
IMAGES = "images"


class FeedbackError(SynthbenchError):
    """A batch, ratings database or ratings file that cannot be used."""


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    image: str  # relative to the batch folder
    modality: str
    label: str = ""


class Batch(BaseModel):
    """What a batch holds and where its images came from."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str
    generator: str
    config_hash: str
    seed: int
    created: str
    items: list[BatchItem]

    def item_ids(self) -> set[str]:
        return {i.id for i in self.items}


def make_batch(
    checkpoint: str | Path,
    out: str | Path,
    *,
    prompts: Sequence[str] = (),
    n: int = 8,
    seed: int = 0,
) -> Batch:
    """Sample ``n`` images per prompt (or ``n`` balanced ones without prompts) into a batch."""
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.shipped import resolve_checkpoint

    if n < 1:
        raise FeedbackError(f"-n must be at least 1, got {n}")
    path = resolve_checkpoint(checkpoint)
    gen = load_generator(path)
    conditions: Conditions | int = (
        Conditions.from_prompts([p for p in prompts for _ in range(n)]) if prompts else n
    )
    cohort = gen.sample(conditions, seed=seed)
    if len(cohort) == 0:
        raise FeedbackError(f"{gen.name} makes no images; nothing to rate")
    return write_batch(
        cohort,
        out,
        checkpoint=str(path),
        generator=gen.name,
        config_hash=gen.config_hash,
        seed=seed,
    )


def write_batch(
    cohort: Cohort, out: str | Path, *, checkpoint: str, generator: str, config_hash: str, seed: int
) -> Batch:
    """A batch folder from any cohort (its reports are the prompts)."""
    from PIL import Image

    from synthbench.io import atomic_dir

    items = []
    with atomic_dir(out) as work:
        (work / IMAGES).mkdir()
        for i, image in enumerate(cohort.native_images(slice(None))):
            name = f"{IMAGES}/{i:05d}.png"
            array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
            Image.fromarray(array).save(work / name)
            modality = str(cohort.modality[i])
            label = int(cohort.label[i])
            names = cohort.label_names.get(modality, [])
            class_name = names[label] if 0 <= label < len(names) else ""
            items.append(
                BatchItem(
                    id=f"{i:05d}",
                    prompt=str(cohort.text[i]) or f"{modality}: {class_name}",
                    image=name,
                    modality=modality,
                    label=class_name,
                )
            )
        cohort.save(work / "cohort")
        batch = Batch(
            checkpoint=checkpoint,
            generator=generator,
            config_hash=config_hash,
            seed=seed,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            items=items,
        )
        (work / BATCH_FILE).write_text(batch.model_dump_json(indent=2))
    return batch


def load_batch(folder: str | Path) -> Batch:
    """Read a batch folder's ``batch.json``; any damage is one :class:`FeedbackError` line."""
    path = Path(folder) / BATCH_FILE
    if not path.is_file():
        raise FeedbackError(
            f"{folder}: not a batch folder (no {BATCH_FILE}); make one with 'synthbench feedback sample'"
        )
    try:
        return Batch.model_validate_json(path.read_text())
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        first = " ".join(str(exc).splitlines()[:2])
        raise FeedbackError(f"{path}: not a valid batch file ({first})") from None
