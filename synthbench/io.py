"""Atomic writes: readers never see a half-written file or folder, and a failed write keeps the old
one; and the check, made before any work, that an output can be written at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthbench.errors import SynthbenchError


def temp_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A unique hidden name beside ``path`` (same file system, so a rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished folder ``src`` to ``dst``; an existing ``dst`` is swapped out only then,
    and restored if the move fails."""
    if not dst.exists():
        os.replace(src, dst)
        return
    backup = temp_sibling(dst, "old")
    os.replace(dst, backup)
    try:
        os.replace(src, dst)
    except OSError:
        os.replace(backup, dst)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Write a folder atomically: fill the yielded temporary folder; on success it becomes ``path``.

    >>> with atomic_dir(tmp / "out") as work:  # doctest: +SKIP
    ...     (work / "a.txt").write_text("done")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = temp_sibling(path)
    work.mkdir()
    try:
        yield work
        replace_dir(work, path)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file via a temporary file and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON via a temporary file and rename."""
    return write_text_atomic(path, json.dumps(payload, indent=2, default=str))


def check_writable(path: str | Path, folder: str | Path, option: str = "--out") -> None:
    """Fail in one line unless a file can be created in ``folder`` or, where it does not exist
    yet, in its nearest existing parent (the folders between are made when ``path``, the output
    the error names, is written)."""
    place = Path(folder) if str(folder) else Path(".")
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise SynthbenchError(f"{option} {path}: {place} is a file, not a folder")
    try:  # access() says yes to root on read-only and virtual file systems; trying does not
        handle, probe = tempfile.mkstemp(dir=place, prefix=".synthbench-probe-")
    except OSError as exc:
        raise SynthbenchError(
            f"{option} {path}: cannot write in {place} ({exc.strerror or exc})"
        ) from None
    os.close(handle)
    os.unlink(probe)
