"""Tidy result rows: one metric value per row, with everything needed to say what produced it.

>>> row = ResultRow(metric="fd", value=12.5, higher_is_better=False, dataset="phantom:oct",
...                 feature_extractor="domain")
>>> row.metric, row.qualifiers
('fd', {})

Metric name and qualifiers are separate fields: per-class accuracy is ``metric="accuracy"`` with
``qualifiers={"class": "drusen"}``, never ``"accuracy_drusen"``.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from synthbench import __version__


@functools.cache
def git_sha() -> str:
    """The git commit of the synthbench source tree, or "" outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def host() -> str:
    return platform.node()


class ResultRow(BaseModel):
    """One metric value and its full context (see DESIGN.md, "Core types")."""

    model_config = ConfigDict(extra="forbid")

    suite: str = ""
    dataset: str = ""
    generator: str = ""
    generator_config_hash: str = ""
    task: str = ""
    #: the budget profile the task (or metric) ran at, and the hash of the task's exact settings
    profile: str = ""
    task_config_hash: str = ""
    metric: str
    qualifiers: dict[str, str] = Field(default_factory=dict)
    value: float
    higher_is_better: bool | None = None
    seed: int | None = None
    protocol: str = ""
    synth_ratio: float | None = None
    n_real: int | None = None
    n_synth: int | None = None
    feature_extractor: str = ""
    synthbench_version: str = __version__
    git_sha: str = Field(default_factory=git_sha)
    wall_seconds: float | None = None
    device: str = "cpu"


def write_rows(path: str | Path, rows: Iterable[ResultRow]) -> Path:
    """Write rows as JSON lines, atomically (temporary file, then rename)."""
    from synthbench.io import write_text_atomic

    write_text_atomic(path, "".join(row.model_dump_json() + "\n" for row in rows))
    return Path(path)


def read_rows(path: str | Path) -> list[ResultRow]:
    """Read and validate rows written by :func:`write_rows`."""
    from synthbench.errors import SynthbenchError

    rows = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(ResultRow.model_validate_json(line))
        except ValueError as exc:
            first = str(exc).splitlines()
            raise SynthbenchError(
                f"{path}:{lineno}: invalid result row ({' '.join(first[:3])})"
            ) from None
    return rows
