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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

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
    #: how the real data was split: "patient" (by patient id), "image" (the data set had no patient
    #: ids, so each image was its own patient and one patient's images can be on both sides of a
    #: split), or "" (not recorded)
    patient_split: Literal["patient", "image", ""] = ""
    #: the modalities of the real data (comma-separated when several)
    modality: str = ""
    generator: str = ""
    generator_config_hash: str = ""
    #: a digest of the generator checkpoint's files (weights and settings) that made the images
    checkpoint: str = ""
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
    #: the share of the real training patients the downstream model saw (1 = all)
    real_fraction: float | None = None
    n_real: int | None = None
    n_synth: int | None = None
    feature_extractor: str = ""
    synthbench_version: str = __version__
    git_sha: str = Field(default_factory=git_sha)
    wall_seconds: float | None = None
    device: str = "cpu"
    #: the arithmetic: of the downstream training for task rows, of the sampling that made the
    #: images for quality rows (the metrics themselves run in fp32); fp32, bf16 or fp16
    precision: str = "fp32"


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


def format_table(rows: Sequence[ResultRow]) -> str:
    """A plain-text table: metric, qualifiers, value with ↑ / ↓ (higher / lower is better)."""
    lines = []
    body = []
    for r in rows:
        quals = ", ".join(f"{k}={v}" for k, v in r.qualifiers.items())
        arrow = {True: "↑", False: "↓", None: " "}[r.higher_is_better]
        body.append((r.metric, quals, f"{r.value:.4g}", arrow))
    w0 = max([len("metric")] + [len(b[0]) for b in body])
    w1 = max([len("qualifiers")] + [len(b[1]) for b in body])
    lines.append(f"{'metric':<{w0}}  {'qualifiers':<{w1}}  value")
    lines.append("-" * (w0 + w1 + 14))
    for m, q, v, a in body:
        lines.append(f"{m:<{w0}}  {q:<{w1}}  {v:>9} {a}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- results folders
#: the tidy table of a results folder (``synthbench run`` writes both; they hold the same rows)
ROWS_PARQUET = "rows.parquet"
ROWS_CSV = "rows.csv"


def rows_frame(rows: Sequence[ResultRow]):  # -> pandas.DataFrame
    """Rows as a table: one column per field, qualifiers as a JSON object column."""
    import json

    import pandas as pd

    columns = list(ResultRow.model_fields)
    records = []
    for row in rows:
        record = row.model_dump()
        record["qualifiers"] = json.dumps(record["qualifiers"], sort_keys=True)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=columns)


def read_results(folder: str | Path) -> list[ResultRow]:
    """The rows of a results folder (``rows.parquet``, else ``rows.csv``), each validated."""
    import json

    import pandas as pd

    from synthbench.errors import SynthbenchError

    folder = Path(folder)
    if (folder / ROWS_PARQUET).is_file():
        frame = pd.read_parquet(folder / ROWS_PARQUET)
    elif (folder / ROWS_CSV).is_file():
        text_fields = {n: str for n in ResultRow.model_fields if _is_text(n)}
        frame = pd.read_csv(
            folder / ROWS_CSV,
            dtype={**text_fields, "qualifiers": str},
            float_precision="round_trip",
        )
    else:
        raise SynthbenchError(
            f"{folder}: no {ROWS_PARQUET} or {ROWS_CSV}; give a folder written by 'synthbench run'"
        )
    unknown = sorted(set(frame.columns) - set(ResultRow.model_fields))
    if unknown:
        raise SynthbenchError(f"{folder}: unknown result columns {unknown}")
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        clean = {}
        for name, value in record.items():
            if _is_missing(value):  # an empty cell: None, or "" for a text field
                if _is_text(name):
                    clean[name] = ""
                continue
            clean[name] = value.item() if hasattr(value, "item") else value
        try:
            clean["qualifiers"] = json.loads(clean.get("qualifiers") or "{}")
            rows.append(ResultRow.model_validate(clean))
        except ValueError as exc:
            first = " ".join(str(exc).splitlines()[:3])
            raise SynthbenchError(f"{folder}: row {i}: invalid result row ({first})") from None
    return rows


def _is_text(name: str) -> bool:
    """Whether a result field holds text (a string, or one of fixed strings)."""
    from typing import get_args, get_origin

    annotation = ResultRow.model_fields[name].annotation
    if get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in get_args(annotation))
    return annotation is str


def _is_missing(value: object) -> bool:
    import math

    return value is None or (isinstance(value, float) and math.isnan(value))
