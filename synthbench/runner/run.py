"""``run_suite``: plan a suite, run its unfinished cells, and write the results folder.

The results folder holds ``rows.parquet`` and ``rows.csv`` (tidy rows, one value each),
``manifest.json`` (suite, versions, git sha, host, device, precision, timings per stage, failed
cells), ``artifacts/`` (sample grids, Kaplan-Meier curves, closest-pairs grids) and the rendered
leaderboard (``leaderboard.md``, ``report.html``). It is written whole under a temporary name
and renamed into place.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthbench.errors import SynthbenchError
from synthbench.io import check_writable
from synthbench.runner.cells import ROWS_FILE, Store
from synthbench.runner.executors import EXECUTORS, Outcome, run_local, run_ray
from synthbench.runner.plan import Plan, make_plan
from synthbench.runner.suite import Suite

MANIFEST_FILE = "manifest.json"


@dataclass
class RunReport:
    out: Path
    rows: list[Any]
    computed: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def default_cache() -> Path:
    import os

    root = os.environ.get("SYNTHBENCH_CACHE")
    return Path(root) / "cells" if root else Path.home() / ".cache" / "synthbench" / "cells"


def run_suite(
    suite: Suite,
    out: str | Path,
    *,
    cache: str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    threads: int = 1,
    address: str | None = None,
    gpus: float = 0.0,
    on_event: Callable[[str, Outcome | None, int, int], None] | None = None,
) -> RunReport:
    """Run a (checked) suite; finished cells in ``cache`` are reused, never recomputed.

    ``on_event(kind, outcome, todo, total)`` hears ``"start"`` once (no outcome), then
    ``"cell-start"`` when a cell is handed to a worker and ``"cell"`` when it ends."""
    from synthbench.machine import environment
    from synthbench.runner.executors import default_workers

    if executor not in EXECUTORS:
        raise SynthbenchError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    out = Path(out)
    _check_writable(out)
    t0 = time.perf_counter()
    plan = make_plan(suite)
    plan_seconds = time.perf_counter() - t0
    # the code and machine as the run starts: a commit made while it runs is not its code
    started = environment()
    store = Store(cache if cache is not None else default_cache())
    workers = workers or default_workers()
    report = RunReport(out, [])
    timings: dict[str, float] = {}
    with store.lock():
        store.clear_debris()
        todo = [c for c in plan.cells.values() if not store.done(c.kind, c.key)]
        report.reused = len(plan.cells) - len(todo)
        if on_event:
            on_event("start", None, len(todo), len(plan.cells))
        if executor == "local":
            outcomes = run_local(todo, str(store.root), workers=workers, threads=threads)
        else:
            outcomes = run_ray(
                todo, str(store.root), workers=workers, threads=threads, address=address, gpus=gpus
            )
        for outcome in outcomes:
            if outcome.started:
                if on_event:
                    on_event("cell-start", outcome, len(todo), len(plan.cells))
                continue
            if outcome.error is None:
                report.computed += 1
                seconds = (outcome.info or {}).get("wall_seconds", 0.0)
                timings[outcome.cell.kind] = timings.get(outcome.cell.kind, 0.0) + seconds
            else:
                report.failed[outcome.cell.key] = f"{outcome.cell.label}: {outcome.error}"
            if on_event:
                on_event("cell", outcome, len(todo), len(plan.cells))
        report.rows = collect_rows(plan, store)
        report.seconds = time.perf_counter() - t0
        manifest = _manifest(
            plan, store, report, started, executor, workers, threads, timings, plan_seconds
        )
        write_results(out, report.rows, manifest, _artifacts(plan, store))
    return report


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SynthbenchError(f"--out {out}: an existing file; give a folder")
    check_writable(out, out.parent)


def collect_rows(plan: Plan, store: Store) -> list[Any]:
    """Every finished task and quality cell's rows, with the suite's labels added."""
    from synthbench.results import read_rows

    suite = plan.suite
    rows = []
    for cell in plan.cells.values():
        if cell.kind not in ("task", "quality", "refine") or not store.done(cell.kind, cell.key):
            continue
        base = read_rows(store.dir(cell.kind, cell.key) / ROWS_FILE)
        extra = _cell_fields(plan, store, cell)
        for note in cell.annotations:
            quals = note.get("qualifiers", {})  # added to the row's own, not in their place
            fields = {k: v for k, v in note.items() if k != "qualifiers"}
            for row in base:
                update = {"suite": suite.name, **extra, **fields}
                if quals:
                    update["qualifiers"] = {**row.qualifiers, **quals}
                rows.append(row.model_copy(update=update))
    return rows


def _cell_fields(plan: Plan, store: Store, cell: Any) -> dict[str, Any]:
    """Row fields the cell's inputs tell: modality, the generator's checkpoint and precision."""
    data = cell.payload["data"]
    fields: dict[str, Any] = {
        "dataset": data["spec"]
        + (f"#{','.join(data['modalities'])}" if data.get("modalities") else ""),
        "modality": ",".join(data.get("modalities") or _modalities(data)),
    }
    sample = cell.payload.get("sample")
    if sample and store.done("sample", sample):
        info = store.info("sample", sample)
        ref = info["payload"]["source"]
        fields["checkpoint"] = ref.get("digest") or ref.get("train", "")
        fields["generator_config_hash"] = info["config_hash"]
        if cell.kind == "quality":
            fields["precision"] = info.get("precision", "fp32")
    return fields


def _modalities(data: dict[str, Any]) -> list[str]:
    from synthbench.runner.plan import load_payload_data

    return load_payload_data(data).train.modalities


def _artifacts(plan: Plan, store: Store) -> dict[str, Path]:
    """Files to copy into the results: sample grids, and the artifacts of task and quality cells
    at the first seed (Kaplan-Meier curves, closest-pairs grids)."""
    found: dict[str, Path] = {}
    first_seed = min(plan.suite.seeds)
    samples = {}
    for cell in plan.cells.values():
        for note in cell.annotations or ({},):
            if cell.kind in ("task", "quality") and "sample" in cell.payload:
                samples.setdefault(cell.payload["sample"], note.get("generator", ""))
    for cell in plan.cells.values():
        if not store.done(cell.kind, cell.key):
            continue
        info = store.info(cell.kind, cell.key)
        folder = store.dir(cell.kind, cell.key)
        data = _data_label(plan, cell.payload.get("data"))
        if cell.kind == "sample" and cell.key in samples:
            found[f"samples/{data}/{samples[cell.key]}.png"] = folder / info["artifacts"]["grid"]
        elif cell.kind == "quality":
            gen = cell.annotations[0]["generator"]
            for name, rel in info.get("artifacts", {}).items():
                found[f"quality/{data}/{gen}-{name}.png"] = folder / rel
        elif cell.kind == "task" and cell.payload["seed"] == first_seed:
            for name, rel in info.get("artifacts", {}).items():
                if not rel.endswith(".png"):
                    continue
                for note in cell.annotations:
                    label = f"{note['generator']}-{cell.payload['synth_ratio']:g}x-f{cell.payload['real_fraction']:g}"
                    found[f"tasks/{data}/{cell.payload['task']}/{label}-{name}.png"] = folder / rel
    return found


def _data_label(plan: Plan, payload: dict[str, Any] | None) -> str:
    if payload is None:
        return ""
    from synthbench.runner.plan import data_payload

    for key in plan.suite.data:
        if data_payload(plan.suite, key) == payload:
            return key
    return "data"


def _manifest(
    plan: Plan,
    store: Store,
    report: RunReport,
    started: dict[str, Any],
    executor: str,
    workers: int,
    threads: int,
    timings: dict[str, float],
    plan_seconds: float,
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for cell in plan.cells.values():
        counts[cell.kind] = counts.get(cell.kind, 0) + 1
    return {
        "suite": json.loads(plan.suite.model_dump_json(by_alias=True)),
        **started,
        # the commits the cells behind the rows ran at (earlier runs' where cells were reused)
        "row_commits": sorted({r.git_sha for r in report.rows}),
        "device": {
            "downstream and quality": "cpu",
            "sampling": _per_generator(plan, store, "device", "unrecorded"),
        },
        "precision": {
            "downstream": "fp32",
            "quality": "fp32",
            "sampling": _per_generator(plan, store, "precision", "unrecorded"),
        },
        "executor": executor,
        "workers": workers,
        "threads_per_worker": threads,
        "cells": counts,
        "cells_computed": report.computed,
        "cells_reused": report.reused,
        "failed": report.failed,
        "seconds": {
            "this run": round(report.seconds, 1),
            "plan": round(plan_seconds, 1),
            **{f"{k} cells computed in this run": round(v, 1) for k, v in sorted(timings.items())},
        },
        **_cell_record(plan, store),
        "checkpoint_bytes": _checkpoint_bytes(plan, store),
        "n_rows": len(report.rows),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cell_record(plan: Plan, store: Store) -> dict[str, Any]:
    """Where and how long every cell behind the rows took when it was computed (in this run or
    an earlier one): summed wall seconds per kind, and the machines and thread counts."""
    seconds: dict[str, float] = {}
    machines: dict[str, int] = {}
    for cell in plan.cells.values():
        if not store.done(cell.kind, cell.key):
            continue
        info = store.info(cell.kind, cell.key)
        seconds[cell.kind] = seconds.get(cell.kind, 0.0) + float(info.get("wall_seconds", 0.0))
        where = f"{info.get('cpu', 'unrecorded machine')}; {info.get('threads', '?')} thread(s) per cell"
        machines[where] = machines.get(where, 0) + 1
    return {
        "cell_seconds_summed": {k: round(v, 1) for k, v in sorted(seconds.items())},
        "computed_on": machines,
    }


def _checkpoint_bytes(plan: Plan, store: Store) -> dict[str, int]:
    """The size of every trained checkpoint behind the rows (the bytes of its files), by the
    ``checkpoint`` field its rows carry: what adapting a model costs to keep and ship."""
    sizes = {}
    for cell in plan.of_kind("train"):
        folder = store.dir("train", cell.key) / "checkpoint"
        if store.done("train", cell.key) and folder.is_dir():
            sizes[cell.key] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return dict(sorted(sizes.items()))


def _per_generator(plan: Plan, store: Store, field: str, default: str) -> dict[str, str]:
    """One field of every finished sample cell's record, by ``generator@config_hash``."""
    out = {}
    for cell in plan.of_kind("sample"):
        if store.done("sample", cell.key):
            info = store.info("sample", cell.key)
            out[f"{info['generator']}@{info['config_hash']}"] = info.get(field, default)
    return out


def write_results(
    out: Path, rows: list[Any], manifest: dict[str, Any], artifacts: dict[str, Path]
) -> None:
    """The results folder, written whole and renamed into place."""
    from synthbench.io import atomic_dir
    from synthbench.leaderboard import render_all
    from synthbench.results import rows_frame

    with atomic_dir(out) as work:
        frame = rows_frame(rows)
        frame.to_parquet(work / "rows.parquet", index=False)
        frame.to_csv(work / "rows.csv", index=False, float_format="%.17g")
        (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        for rel, src in sorted(artifacts.items()):
            dst = work / "artifacts" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        render_all(work)
