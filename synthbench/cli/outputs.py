"""Checks of a command's output path, made before any work starts, so a path that cannot be
written fails in one line and leaves nothing behind.

Three kinds of output, and what an existing path means for each:

- a file (a PNG grid, a JSON file, a leaderboard): replaced; an existing folder is refused;
- a folder written whole (a checkpoint, a cohort, a results folder): replaced when it is empty
  or an earlier output of the same kind, so a rerun overwrites its own result; any other
  existing folder is refused rather than swapped out, and an existing file is refused;
- a folder written into (task artifacts, a cache): kept, files are added; an existing file
  is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from synthbench.errors import SynthbenchError
from synthbench.io import check_writable

CHECKPOINT_FILE = "synthbench_generator.json"  # generators.base.CHECKPOINT_FILE, without torch
RESULTS_FILES = ("manifest.json", "rows.parquet", "rows.csv")


def output_file(path: Path, option: str = "--out") -> Path:
    """A file the command will write (replacing one that exists)."""
    if path.is_dir():
        raise SynthbenchError(f"{option} {path}: an existing folder; give a file name")
    check_writable(path, path.parent, option)
    return path


def output_folder(
    path: Path,
    option: str = "--out",
    *,
    replaces: Callable[[Path], bool] | None = None,
    what: str = "",
) -> Path:
    """A folder the command will write. With ``replaces``, the folder is written whole, and an
    existing non-empty folder is replaced only when ``replaces(path)`` says it is ``what`` (an
    earlier output of the same kind); without, files are written into it."""
    if path.exists() and not path.is_dir():
        raise SynthbenchError(f"{option} {path}: an existing file; give a folder")
    if replaces is None:
        check_writable(path, path, option)
        return path
    if path.is_dir() and any(path.iterdir()) and not replaces(path):
        raise SynthbenchError(
            f"{option} {path}: an existing folder that is not {what}; the output replaces the "
            "whole folder, so give a new or empty one"
        )
    check_writable(path, path.parent, option)
    return path


def is_checkpoint(path: Path) -> bool:
    """A generator checkpoint folder (written by ``synthbench train`` / ``retune``)."""
    return (path / CHECKPOINT_FILE).is_file()


def is_results_folder(path: Path) -> bool:
    """A results folder written by ``synthbench run``."""
    return any((path / name).is_file() for name in RESULTS_FILES)
