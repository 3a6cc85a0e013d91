"""Sampling straight to a cohort folder in chunks, so memory stays flat for any number of images.

Each chunk is written as its own `datasets` folder; at the end the chunk folders are
memory-mapped, concatenated and saved once as one cohort (``Cohort.load`` reads it), and the
chunks are removed. The result equals ``generator.sample(conditions, seed=seed).save(out)``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.generators.base import Generator
    from synthbench.generators.conditions import Conditions


def sample_to_disk(
    generator: Generator,
    conditions: Conditions | int,
    out: str | Path,
    *,
    seed: int = 0,
    chunk_size: int = 1024,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Sample into the cohort folder ``out`` (replaced atomically); ``on_chunk(done, total)``
    is called after each chunk (for progress)."""
    import datasets

    from synthbench.cohort import INFO_FILE
    from synthbench.io import replace_dir, temp_sibling

    datasets.disable_progress_bars()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = temp_sibling(out, "chunks")
    work.mkdir()
    try:
        total = len(generator.resolve(conditions, seed=seed))
        parts: list[Path] = []
        info = None
        done = 0
        for i, chunk in enumerate(
            generator.sample_chunks(conditions, seed=seed, chunk_size=chunk_size)
        ):
            part = work / f"chunk-{i:05d}"
            chunk.to_hf().save_to_disk(str(part))
            parts.append(part)
            info = chunk.info() if info is None else info
            done += len(chunk)
            if on_chunk is not None:
                on_chunk(done, total)
            del chunk
        if info is None:
            raise SynthbenchError("nothing to write: the request has no images")
        merged = datasets.concatenate_datasets([datasets.load_from_disk(str(p)) for p in parts])
        final = work / "cohort"
        merged.save_to_disk(str(final))
        info = info.model_copy(update={"n": done})
        (final / INFO_FILE).write_text(info.model_dump_json(indent=2))
        del merged
        replace_dir(final, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
