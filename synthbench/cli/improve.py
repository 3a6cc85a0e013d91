"""``synthbench improve``: one refinement round of a checkpoint from ratings (attached to the app
in ``synthbench.cli``). Heavy libraries load inside the command.

    synthbench improve CKPT --ratings batch/ --method best-of-n --out ckpt-round1/
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthbench.errors import SynthbenchError

METHODS = ("best-of-n",)


def improve(
    checkpoint: Annotated[str, typer.Argument(help="checkpoint folder or shipped:<name>")],
    ratings: Annotated[
        list[Path], typer.Option("--ratings", help="rated batch folder (repeatable)")
    ],
    out: Annotated[Path, typer.Option("--out", help="checkpoint folder to write")],
    method: Annotated[str, typer.Option(help="refinement method: best-of-n")] = "best-of-n",
    n_candidates: Annotated[
        int, typer.Option("--n-candidates", min=1, help="best-of-n: candidates per image")
    ] = 4,
    epochs: Annotated[int, typer.Option(min=1, help="reward model training epochs")] = 60,
    seed: Annotated[int, typer.Option(help="seed of the reward model")] = 0,
) -> None:
    """Refine a checkpoint from the ratings of batches sampled from it (one round)."""
    import tempfile

    from synthbench.cli.generators import command_line
    from synthbench.cohort import Cohort
    from synthbench.feedback.reward import RewardSettings, train_reward
    from synthbench.generators.best_of_n import BestOfN, BestOfNConfig
    from synthbench.generators.model_card import write_improve_card

    if method not in METHODS:
        raise SynthbenchError(
            f"unknown method {method!r}; built so far: {', '.join(METHODS)} (raft and dpo are planned)"
        )
    if out.exists() and not out.is_dir():
        raise SynthbenchError(f"--out {out}: an existing file; give a folder")
    model = train_reward(ratings, RewardSettings(epochs=epochs, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "reward")
        gen = BestOfN(
            BestOfNConfig(
                base=checkpoint, reward=str(Path(tmp) / "reward"), n_candidates=n_candidates
            )
        )
        gen.fit(Cohort.load(ratings[0] / "cohort"), seed=seed)
        gen.fit_info_.update({"method": method, "ratings": [str(r) for r in ratings]})
        gen.save(out)
    write_improve_card(out, gen, checkpoint, ratings, model.agreement, command_line())
    a = model.agreement
    typer.echo(
        f"reward model held-out agreement: realism Spearman {a['realism_spearman']:.3f}, "
        f"fidelity Spearman {a['fidelity_spearman']:.3f} ({a['n_held_out']:.0f} ratings)"
    )
    typer.echo(f"wrote {out} ({gen.name} over {checkpoint}, {n_candidates} candidates per image)")
