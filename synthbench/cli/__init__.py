"""The ``synthbench`` command line. Heavy libraries are imported inside commands, so ``--help`` is fast."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import Annotated, TextIO

import typer

from synthbench import __version__
from synthbench.errors import SynthbenchError

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException as _UsageError
except ImportError:  # older typer runs on click
    from click import ClickException as _UsageError

app = typer.Typer(
    name="synthbench",
    help="Does synthetic medical imaging data help your models, how much, and at what risk?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Make, inspect and look at data sets (phantoms and real data).", no_args_is_help=True
)
app.add_typer(data_app, name="data")

SPLITS = ("train", "val", "test")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synthbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Does synthetic medical imaging data help your models, how much, and at what risk?"""


@app.command("ls")
def ls(
    kind: Annotated[
        str,
        typer.Argument(
            help="generators, tasks, metrics, feature-extractors, datasets or checkpoints"
        ),
    ],
) -> None:
    """List the registered components of one kind (built-ins and installed plugins), or the
    shipped generator checkpoints (``checkpoints``)."""
    from synthbench.registry import REGISTRIES

    if kind == "checkpoints":
        _ls_checkpoints()
        return
    if kind not in REGISTRIES:
        raise SynthbenchError(f"unknown kind {kind!r}; valid: {', '.join(REGISTRIES)}, checkpoints")
    origins = REGISTRIES[kind].origins()
    if not origins:
        typer.echo(f"no {kind} registered yet")
        return
    width = max(len(n) for n in origins)
    for name, origin in origins.items():
        typer.echo(f"{name:<{width}}  {origin}")


def _ls_checkpoints() -> None:
    from synthbench.generators.shipped import PREFIX, list_shipped

    items = list_shipped()
    if not items:
        typer.echo("no shipped checkpoints installed")
        return
    width = max(len(PREFIX + i.name) for i in items)
    for item in items:
        reason = item.stale_reason()
        state = "current" if reason is None else f"stale: {reason}"
        typer.echo(
            f"{PREFIX + item.name:<{width}}  {item.generator} {item.profile} {item.data}  ({state})"
        )


@data_app.command("make")
def data_make(
    spec: Annotated[
        str, typer.Argument(help="data spec, e.g. 'phantom:oct?n=600&size=32' or 'phantom:all'")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="folder to write train/, val/ and test/ cohorts into; replaces an earlier "
            "'data make' folder, refuses any other existing file or folder",
        ),
    ],
) -> None:
    """Load a data spec and write its train / val / test cohorts (Hugging Face `datasets` folders)."""
    from synthbench.cli.outputs import output_folder
    from synthbench.data.source import load_data
    from synthbench.io import write_json_atomic

    output_folder(out, replaces=_is_data_folder, what="a folder written by 'synthbench data make'")
    data = load_data(spec)
    for split, cohort in data.splits().items():
        cohort.save(out / split)
    # the `datasets` convention for a folder of splits: load_from_disk(out) gives a DatasetDict
    write_json_atomic(out / "dataset_dict.json", {"splits": list(SPLITS)})
    typer.echo(data.summary())
    typer.echo(f"wrote {', '.join(str(out / s) for s in SPLITS)}")


@data_app.command("show")
def data_show(
    source: Annotated[
        str, typer.Argument(help="a cohort folder, a folder written by 'data make', or a data spec")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="PNG file to write (an existing file is replaced)")
    ],
    split: Annotated[
        str, typer.Option(help="which split to show when given a spec or a 'data make' folder")
    ] = "train",
    per_row: Annotated[int, typer.Option("--per-row", min=1, max=32, help="images per row")] = 8,
) -> None:
    """Write a labelled grid of images, one row per class (per modality), and print a summary."""
    from synthbench.cli.outputs import output_file
    from synthbench.cohort import Cohort, is_cohort_dir
    from synthbench.viz import cohort_grid

    if split not in SPLITS:
        raise SynthbenchError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    output_file(out)
    path = Path(source)
    if is_cohort_dir(path):
        cohort = Cohort.load(path)
    elif is_cohort_dir(path / split):
        cohort = Cohort.load(path / split)
    elif path.exists():
        raise SynthbenchError(
            f"{path}: neither a cohort folder nor a folder with {split}/ written by 'synthbench data make'"
        )
    else:
        from synthbench.data.source import load_data

        cohort = load_data(source).splits()[split]
    cohort_grid(cohort, out, per_row=per_row, title=source)
    typer.echo(cohort.summary())
    typer.echo(f"wrote {out}")


def _is_data_folder(path: Path) -> bool:
    from synthbench.cohort import is_cohort_dir

    return (path / "dataset_dict.json").is_file() or any(is_cohort_dir(path / s) for s in SPLITS)


def _attach_commands() -> None:
    """One module per command group; each imports only typer at load."""
    from synthbench.cli.adapt import adapt
    from synthbench.cli.evaluate import evaluate
    from synthbench.cli.feedback import app as feedback_app
    from synthbench.cli.generators import generate, retune, train
    from synthbench.cli.improve import improve
    from synthbench.cli.run import leaderboard, run, validate
    from synthbench.cli.task import task

    app.command("train")(train)
    app.command("generate")(generate)
    app.command("retune")(retune)
    app.command("evaluate")(evaluate)
    app.command("task")(task)
    app.command("run")(run)
    app.command("validate")(validate)
    app.command("leaderboard")(leaderboard)
    app.add_typer(feedback_app, name="feedback")
    app.command("improve")(improve)
    app.command("adapt")(adapt)


_attach_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point, and the one error path of every command: a :class:`SynthbenchError` or a
    usage error (a bad option value, a missing argument, an unknown command) becomes one line
    on stderr and exit code 2; any other exception is a bug and keeps its traceback. Python
    warnings print as one line, ``warning: <message>``."""
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        _main(argv)
    finally:
        warnings.showwarning = shown


def _main(argv: list[str] | None) -> None:
    try:
        code = app(args=argv, prog_name="synthbench", standalone_mode=False)
    except SynthbenchError as exc:
        _fail(str(exc))
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help text, printed as it was built
            text = exc.format_message()
            if text.strip():
                typer.echo(text, err=True)
            sys.exit(exc.exit_code)
        _fail(_usage_message(exc))
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    if code == 130:  # typer turns an interrupt inside a command into exit code 130
        typer.echo("interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the command line: the message alone, on one line."""
    stream = file if file is not None else sys.stderr
    with contextlib.suppress(OSError):  # stderr gone (a closed pipe): lost, as Python's would be
        stream.write(f"warning: {' '.join(str(message).split())}\n")


def _fail(message: str) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(2)


def _usage_message(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return exc.format_message() + hint  # type: ignore[attr-defined]
