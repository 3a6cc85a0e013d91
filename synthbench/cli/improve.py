"""``synthbench improve``: refine a checkpoint from ratings (attached to the app in
``synthbench.cli``). Heavy libraries load inside the command.

    synthbench improve CKPT --ratings batch/ --method raft --out ckpt-round1/
    synthbench improve CKPT --rounds 3 --rater simulated --data SPEC --method dpo --out rounds/
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.feedback.refine import RefineSettings
    from synthbench.feedback.rounds import RoundSettings


def improve(
    checkpoint: Annotated[str, typer.Argument(help="checkpoint folder or shipped:<name>")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="checkpoint folder to write (with --rounds: a folder of round folders)"
        ),
    ],
    ratings: Annotated[
        list[Path] | None,
        typer.Option("--ratings", help="rated batch folder (repeatable); one round from them"),
    ] = None,
    method: Annotated[str, typer.Option(help="best-of-n, raft or dpo")] = "best-of-n",
    rounds: Annotated[
        int | None,
        typer.Option(help="run this many rounds unattended (sample, rate, refine); needs --rater"),
    ] = None,
    rater: Annotated[
        str | None, typer.Option(help="who rates in --rounds: simulated (phantom data only)")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="--rounds: the real data (spec) its prompts and metrics come from"),
    ] = None,
    modalities: Annotated[
        str | None, typer.Option(help="--rounds: keep only these modalities of --data (a,b)")
    ] = None,
    n_prompts: Annotated[int, typer.Option(help="--rounds: prompts per round's batch")] = 150,
    per_prompt: Annotated[int, typer.Option(help="--rounds: images per prompt")] = 2,
    eval_prompts: Annotated[
        int,
        typer.Option(
            help="--rounds: score every round on a held-out batch of this many test-split "
            "reports, the same in every round (0: score the batch the round learns from)"
        ),
    ] = 0,
    n_candidates: Annotated[
        int, typer.Option("--n-candidates", help="best-of-n and raft: candidates per image")
    ] = 4,
    steps: Annotated[int, typer.Option(help="raft and dpo: fine-tuning steps per round")] = 200,
    lr: Annotated[
        float | None, typer.Option(help="raft and dpo: learning rate (default per method)")
    ] = None,
    beta: Annotated[float, typer.Option(help="dpo: strength of the preference loss")] = 2500.0,
    epochs: Annotated[int, typer.Option(help="reward model training epochs")] = 60,
    reward_pretrain: Annotated[
        int,
        typer.Option(
            help="best-of-n and raft: epochs the reward model first learns the classes of the "
            "base's own labelled training images (0: from the ratings only)"
        ),
    ] = 0,
    pick_quantile: Annotated[
        float,
        typer.Option(
            help="best-of-n: keep the first candidate whose predicted realism and fidelity both "
            "reach this quantile of the candidates' (else the best capped sum) instead of the "
            "reward model's best (0: the best)"
        ),
    ] = 0.0,
    extractor_data: Annotated[
        str | None,
        typer.Option(
            help="--rounds: train the scoring features and the adherence classifier on this "
            "data spec (a fresh simulation: images neither the base nor the reward model saw) "
            "instead of --data's training split"
        ),
    ] = None,
    rater_n_real: Annotated[
        int,
        typer.Option(help="--rounds: real patients per modality the simulated rater learns from"),
    ] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the refinement (and of the rounds)")] = 0,
    sampling: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="a sampling setting of the base, e.g. guidance_scale=3, used by every model "
            "the refinement samples from (repeatable)",
        ),
    ] = None,
) -> None:
    """Refine a checkpoint from the ratings of batches sampled from it: one round from
    --ratings, or --rounds N with the simulated rater."""
    from synthbench.feedback.rater import RaterSettings
    from synthbench.feedback.refine import RefineSettings, check_method
    from synthbench.feedback.rounds import RoundSettings

    check_method(method)
    if reward_pretrain and method == "dpo":
        raise SynthbenchError(
            "--reward-pretrain shapes a reward model; dpo learns from the rating pairs and uses none"
        )
    if pick_quantile and method != "best-of-n":
        raise SynthbenchError(f"--pick-quantile is how best-of-n picks; {method} picks nothing")
    settings = RefineSettings(
        n_candidates=n_candidates,
        steps=steps,
        lr=lr,
        beta=beta,
        reward_epochs=epochs,
        reward_pretrain=reward_pretrain,
        pick_quantile=pick_quantile,
        sampling=tuple(sampling or ()),
        seed=seed,
    )
    if rounds is None:
        if not ratings:
            raise SynthbenchError(
                "give --ratings BATCH (one round) or --rounds N --rater simulated"
            )
        for given, flag in ((eval_prompts, "--eval-prompts"), (extractor_data, "--extractor-data")):
            if given:
                raise SynthbenchError(
                    f"{flag} scores rounds: it needs --rounds N --rater simulated"
                )
        _one_round(checkpoint, ratings, method, out, settings)
        return
    if ratings:
        raise SynthbenchError("--ratings and --rounds exclude each other: --rounds rates its own")
    if rater != "simulated":
        raise SynthbenchError(
            f"--rounds needs --rater simulated (the only unattended rater), got {rater!r}"
        )
    if data is None:
        raise SynthbenchError("--rounds needs --data SPEC: the real data of prompts and metrics")
    round_settings = RoundSettings(
        n_prompts=n_prompts,
        per_prompt=per_prompt,
        eval_prompts=eval_prompts,
        extractor_data=extractor_data,
        rater=RaterSettings(n_real=rater_n_real, seed=seed),
        refine=settings,
        seed=seed,
    )
    _rounds(checkpoint, method, rounds, data, modalities, out, round_settings)


def _one_round(
    checkpoint: str, ratings: list[Path], method: str, out: Path, settings: RefineSettings
) -> None:
    import tempfile

    from synthbench.cli.generators import command_line
    from synthbench.cli.outputs import is_checkpoint, output_folder
    from synthbench.feedback.refine import refine
    from synthbench.generators.model_card import write_improve_card
    from synthbench.generators.shipped import resolve_checkpoint

    output_folder(out, replaces=is_checkpoint, what="a checkpoint")
    base = resolve_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        gen, reward = refine(method, base, base, ratings, Path(tmp), settings)
        gen.save(out)
    agreement = reward.agreement if reward is not None else {}
    write_improve_card(out, gen, checkpoint, ratings, agreement, command_line())
    if agreement:
        typer.echo(
            f"reward model held-out agreement: realism Spearman {agreement['realism_spearman']:.3f}, "
            f"fidelity Spearman {agreement['fidelity_spearman']:.3f} "
            f"({agreement['n_held_out']:.0f} ratings)"
        )
    typer.echo(f"wrote {out} ({method} of {checkpoint})")


def _rounds(
    checkpoint: str,
    method: str,
    rounds: int,
    data: str,
    modalities: str | None,
    out: Path,
    settings: RoundSettings,
) -> None:
    from synthbench.cli.outputs import output_folder
    from synthbench.feedback.rounds import run_rounds
    from synthbench.io import write_text_atomic
    from synthbench.leaderboard import render
    from synthbench.results import write_rows
    from synthbench.runner.plan import load_payload_data

    # written into, round by round: a rerun resumes; another existing folder is refused
    output_folder(out, replaces=lambda p: (p / "round-0").is_dir(), what="a folder of rounds")
    mods = [m.strip() for m in modalities.split(",")] if modalities else None
    real = load_payload_data({"spec": data, "modalities": mods})
    rows = run_rounds(checkpoint, method, rounds, real, out, settings, log=typer.echo)

    write_rows(out / "rows.jsonl", rows)
    write_text_atomic(out / "rounds.md", render(rows, "md"))
    write_text_atomic(out / "report.html", render(rows, "html"))
    typer.echo(f"wrote {out}/rows.jsonl, rounds.md and report.html ({rounds} rounds of {method})")
