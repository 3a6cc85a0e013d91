"""Atomic writes: readers never see a half-written file or folder, and a failed write keeps the old one."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
