"""``synthbench train``, ``synthbench generate`` and ``synthbench retune``: typer command
functions, attached to the app in ``synthbench.cli``. Heavy imports happen inside the commands.

    synthbench train minim --data 'phantom:oct,fundus?n=600&size=32' --profile quick --out ckpt/minim
    synthbench generate ckpt/minim --prompt "OCT: large drusen." -n 16 --seed 0 --out grid.png
    synthbench generate ckpt/minim --like 'phantom:oct,fundus?n=600&size=32' --out synth/
    synthbench retune ckpt/minim --set guidance_scale=6 --out ckpt/minim-g6
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from synthbench.errors import SynthbenchError

#: the most images a PNG grid request may ask for (grids are for looking at, not for data)
MAX_GRID_IMAGES = 1024


def train(
    generator: Annotated[str, typer.Argument(help="generator name, e.g. minim, ddpm, cvae")],
    data: Annotated[
        str, typer.Option("--data", help="data spec; the generator sees its train split only")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="checkpoint folder to write; replaces an earlier checkpoint, refuses any other "
            "existing file or folder",
        ),
    ],
    profile: Annotated[
        str, typer.Option(help="budget profile: smoke, quick or standard")
    ] = "quick",
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    steps: Annotated[
        int | None, typer.Option(help="training steps (overrides the profile)")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="stop after this many minutes (with or without --steps)")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config setting, key=value (repeatable)"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    keep_state: Annotated[
        bool,
        typer.Option(help="keep the final training state, so a run with more --steps continues it"),
    ] = False,
) -> None:
    """Fit a generator on a data set's training split and save the checkpoint.

    An interrupted run leaves its periodic training state beside OUT (OUT.training-state);
    running the same command again resumes from it, also with another budget: with --steps
    it ends where an uninterrupted run of that many steps ends; --minutes trains that many
    more minutes. A finished run removes the state unless --keep-state is given; with it, the
    same command with a larger --steps later trains on from where this one ended.
    """
    from synthbench.cli.outputs import is_checkpoint, output_folder
    from synthbench.data.source import load_data
    from synthbench.generators.base import get_generator_class
    from synthbench.generators.model_card import write_model_card

    output_folder(out, replaces=is_checkpoint, what="a checkpoint")
    cls = get_generator_class(generator)
    overrides = dict(cls.Config.parse_override(s) for s in settings or [])
    if steps is not None:
        overrides["steps"] = steps
    if minutes is not None:
        overrides["minutes"] = minutes
        if steps is None:
            overrides["steps"] = 0  # the minutes alone set the budget
    config = cls.Config.for_profile(profile, **overrides)
    gen = cls(config)
    real = load_data(data)
    state_dir = out.with_name(out.name + ".training-state")
    if cls.capabilities.trains:
        gen.state_dir = state_dir
        gen.progress = progress and sys.stderr.isatty()
    typer.echo(
        f"training {generator} (profile {profile}, config {gen.config_hash}) on {len(real.train)} "
        f"training images of {data}"
    )
    t0 = time.perf_counter()
    gen.fit(real.train, seed=seed)
    gen.fit_info_.update({"data": data, "profile": profile})
    gen.save(out)
    seconds = time.perf_counter() - t0
    write_model_card(out, gen, data, profile, seed, seconds, command_line())
    if state_dir.exists() and not keep_state:
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    info = gen.fit_info_
    parts = [
        f"{k}={info[k]}" for k in ("parameters", "steps", "images_per_s", "final_loss") if k in info
    ]
    typer.echo(f"wrote {out} in {seconds:.1f} s" + (f" ({', '.join(parts)})" if parts else ""))


def generate(
    checkpoint: Annotated[
        Path, typer.Argument(help="checkpoint folder written by 'synthbench train'")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="a .png file for a grid, or a folder for a cohort; an existing .png file or "
            "cohort folder is replaced, any other existing file or folder refused",
        ),
    ],
    prompt: Annotated[
        list[str] | None, typer.Option("--prompt", help="'Modality: findings' prompt (repeatable)")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="class name or 'modality:class' (repeatable)"),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n", min=1, help="images per prompt / label, or in all (balanced) without them"
        ),
    ] = None,
    like: Annotated[
        str | None,
        typer.Option("--like", help="a data spec or cohort folder whose conditions to copy"),
    ] = None,
    split: Annotated[str, typer.Option(help="which split of a --like data spec")] = "train",
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="images per chunk on disk")
    ] = 1024,
    per_row: Annotated[
        int, typer.Option("--per-row", min=1, max=32, help="images per grid row")
    ] = 8,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="change a sampling setting, e.g. guidance_scale=4 (repeatable)"),
    ] = None,
) -> None:
    """Sample images from a checkpoint: a PNG grid to look at, or a cohort folder (streamed to
    disk in chunks, so memory stays flat however many images are asked for).

    An interrupted run into a cohort folder leaves its finished chunks beside OUT; the same
    command again reuses them and samples only the rest. Chunks of any other request are removed.
    """
    from synthbench.cli.outputs import output_file, output_folder
    from synthbench.cohort import is_cohort_dir
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions

    if sum(x is not None and x != [] for x in (prompt, label, like)) > 1:
        raise SynthbenchError("give at most one of --prompt, --label and --like")
    if out.suffix.lower() == ".png":
        output_file(out)
    else:
        output_folder(out, replaces=is_cohort_dir, what="a cohort folder")
    gen = load_generator(checkpoint)
    gen.config = gen.config.with_sampling(settings or [])
    if like is not None:
        cohort = _like_cohort(like, split)
        if n is not None:
            cohort = cohort.subset(range(min(n, len(cohort))))
        conditions: Conditions | int = Conditions.like(cohort)
    elif prompt:
        conditions = Conditions.from_prompts([p for p in prompt for _ in range(n or 8)])
    elif label:
        mods, names = [], []
        for item in label:
            mod, _, name = item.rpartition(":")
            mods.append(mod or None)
            names.append(name)
        conditions = Conditions(
            modality=tuple(m for m in mods for _ in range(n or 8)),
            label=tuple(x for x in names for _ in range(n or 8)),
            text=("",) * (len(names) * (n or 8)),
        )
    else:
        conditions = n if n is not None else 64
    if out.suffix.lower() == ".png":
        total = conditions if isinstance(conditions, int) else len(conditions)
        if total > MAX_GRID_IMAGES:
            raise SynthbenchError(
                f"a grid holds at most {MAX_GRID_IMAGES} images, {total} asked; write a cohort folder instead"
            )
        cohort = gen.sample(conditions, seed=seed)
        if len(cohort) == 0:
            raise SynthbenchError(f"{gen.name} makes no images, so there is no grid to draw")
        _grid(cohort, out, prompt, per_row, f"{gen.name} {gen.config_hash} seed {seed}")
        typer.echo(f"wrote {out} ({len(cohort)} images)")
        return
    from synthbench.generators.streaming import sample_to_disk

    def report(done: int, total: int) -> None:
        typer.echo(f"  {done}/{total} images", err=True)

    def resume(reused: int, total: int) -> None:
        typer.echo(f"  resuming: {reused}/{total} images from an interrupted run", err=True)

    sample_to_disk(
        gen, conditions, out, seed=seed, chunk_size=chunk_size, on_chunk=report, on_resume=resume
    )
    typer.echo(f"wrote {out}")


def retune(
    checkpoint: Annotated[
        Path, typer.Argument(help="checkpoint folder written by 'synthbench train'")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="checkpoint folder to write; replaces an earlier checkpoint, refuses any other "
            "existing file or folder",
        ),
    ],
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="a sampling setting, e.g. guidance_scale=6 (repeatable)"),
    ] = None,
) -> None:
    """Write a copy of a trained checkpoint that samples with other settings by default.

    Only sampling settings (guidance_scale, sampling_steps, ...) can change: the weights are
    the trained ones, the copy has the config hash of its new settings, and its model card keeps
    the training record and says what changed and how.
    """
    from synthbench.cli.outputs import is_checkpoint, output_folder
    from synthbench.generators.base import load_generator
    from synthbench.generators.shipped import resolve_checkpoint

    output_folder(out, replaces=is_checkpoint, what="a checkpoint")
    source = resolve_checkpoint(checkpoint)
    gen = load_generator(source)
    allowed = ", ".join(gen.config.SAMPLING) or "none"
    if not settings:
        raise SynthbenchError(f"give at least one --set key=value ({gen.name}: {allowed})")
    if out.resolve() == source.resolve():
        raise SynthbenchError(f"--out {out}: write the retuned copy to another folder")
    before, old_hash = gen.config.to_dict(), gen.config_hash
    gen.config = gen.config.with_sampling(settings)
    changed = {k: (before[k], v) for k, v in gen.config.to_dict().items() if before[k] != v}
    gen.save(out)
    card = source / "README.md"
    lines = [
        card.read_text().rstrip() if card.is_file() else f"# {gen.name} checkpoint",
        "",
        "## Sampling settings changed",
        "",
        f"- command: `{command_line()}`",
        f"- from the checkpoint of config hash {old_hash} above (same weights); "
        f"config hash now {gen.config_hash}",
        *[f"- `{k}`: `{a}` -> `{b}`" for k, (a, b) in changed.items()],
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    typer.echo(f"wrote {out} (config {gen.config_hash}, was {old_hash})")


def command_line() -> str:
    """The command line that is running, as a user would type it."""
    return "synthbench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""


def _like_cohort(like: str, split: str):
    from synthbench.cohort import Cohort, is_cohort_dir

    if is_cohort_dir(like):
        return Cohort.load(like)
    if split not in ("train", "val", "test"):
        raise SynthbenchError(f"--split must be train, val or test, got {split!r}")
    from synthbench.data.source import load_data

    return load_data(like).splits()[split]


def _grid(cohort, out: Path, prompts: list[str] | None, per_row: int, title: str) -> None:
    from synthbench.viz import cohort_grid, image_grid

    if not prompts:
        cohort_grid(cohort, out, per_row=per_row, title=title)
        return
    rows = []
    for p in dict.fromkeys(prompts):
        idx = [i for i, t in enumerate(cohort.text) if t == p]
        native = cohort.native_images(idx)
        rows.append((p if len(p) <= 40 else p[:37] + "...", _stack(native)))
    image_grid(rows, out, title=title)


def _stack(images):
    import numpy as np

    channels = max(img.shape[0] for img in images)
    return np.stack([np.repeat(img, channels // img.shape[0], axis=0) for img in images])
