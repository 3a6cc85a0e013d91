"""``synthbench evaluate``: score synthetic images against real ones (attached to the app in
``synthbench.cli``). Heavy libraries load inside the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synthbench.errors import SynthbenchError


def evaluate(
    real: Annotated[
        str,
        typer.Argument(
            help="real data: a data spec ('phantom:oct?n=400'), a 'data make' folder, a cohort folder or an image folder"
        ),
    ],
    synthetic: Annotated[
        str,
        typer.Argument(help="synthetic data: a cohort folder, an image folder or a data spec"),
    ],
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="comma-separated metric names ('synthbench ls metrics'); default: fd,kd,prdc,is,diversity,memorisation",
        ),
    ] = "",
    extractor: Annotated[
        str,
        typer.Option(
            "--extractor",
            help="feature extractor: domain, autoencoder, contrastive, inception or local",
        ),
    ] = "domain",
    extractor_path: Annotated[
        str | None,
        typer.Option("--extractor-path", help="weights file (inception) or model folder (local)"),
    ] = None,
    extractor_data: Annotated[
        str | None,
        typer.Option(
            "--extractor-data",
            help="data spec whose training split the domain, autoencoder or contrastive extractor learns from "
            "instead of "
            "REAL's (e.g. a larger simulation of the modality with another seed)",
        ),
    ] = None,
    resize: Annotated[
        str | None,
        typer.Option(
            "--resize",
            help="how the inception extractor brings images to 299 px: clean (clean-fid's "
            "resizer) or legacy (the network's bilinear resize); default: the extractor's",
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="write the result rows and run details as JSON to this file (replaced if it exists)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="folder to write image artifacts into (closest-pairs grid)"),
    ] = None,
    reference_split: Annotated[
        str,
        typer.Option("--reference-split", help="real split to compare with: train, val or test"),
    ] = "train",
    synthetic_split: Annotated[
        str,
        typer.Option(
            "--synthetic-split", help="for a spec or 'data make' folder: train, val, test or all"
        ),
    ] = "all",
    seed: Annotated[
        int, typer.Option("--seed", help="seed of every random choice and training run")
    ] = 0,
    breakdown: Annotated[
        bool,
        typer.Option("--breakdown/--no-breakdown", help="also report per class and per modality"),
    ] = True,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="cache of reference features and helper models (default $SYNTHBENCH_CACHE or ~/.cache/synthbench)",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="compute everything afresh, store nothing")
    ] = False,
) -> None:
    """Score SYNTHETIC images against REAL ones: distances, precision/recall, diversity,
    memorisation and more. Prints a table; --json writes every row."""
    from synthbench.cli.outputs import output_file, output_folder
    from synthbench.io import write_json_atomic
    from synthbench.metrics import DEFAULT_METRICS
    from synthbench.metrics.evaluate import (
        EvalSettings,
        load_real,
        load_synthetic,
    )
    from synthbench.metrics.evaluate import evaluate as run_evaluation
    from synthbench.metrics.inception import RESIZE_MODES
    from synthbench.results import format_table

    names = [m.strip() for m in metrics.split(",") if m.strip()] or list(DEFAULT_METRICS)
    if reference_split not in ("train", "val", "test"):
        raise SynthbenchError(
            f"--reference-split must be train, val or test, got {reference_split!r}"
        )
    if resize is not None and resize not in RESIZE_MODES:
        raise SynthbenchError(f"--resize must be {' or '.join(RESIZE_MODES)}, got {resize!r}")
    if extractor_data is not None:
        from synthbench.metrics.evaluate import check_extractor_data

        try:
            check_extractor_data(extractor)
        except SynthbenchError as exc:
            raise SynthbenchError(f"--extractor-data: {exc}") from None
    if json_out is not None:
        output_file(json_out, "--json")
    if out is not None:
        output_folder(out)
    if cache_dir is not None and not no_cache:
        output_folder(cache_dir, "--cache-dir")
    real_data = load_real(real, split_seed=0)
    synthetic_cohort = load_synthetic(synthetic, split=synthetic_split)
    settings = EvalSettings(
        extractor=extractor,
        extractor_path=extractor_path,
        resize=resize,
        extractor_data=extractor_data,
        reference_split=reference_split,
        seed=seed,
        breakdown=breakdown,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        artifacts_dir=out,
    )
    result = run_evaluation(
        real_data, synthetic_cohort, names, settings, dataset=real, generator=synthetic
    )
    typer.echo(format_table(result.rows))
    typer.echo(
        f"{len(synthetic_cohort)} synthetic vs {len(real_data.splits()[reference_split])} real ({reference_split}); "
        f"extractor {result.feature_extractor}; {result.wall_seconds:.1f} s; "
        f"cache {result.cache_hits} hits, {result.cache_misses} misses"
    )
    for path in result.artifacts:
        typer.echo(f"wrote {path}")
    if json_out is not None:
        payload = {
            "real": real,
            "synthetic": synthetic,
            "metrics": names,
            "feature_extractor": result.feature_extractor,
            "wall_seconds": result.wall_seconds,
            "artifacts": [str(p) for p in result.artifacts],
            "rows": [json.loads(r.model_dump_json()) for r in result.rows],
        }
        write_json_atomic(json_out, payload)
        typer.echo(f"wrote {json_out}")
