"""``synthbench feedback``: batches to rate, the rating page, ratings in and out (a typer
sub-app attached in ``synthbench.cli``). Heavy libraries load inside the commands.

    synthbench feedback sample CKPT --prompts "OCT: large drusen." -n 8 --out batch/
    synthbench feedback serve batch/ [--host 127.0.0.1] [--port 8000]
    synthbench feedback export batch/ [--format csv|jsonl] [--out FILE]
    synthbench feedback import batch/ ratings.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthbench.errors import SynthbenchError

app = typer.Typer(
    help="Rate generated images: batches, the rating page, ratings.", no_args_is_help=True
)


@app.command("sample")
def sample(
    checkpoint: Annotated[str, typer.Argument(help="checkpoint folder or shipped:<name>")],
    out: Annotated[Path, typer.Option("--out", help="batch folder to write")],
    prompts: Annotated[
        list[str] | None,
        typer.Option(
            "--prompts", help="'Modality: findings' prompt (repeatable); default: balanced classes"
        ),
    ] = None,
    n: Annotated[
        int, typer.Option("-n", min=1, help="images per prompt (or in all without prompts)")
    ] = 8,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
) -> None:
    """Sample a batch of images to rate (PNG files, prompts, provenance)."""
    from synthbench.cli.outputs import output_folder
    from synthbench.feedback.batch import BATCH_FILE, make_batch

    output_folder(out, replaces=lambda p: (p / BATCH_FILE).is_file(), what="a batch folder")
    batch = make_batch(checkpoint, out, prompts=prompts or [], n=n, seed=seed)
    typer.echo(f"wrote {out} ({len(batch.items)} images of {batch.generator} {batch.config_hash})")


@app.command("serve")
def serve(
    batch: Annotated[Path, typer.Argument(help="batch folder written by 'feedback sample'")],
    host: Annotated[
        str, typer.Option(help="address to bind (default: this machine only)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8000,
) -> None:
    """Start the rating page (prints its URL with a random access token)."""
    from synthbench.feedback.server import serve as run_server

    run_server(batch, host=host, port=port, echo=typer.echo)


@app.command("export")
def export(
    batch: Annotated[Path, typer.Argument(help="batch folder")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: print)")
    ] = None,
) -> None:
    """Write the batch's ratings (one per item and rater) as CSV or JSON lines."""
    from synthbench.feedback.batch import load_batch
    from synthbench.feedback.store import DB_FILE, RatingStore
    from synthbench.io import write_text_atomic

    items = load_batch(batch).item_ids()
    if not (batch / DB_FILE).is_file():
        raise SynthbenchError(f"{batch}: no ratings yet ({DB_FILE} is missing)")
    text = RatingStore(batch / DB_FILE, items=items).export(fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    from synthbench.cli.outputs import output_file

    write_text_atomic(output_file(out), text)
    typer.echo(f"wrote {out}")


@app.command("import")
def import_ratings(
    batch: Annotated[Path, typer.Argument(help="batch folder")],
    ratings: Annotated[Path, typer.Argument(help="a .csv or .jsonl file of ratings")],
) -> None:
    """Add ratings gathered elsewhere (checked whole first: a bad row adds nothing)."""
    from synthbench.feedback.batch import load_batch
    from synthbench.feedback.store import DB_FILE, RatingStore

    items = load_batch(batch).item_ids()
    n = RatingStore(batch / DB_FILE, items=items).import_file(ratings)
    typer.echo(f"added {n} ratings to {batch / DB_FILE}")


@app.command("simulate")
def simulate(
    batch: Annotated[Path, typer.Argument(help="batch folder of phantom images")],
    noise: Annotated[
        float, typer.Option(help="rater noise: sd of the scores before rounding")
    ] = 0.3,
    bias: Annotated[
        float, typer.Option(help="added to both scores (lenient > 0, strict < 0)")
    ] = 0.0,
    seed: Annotated[
        int, typer.Option(help="seed of the fresh simulation, the judges and the noise")
    ] = 0,
    name: Annotated[str, typer.Option(help="rater name recorded with the ratings")] = "simulated",
) -> None:
    """Rate a batch with the simulated rater (judges trained on a fresh phantom simulation)."""
    from synthbench.feedback.rater import RaterSettings
    from synthbench.feedback.rater import simulate as run_rater

    ratings = run_rater(batch, RaterSettings(noise=noise, bias=bias, seed=seed, name=name))
    top = sum(r.realism == 3 and r.fidelity == 3 for r in ratings)
    mean_r = sum(r.realism or 0 for r in ratings) / len(ratings)
    mean_f = sum(r.fidelity or 0 for r in ratings) / len(ratings)
    typer.echo(
        f"rated {len(ratings)} images as {name!r}: realism {mean_r:.2f}, fidelity {mean_f:.2f} "
        f"(mean of 1-3); top-rated (3 and 3): {top / len(ratings):.1%}"
    )


@app.command("reward")
def reward(
    batches: Annotated[list[Path], typer.Argument(help="rated batch folders")],
    out: Annotated[Path, typer.Option("--out", help="folder for the reward model")],
    epochs: Annotated[int, typer.Option(min=1, help="training epochs")] = 60,
    seed: Annotated[int, typer.Option(help="seed of the split and the training")] = 0,
) -> None:
    """Train a reward model (image + prompt -> expected rating) on the batches' ratings and
    report its agreement with the raters on held-out items."""
    from synthbench.cli.outputs import output_folder
    from synthbench.feedback.reward import RewardSettings, train_reward

    output_folder(out, replaces=lambda p: (p / "reward.json").is_file(), what="a reward model")
    model = train_reward(batches, RewardSettings(epochs=epochs, seed=seed))
    model.save(out)
    a = model.agreement
    typer.echo(
        f"held-out agreement ({a['n_held_out']:.0f} ratings): realism accuracy "
        f"{a['realism_accuracy']:.3f}, Spearman {a['realism_spearman']:.3f}; fidelity accuracy "
        f"{a['fidelity_accuracy']:.3f}, Spearman {a['fidelity_spearman']:.3f}"
    )
    typer.echo(f"wrote {out}")
