"""``synthbench adapt``: move a trained ``minim`` to a new domain with a few images (attached
to the app in ``synthbench.cli``). Heavy libraries load inside the command.

    synthbench adapt shipped:minim-oct-brain_mri --data 'phantom:breast_mri?n=286&size=32' \\
        --shots 200 --method lora --out runs/minim-breast-lora
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

#: a base's settings that adaptation sets itself (the budget and where it starts)
NOT_CARRIED = ("steps", "minutes", "lr", "warmup_steps", "init_from", "checkpoint_every")


def adapt(
    checkpoint: Annotated[str, typer.Argument(help="trained minim checkpoint or shipped:<name>")],
    data: Annotated[
        str, typer.Option("--data", help="data spec of the new domain; its train split is used")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="checkpoint folder to write; replaces an earlier checkpoint, refuses any other "
            "existing file or folder",
        ),
    ],
    shots: Annotated[
        int | None,
        typer.Option(min=1, help="training images of the new domain (default: the whole split)"),
    ] = None,
    method: Annotated[
        str, typer.Option(help="full (every weight trains) or lora (adapters; base frozen)")
    ] = "lora",
    profile: Annotated[
        str, typer.Option(help="budget profile: smoke, quick or standard")
    ] = "quick",
    steps: Annotated[
        int | None, typer.Option(min=1, help="fine-tuning steps (overrides the profile)")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a setting, key=value (e.g. lora_rank=4)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the fine-tuning and of the shots drawn")] = 0,
) -> None:
    """Fine-tune a trained minim to a new domain (modality), in full or with LoRA; new words of
    the domain's reports extend the tokenizer."""
    from synthbench.cli.generators import command_line
    from synthbench.cli.outputs import is_checkpoint, output_folder
    from synthbench.data.source import load_data
    from synthbench.generators.adapt import METHODS, AdaptedMinim, AdaptedMinimConfig
    from synthbench.generators.base import load_generator
    from synthbench.generators.minim import Minim
    from synthbench.generators.model_card import write_model_card
    from synthbench.generators.shipped import resolve_checkpoint

    if method not in METHODS:
        raise SynthbenchError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    output_folder(out, replaces=is_checkpoint, what="a checkpoint")
    path = resolve_checkpoint(checkpoint)
    base = load_generator(path)
    if type(base) is not Minim:
        raise SynthbenchError(f"{checkpoint}: a {base.name} checkpoint; adapt starts from a minim")
    carried = {k: v for k, v in base.config.to_dict().items() if k not in NOT_CARRIED}
    overrides: dict[str, Any] = dict(AdaptedMinimConfig.parse_override(s) for s in settings or [])
    overrides = {**carried, **overrides, "init_from": checkpoint, "method": method}
    if steps is not None:
        overrides["steps"] = steps
    config = AdaptedMinimConfig.for_profile(profile, **overrides)
    real = load_data(data)
    train = draw_shots(real.train, shots, seed)
    gen = AdaptedMinim(config)
    state_dir = out.with_name(out.name + ".training-state")
    gen.state_dir = state_dir
    gen.progress = sys.stderr.isatty()
    typer.echo(
        f"adapting {checkpoint} ({method}, profile {profile}, {config.steps} steps) to "
        f"{len(train)} training images of {data}"
    )
    t0 = time.perf_counter()
    gen.fit(train, seed=seed)
    gen.fit_info_.update({"data": data, "profile": profile, "shots": len(train)})
    gen.save(out)
    seconds = time.perf_counter() - t0
    write_model_card(out, gen, data, profile, seed, seconds, command_line())
    if state_dir.exists():
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    info = gen.fit_info_["adaptation"]
    typer.echo(
        f"wrote {out} in {seconds:.1f} s ({info['new_words']} new words, "
        f"{info['trainable_parameters']} trainable parameters)"
    )


def draw_shots(train: Cohort, shots: int | None, seed: int) -> Cohort:
    """``shots`` images of a training split, as balanced over its strata (modality and class)
    as they allow, drawn with ``seed``; all of them without ``shots``."""
    import numpy as np

    from synthbench.tasks.mixing import quota, strata

    if shots is None or shots >= len(train):
        return train
    keys = strata(train)
    wanted = quota(keys, shots)
    rng = np.random.default_rng([seed, 0x5407])
    picked: list[int] = []
    for key, n in wanted.items():
        rows = [i for i, k in enumerate(keys) if k == key]
        picked += rng.permutation(rows)[:n].tolist()
    return train.subset(np.sort(np.asarray(picked, np.int64)))
