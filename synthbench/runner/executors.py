"""Executors: where cells run. Both hand cells to workers as soon as the cells they read are
finished, and report each result as it comes back.

- ``local``: worker processes on this machine, one thread each by default. On a CPU several
  one-thread workers beat one multi-thread process: torch's thread barriers wait for a thread
  the OS has descheduled, so a 2-thread job beside one busy core runs many times slower.
- ``ray``: each cell a Ray task (``num_cpus`` = its threads, ``num_gpus`` when asked), on a
  local Ray instance or a cluster (``--address``). Ray is an optional extra.

Each cell is reported twice: when it is handed to a worker (``started``) and when it ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from synthbench.errors import SynthbenchError
from synthbench.runner.cells import run_cell
from synthbench.runner.plan import Cell

EXECUTORS = ("local", "ray")


@dataclass
class Outcome:
    cell: Cell
    info: dict[str, Any] | None = None
    error: str | None = None
    #: the cell was just handed to a worker; its end is reported by another outcome
    started: bool = False


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


def schedule(
    cells: list[Cell],
    submit: Callable[[Cell], Any],
    wait_one: Callable[[], tuple[Any, dict[str, Any] | None, str | None]],
    slots: int,
) -> Iterator[Outcome]:
    """Run ``cells`` (already in dependency order) with at most ``slots`` in flight; a cell
    whose input failed is not run and fails with that reason. Of the cells ready to run, the
    one with the longest chain of cells waiting on it goes first (the first listed among
    equals), so that a chain such as one seed's refinement rounds does not start last and run
    alone while the other slots idle."""
    known = {c.key for c in cells}
    length = chain_lengths(cells)
    pending = sorted(cells, key=lambda c: -length[c.key])  # stable: dependency order holds
    finished: set[str] = set()
    failed: dict[str, str] = {}
    in_flight: dict[Any, Cell] = {}
    while pending or in_flight:
        progressed = True
        while progressed and len(in_flight) < slots:
            progressed = False
            for cell in list(pending):
                bad = [d for d in cell.deps if d in failed]
                if bad:
                    pending.remove(cell)
                    failed[cell.key] = f"an input failed: {failed[bad[0]].split(' (log')[0]}"
                    yield Outcome(cell, error=failed[cell.key])
                    progressed = True
                    continue
                if all(d in finished or d not in known for d in cell.deps):
                    pending.remove(cell)
                    in_flight[submit(cell)] = cell
                    yield Outcome(cell, started=True)
                    progressed = True
                    if len(in_flight) >= slots:
                        break
        if not in_flight:
            if pending:  # only cells waiting on failed inputs remain; the loop above yields them
                continue
            break
        handle, info, error = wait_one()
        cell = in_flight.pop(handle)
        if error is None:
            finished.add(cell.key)
        else:
            failed[cell.key] = error
        yield Outcome(cell, info, error)


def chain_lengths(cells: list[Cell]) -> dict[str, int]:
    """Per cell (in dependency order): the most cells on one path from it to the end of the
    work, itself included."""
    length: dict[str, int] = {}
    for cell in reversed(cells):
        length.setdefault(cell.key, 1)
        for dep in cell.deps:
            length[dep] = max(length.get(dep, 1), length[cell.key] + 1)
    return length


def run_local(cells: list[Cell], root: str, *, workers: int, threads: int) -> Iterator[Outcome]:
    """Cells in a pool of worker processes (spawned, so no parent state leaks into them)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if not cells:
        return
    futures: set[Any] = set()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:

        def submit(cell: Cell) -> Any:
            future = pool.submit(run_cell, cell.kind, cell.key, cell.payload, root, threads)
            futures.add(future)
            return future

        def wait_one() -> tuple[Any, dict[str, Any] | None, str | None]:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            future = next(iter(done))
            futures.discard(future)
            try:
                return future, future.result(), None
            except SynthbenchError as exc:
                return future, None, str(exc)
            except Exception as exc:  # a worker that died (out of memory, killed)
                return future, None, f"{type(exc).__name__}: {exc}"

        yield from schedule(cells, submit, wait_one, workers)


def run_ray(
    cells: list[Cell], root: str, *, workers: int, threads: int, address: str | None, gpus: float
) -> Iterator[Outcome]:
    """Cells as Ray tasks; ``address`` joins a running cluster, None starts a local instance."""
    try:
        import ray
    except ImportError:
        raise SynthbenchError(
            "--executor ray needs Ray: pip install 'synthbench[ray]' (or 'ray')"
        ) from None
    if not cells:
        return
    started = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else workers * threads,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        started = True
    remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(run_cell)
    refs: list[Any] = []

    def submit(cell: Cell) -> Any:
        ref = remote.remote(cell.kind, cell.key, cell.payload, root, threads)
        refs.append(ref)
        return ref

    def wait_one() -> tuple[Any, dict[str, Any] | None, str | None]:
        done, _ = ray.wait(refs, num_returns=1)
        ref = done[0]
        refs.remove(ref)
        try:
            return ref, ray.get(ref), None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if exc.cause is not None else exc
            return ref, None, str(cause).strip().splitlines()[-1]
        except ray.exceptions.RayError as exc:
            return ref, None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"

    try:
        yield from schedule(cells, submit, wait_one, max(workers, 1) * 4 if address else workers)
    finally:
        if started:
            ray.shutdown()
