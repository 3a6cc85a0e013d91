"""Sampling straight to a cohort folder in chunks, so memory stays flat for any number of images.

Each chunk is written as its own cohort folder inside a hidden work folder beside the output,
``.<name>.chunks-<key>``, where the key digests the request (generator, its config and training
record, the resolved conditions, the seed and the chunk size). At the end the chunks are
memory-mapped, concatenated and saved once as one cohort (``Cohort.load`` reads it), and the work
folder is removed. The result equals ``generator.sample(conditions, seed=seed).save(out)``.

An interrupted run (a crash, ``kill -9``) leaves its finished chunks in the work folder; the
same request again reuses them and samples only the rest. Work folders of any other request
for the same output are removed when a run starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import CohortInfo
    from synthbench.generators.base import Generator
    from synthbench.generators.conditions import Conditions, ResolvedConditions

WORK_TAG = "chunks"


def sample_to_disk(
    generator: Generator,
    conditions: Conditions | int,
    out: str | Path,
    *,
    seed: int = 0,
    chunk_size: int = 1024,
    on_chunk: Callable[[int, int], None] | None = None,
    on_resume: Callable[[int, int], None] | None = None,
) -> Path:
    """Sample into the cohort folder ``out`` (replaced atomically); ``on_chunk(done, total)``
    is called after each chunk, also for chunks reused from an interrupted run (for progress),
    and ``on_resume(reused, total)`` once before them when an interrupted run left any."""
    import datasets

    from synthbench.cohort import INFO_FILE, CohortInfo
    from synthbench.io import replace_dir

    if chunk_size < 1:
        raise SynthbenchError(f"chunk_size must be at least 1, got {chunk_size}")
    datasets.disable_progress_bars()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthbenchError(f"{out}: an existing file; give a folder for the cohort")
    resolved = generator.resolve(conditions, seed=seed)
    total = len(resolved)
    if total == 0:
        raise SynthbenchError("nothing to write: the request has no images")
    rows = max(1, round(chunk_size / generator.block_size)) * generator.block_size
    bounds = [(start, min(total, start + rows)) for start in range(0, total, rows)]
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(f".{out.name}.{WORK_TAG}-{_request_key(generator, resolved, seed, rows)}")
    for stale in stale_work_folders(out):
        if stale != work:
            shutil.rmtree(stale, ignore_errors=True)
    work.mkdir(exist_ok=True)
    parts = [work / f"chunk-{i:05d}" for i in range(len(bounds))]
    for entry in work.iterdir():  # half-written chunks and merges of the interrupted run
        if entry in parts and _finished(entry, bounds[parts.index(entry)]):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
    reused = sum(stop - start for part, (start, stop) in zip(parts, bounds) if part.is_dir())
    if reused and on_resume is not None:
        on_resume(reused, total)
    infos: list[CohortInfo] = []
    done = 0
    for part, (start, stop) in zip(parts, bounds):
        if not part.is_dir():
            generator._sample_range(resolved, seed, start, stop).save(part)
        infos.append(CohortInfo.model_validate_json((part / INFO_FILE).read_text()))
        done += stop - start
        if on_chunk is not None:
            on_chunk(done, total)
    merged = datasets.concatenate_datasets([datasets.load_from_disk(str(p)) for p in parts])
    final = work / "cohort"
    merged.save_to_disk(str(final))
    del merged
    info = infos[0].model_copy(
        update={
            "n": total,
            "modalities": list(dict.fromkeys(m for i in infos for m in i.modalities)),
        }
    )
    (final / INFO_FILE).write_text(info.model_dump_json(indent=2))
    replace_dir(final, out)
    shutil.rmtree(work, ignore_errors=True)
    return out


def stale_work_folders(out: str | Path) -> list[Path]:
    """The chunk work folders of earlier runs into ``out`` (finished runs leave none)."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    return sorted(out.parent.glob(f".{out.name}.{WORK_TAG}-*"))


def _finished(part: Path, bounds: tuple[int, int]) -> bool:
    """A chunk folder that ``Cohort.save`` completed, with the rows its place asks for."""
    from synthbench.cohort import INFO_FILE, CohortInfo

    try:
        info = CohortInfo.model_validate_json((part / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    return info.n == bounds[1] - bounds[0]


def _request_key(generator: Generator, resolved: ResolvedConditions, seed: int, rows: int) -> str:
    """A digest of everything the chunks' pixels depend on."""
    from synthbench import __version__

    digest = hashlib.sha256()
    record = {
        "version": __version__,
        "generator": generator.name,
        "config": generator.config.to_dict(),
        "schema": generator._require_fit().to_json(),
        "fit": generator.fit_info_,
        "seed": seed,
        "rows": rows,
    }
    digest.update(json.dumps(record, sort_keys=True, default=str).encode())
    digest.update(json.dumps([resolved.modality, resolved.text]).encode())
    digest.update(resolved.label.astype("<i8").tobytes())
    digest.update(resolved.findings.astype(bool).tobytes())
    return digest.hexdigest()[:16]
