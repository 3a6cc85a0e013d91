"""Running one cell, and the on-disk store of finished cells.

A finished cell is a folder ``<cache>/<kind>/<key>/`` holding its outputs and ``cell.json``; it
is written under a temporary name and renamed into place, so a run killed at any moment (also
``kill -9``) leaves either a whole cell or none. Training cells keep their periodic training state
beside the cell (``<key>.training-state``), so a killed training resumes where it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from synthbench.errors import SynthbenchError
from synthbench.io import temp_sibling
from synthbench.machine import host_description

CELL_FILE = "cell.json"
ROWS_FILE = "rows.jsonl"


class Store:
    """Finished cells under one cache folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def done(self, kind: str, key: str) -> bool:
        return (self.dir(kind, key) / CELL_FILE).is_file()

    def info(self, kind: str, key: str) -> dict[str, Any]:
        return json.loads((self.dir(kind, key) / CELL_FILE).read_text())

    def clear_debris(self) -> int:
        """Remove the temporary folders of cells a killed run was writing."""
        removed = 0
        for kind_dir in self.root.glob("*"):
            for tmp in kind_dir.glob(".*.tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

    @contextlib.contextmanager
    def lock(self):
        """Hold the cache for one run: a second run on the same cache is refused in one line."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "w")  # noqa: SIM115 (held for the whole run)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise SynthbenchError(
                f"{self.root}: another synthbench run is using this cache; wait for it or give --cache"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


def run_cell(
    kind: str, key: str, payload: dict[str, Any], root: str, threads: int = 1
) -> dict[str, Any]:
    """Compute one cell into the store (in whatever process or Ray worker calls it) and return
    its ``cell.json``. Output of the work goes to the cell's log; a failure raises
    :class:`CellFailed` with the error's last line and the log's path."""
    import torch

    torch.set_num_threads(threads)
    store = Store(root)
    final = store.dir(kind, key)
    if store.done(kind, key):
        return store.info(kind, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = temp_sibling(final)
    work.mkdir()
    log_path = work / "log.txt"
    t0 = time.perf_counter()
    try:
        with (
            open(log_path, "w") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            summary = RUNNERS[kind](payload, work, store, key)
    except BaseException as exc:
        failed = store.root / "failed"
        failed.mkdir(exist_ok=True)
        log_copy = failed / f"{kind}-{key}.log"
        with open(log_path, "a") as log:
            traceback.print_exc(file=log)
        shutil.copyfile(log_path, log_copy)
        shutil.rmtree(work, ignore_errors=True)
        message = str(exc) if isinstance(exc, SynthbenchError) else f"{type(exc).__name__}: {exc}"
        raise CellFailed(
            f"{message.splitlines()[0] if message else type(exc).__name__} (log: {log_copy})"
        ) from None
    info = {
        "kind": kind,
        "key": key,
        "payload": payload,
        "wall_seconds": round(time.perf_counter() - t0, 3),
        "threads": threads,
        "host": platform.node(),
        "cpu": host_description(),
        "pid": os.getpid(),
        **summary,
    }
    (work / CELL_FILE).write_text(json.dumps(info, indent=2, default=str))
    if final.exists():  # another worker finished it first: keep theirs
        shutil.rmtree(work, ignore_errors=True)
    else:
        os.replace(work, final)
    return store.info(kind, key)


class CellFailed(SynthbenchError):
    """A cell's work raised; the message names the error and the cell's log."""


# ---------------------------------------------------------------------------------- the kinds
def _train(payload: dict[str, Any], work: Path, store: Store, key: str) -> dict[str, Any]:
    from synthbench.generators.base import get_generator_class
    from synthbench.runner.plan import _kept_rows, load_payload_data

    cls = get_generator_class(payload["generator"])
    config = cls.Config.from_dict(payload["config"])
    gen = cls(config)
    data = load_payload_data(payload["data"])
    rows = _kept_rows(data.train, payload["real_fraction"], payload["subset_seed"])
    if cls.capabilities.trains:
        gen.state_dir = store.root / "train" / f"{key}.training-state"
    gen.fit(data.train.subset(rows), seed=payload["seed"])
    gen.fit_info_.update({"data": payload["data"]["spec"], "profile": payload["profile"]})
    gen.save(work / "checkpoint")
    if gen.state_dir is not None and gen.state_dir.exists():
        shutil.rmtree(gen.state_dir, ignore_errors=True)
    info = {k: v for k, v in gen.fit_info_.items() if isinstance(v, int | float | str)}
    return {"generator": gen.name, "config_hash": gen.config_hash, "fit": info}


def checkpoint_path(ref: dict[str, Any], store: Store) -> Path:
    if "train" in ref:
        return store.dir("train", ref["train"]) / "checkpoint"
    return Path(ref["checkpoint"])


def _sample(payload: dict[str, Any], work: Path, store: Store, key: str) -> dict[str, Any]:
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.streaming import sample_to_disk
    from synthbench.runner.plan import conditions_cohort, load_payload_data
    from synthbench.viz import cohort_grid

    path = checkpoint_path(payload["source"], store)
    gen = load_generator(path)
    if payload["sampling"]:
        gen.config = gen.config.with_sampling([f"{k}={v}" for k, v in payload["sampling"].items()])
    data = load_payload_data(payload["data"])
    like = conditions_cohort(data.train, payload["rows"], payload["counts"])
    t0 = time.perf_counter()
    sample_to_disk(gen, Conditions.like(like), work / "cohort", seed=payload["seed"])
    seconds = time.perf_counter() - t0
    from synthbench.cohort import Cohort

    cohort = Cohort.load(work / "cohort")
    cohort_grid(cohort, work / "grid.png", per_row=8, title=f"{gen.name} {gen.config_hash}")
    return {
        "generator": gen.name,
        "config_hash": gen.config_hash,
        "n": len(cohort),
        "images_per_s": round(len(cohort) / max(seconds, 1e-9), 3),
        "precision": gen.sampling_precision(),
        "device": gen.sampling_device(),
        "artifacts": {"grid": "grid.png"},
    }


def _subset(cohort: Any, n: int, seed: int) -> Any:
    import numpy as np

    if len(cohort) <= n:
        return cohort
    rng = np.random.default_rng([seed, 0xC0FFEE])
    return cohort.subset(np.sort(rng.choice(len(cohort), size=n, replace=False)))


def _quality(payload: dict[str, Any], work: Path, store: Store, key: str) -> dict[str, Any]:
    from synthbench.cohort import Cohort
    from synthbench.metrics.evaluate import EvalSettings, evaluate
    from synthbench.results import write_rows
    from synthbench.runner.plan import load_payload_data

    data = load_payload_data(payload["data"])
    if "sample" in payload:
        candidate = Cohort.load(store.dir("sample", payload["sample"]) / "cohort")
    else:
        candidate = data.splits()[payload["real_split"]]
    candidate = _subset(candidate, payload["n"], payload["seed"])
    settings = EvalSettings(
        extractor=payload["extractor"],
        extractor_path=payload["extractor_path"],
        resize=payload.get("resize"),
        extractor_data=payload.get("extractor_data"),
        reference_split=payload["reference_split"],
        seed=payload["seed"],
        breakdown=False,
        cache_dir=store.root / "features",
        artifacts_dir=work / "artifacts",
    )
    result = evaluate(
        data, candidate, payload["metrics"], settings, dataset=payload["data"]["spec"]
    )
    write_rows(work / ROWS_FILE, result.rows)
    return {
        "n": len(candidate),
        "artifacts": {p.stem: str(p.relative_to(work)) for p in result.artifacts},
    }


def _task(payload: dict[str, Any], work: Path, store: Store, key: str) -> dict[str, Any]:
    from synthbench.cohort import Cohort
    from synthbench.runner.plan import load_payload_data
    from synthbench.tasks.base import get_task_class
    from synthbench.tasks.mixing import mix

    cls = get_task_class(payload["task"])
    task = cls(cls.Config.from_dict(payload["config"]), profile=payload["profile"])
    data = load_payload_data(payload["data"])
    synthetic = None
    if "sample" in payload:
        synthetic = Cohort.load(store.dir("sample", payload["sample"]) / "cohort")
    train = mix(
        data.train,
        synthetic,
        synth_ratio=payload["synth_ratio"],
        real_fraction=payload["real_fraction"],
        seed=payload["seed"],
    )
    task.run(train, data.val, data.test, seed=payload["seed"], out_dir=work)
    artifacts = {
        name: str(p.relative_to(work)) for name, p in task.artifacts_.items() if name != "rows"
    }
    return {"artifacts": artifacts}


def _refine(payload: dict[str, Any], work: Path, store: Store, key: str) -> dict[str, Any]:
    from synthbench.feedback.rounds import RoundSettings, round_into
    from synthbench.runner.plan import load_payload_data

    rows = round_into(
        work,
        store.dir("refine", key),
        payload["round"],
        payload["method"],
        base=checkpoint_path(payload["base"], store),
        earlier=[store.dir("refine", k) for k in payload["earlier"]],
        real=load_payload_data(payload["data"]),
        settings=RoundSettings.from_flat(payload["settings"], seed=payload["seed"]),
        cache_dir=store.root / "features",
        # stdout is the cell's log.txt while it runs
        log=lambda message: print(f"{time.strftime('%H:%M:%S')} {message}", flush=True),
    )
    top = next(r.value for r in rows if r.metric == "top_rated")
    return {"round": payload["round"], "method": payload["method"], "top_rated": top}


RUNNERS = {
    "train": _train,
    "sample": _sample,
    "quality": _quality,
    "task": _task,
    "refine": _refine,
}
