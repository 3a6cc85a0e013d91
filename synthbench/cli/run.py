"""``synthbench run``, ``synthbench validate`` and ``synthbench leaderboard`` (attached to the app
in ``synthbench.cli``). Heavy libraries load inside the commands.

    synthbench validate benchmarks/quick.toml
    synthbench run benchmarks/quick.toml --out results/quick
    synthbench leaderboard results/quick --format md
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthbench.errors import SynthbenchError


def validate(
    suite: Annotated[Path, typer.Argument(help="suite file (TOML), e.g. benchmarks/smoke.toml")],
    profile: Annotated[
        str | None, typer.Option(help="run at another budget profile: smoke, quick, standard")
    ] = None,
) -> None:
    """Check a suite without running it: schema, names, data, protocols; print its cells."""
    from synthbench.runner.plan import KINDS, make_plan
    from synthbench.runner.suite import load_suite

    loaded = load_suite(suite, profile=profile)
    plan = make_plan(loaded)
    counts = {k: len(plan.of_kind(k)) for k in KINDS}
    typer.echo(
        f"{suite}: suite {loaded.name!r} (profile {loaded.profile}, seeds {loaded.seeds}) is valid: "
        + ", ".join(f"{n} {k} cells" for k, n in counts.items())
    )


def run(
    suite: Annotated[Path, typer.Argument(help="suite file (TOML), e.g. benchmarks/quick.toml")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="results folder (default results/<suite name>); replaces an earlier results "
            "folder, refuses any other existing file or folder",
        ),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="run at another budget profile: smoke, quick, standard")
    ] = None,
    executor: Annotated[str, typer.Option(help="local (worker processes) or ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local instance)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="cells at once (default: one per CPU core)")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch threads per worker")] = 1,
    gpus: Annotated[float, typer.Option(min=0, help="GPUs per cell (ray executor)")] = 0.0,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="cache of finished cells (default $SYNTHBENCH_CACHE/cells or ~/.cache/synthbench/cells)"
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress display")] = True,
    leaderboard_format: Annotated[
        str, typer.Option("--format", help="leaderboard printed at the end: term, md or none")
    ] = "term",
) -> None:
    """Run a suite: every cell not already in the cache, then the results folder (rows, manifest,
    leaderboard, HTML report). Interrupted runs resume; a failing cell is recorded, the rest go on."""
    import sys

    from synthbench.cli.outputs import is_results_folder, output_folder
    from synthbench.leaderboard import render
    from synthbench.runner.run import run_suite
    from synthbench.runner.suite import load_suite

    if leaderboard_format not in ("term", "md", "none"):
        raise SynthbenchError(f"--format must be term, md or none, got {leaderboard_format!r}")
    loaded = load_suite(suite, profile=profile)
    out = out or Path("results") / loaded.name
    output_folder(out, replaces=is_results_folder, what="a results folder")
    display = _Display(progress and sys.stderr.isatty())
    with display:
        report = run_suite(
            loaded,
            out,
            cache=cache,
            executor=executor,
            workers=workers,
            threads=threads,
            address=address,
            gpus=gpus,
            on_event=display.event,
        )
    if leaderboard_format != "none":
        typer.echo(render(report.rows, leaderboard_format))
    typer.echo(
        f"{report.computed} cells computed, {report.reused} reused, {len(report.failed)} failed "
        f"in {report.seconds:.1f} s; wrote {out}"
    )
    for message in report.failed.values():
        typer.echo(f"failed: {message}", err=True)
    if report.failed:
        raise typer.Exit(1)


class _Display:
    """A rich progress bar (elapsed time, estimate of time left), or a line when each cell starts
    and when it ends."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress = None
        self.task = None

    def __enter__(self) -> _Display:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def event(self, kind: str, outcome, todo: int, total: int) -> None:
        if kind == "start":
            message = f"{total} cells, {total - todo} already done, {todo} to run"
            if self.progress is not None:
                self.task = self.progress.add_task("cells", total=todo)
                self.progress.console.print(message)
            else:
                typer.echo(message, err=True)
            return
        if kind == "cell-start":  # a long cell is not silent in a log
            if self.progress is None:
                typer.echo(f"started: {outcome.cell.label}", err=True)
            return
        status = "failed" if outcome.error else "done"
        seconds = (outcome.info or {}).get("wall_seconds")
        line = f"{status}: {outcome.cell.label}" + (f" ({seconds:.1f} s)" if seconds else "")
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=outcome.cell.label[:40])
            if outcome.error:
                self.progress.console.print(f"{line}: {outcome.error}")
        else:
            typer.echo(line + (f": {outcome.error}" if outcome.error else ""), err=True)


def leaderboard(
    results: Annotated[Path, typer.Argument(help="results folder written by 'synthbench run'")],
    fmt: Annotated[str, typer.Option("--format", help="term, md, csv or html")] = "term",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="write to this file instead of printing (replaced if it exists)"
        ),
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into", help="replace the text between the leaderboard marker comments of this file"
        ),
    ] = None,
) -> None:
    """Render a results folder's leaderboard from its rows."""
    from synthbench.cli.outputs import output_file
    from synthbench.io import write_text_atomic
    from synthbench.leaderboard import render, replace_between_markers
    from synthbench.results import read_results

    if into is not None:
        if not into.is_file():
            raise SynthbenchError(f"--into {into}: no such file")
        output_file(into, "--into")
    elif out is not None:
        output_file(out)
    text = render(read_results(results), fmt, folder=results)
    if into is not None:
        write_text_atomic(into, replace_between_markers(into.read_text(), text, where=str(into)))
        typer.echo(f"updated the leaderboard in {into}")
        return
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    typer.echo(f"wrote {out}")
