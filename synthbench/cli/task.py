"""``synthbench task``: a typer command function, attached to the app in ``synthbench.cli``.
Heavy imports happen inside the command.

    synthbench task classification --data 'phantom:oct?n=400&size=32' --seed 0
    synthbench task classification --data 'phantom:oct?n=400&size=32' --synthetic synth/ \\
        --synth-ratio 5 --profile quick --seed 0 --out runs/cls
    synthbench task biomarker-survival --data 'phantom:chest_ct?n=1200&size=32' --out runs/egfr
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def task(
    name: Annotated[
        str,
        typer.Argument(help="task: classification, report-generation, ssl, biomarker-survival"),
    ],
    data: Annotated[
        str, typer.Option("--data", help="real data spec; validation and test stay real")
    ],
    synthetic: Annotated[
        str | None,
        typer.Option(
            "--synthetic",
            help="synthetic images: a cohort folder (synthbench generate), image folder or data spec",
        ),
    ] = None,
    synth_ratio: Annotated[
        float,
        typer.Option("--synth-ratio", help="synthetic images per real one (0, 1, 2, 5, 10, 20)"),
    ] = 0.0,
    real_fraction: Annotated[
        float, typer.Option("--real-fraction", help="share of the real training patients to keep")
    ] = 1.0,
    synthetic_only: Annotated[
        bool, typer.Option("--synthetic-only", help="train on synthetic images alone (CAS)")
    ] = False,
    protocol: Annotated[
        str, typer.Option("--protocol", help="same-data or pretrain-pool (recorded in the rows)")
    ] = "same-data",
    profile: Annotated[
        str, typer.Option(help="budget profile: smoke, quick or standard")
    ] = "quick",
    seed: Annotated[int, typer.Option("--seed", help="seed of the mix and the training run")] = 0,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a task setting, key=value (repeatable)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="folder to write rows.jsonl and artifacts (predictions, plots) into; files of "
            "an earlier run there are replaced",
        ),
    ] = None,
) -> None:
    """Train a downstream model on real (+ synthetic) training data and score it on real test
    data. Prints the result rows as a table."""
    from synthbench.cli.outputs import output_folder
    from synthbench.data.source import load_data
    from synthbench.errors import SynthbenchError
    from synthbench.metrics.evaluate import load_synthetic
    from synthbench.results import format_table
    from synthbench.tasks.base import get_task_class
    from synthbench.tasks.mixing import mix

    if out is not None:
        output_folder(out)
    cls = get_task_class(name)
    overrides = dict(cls.Config.parse_override(s) for s in settings or [])
    runner = cls(cls.Config.for_profile(profile, **overrides), profile=profile)
    real = load_data(data)
    reason = cls.serves(real)
    if reason:
        raise SynthbenchError(f"{name} cannot run on {data}: {reason}")
    synthetic_cohort = load_synthetic(synthetic) if synthetic else None
    train = mix(
        real.train,
        synthetic_cohort,
        synth_ratio=synth_ratio,
        real_fraction=real_fraction,
        synthetic_only=synthetic_only,
        seed=seed,
        protocol=protocol,
    )
    typer.echo(
        f"{name} (profile {profile}) on {train.n_real} real + {train.n_synth} synthetic training "
        f"images of {data}; {len(real.val)} validation, {len(real.test)} test"
    )
    rows = runner.run(train, real.val, real.test, seed=seed, out_dir=out)
    typer.echo(format_table(rows))
    for path in runner.artifacts_.values():
        typer.echo(f"wrote {path}")
