"""Model cards: the ``README.md`` written beside a checkpoint, saying how it was made.

The card names the exact command, the config hash and every setting, the data spec, the training
time and loss, the precision training ran at, the synthbench version and source revision that
trained it, the machine, and the sha256 of its weights; a fine-tuned checkpoint's card keeps the
card of the one it started from, so the whole training stays on record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from synthbench.generators.base import (
    CARD_FILE,
    package_version,
    read_checkpoint_info,
    source_revision,
    weights_digest,
)
from synthbench.machine import host_description, torch_version

if TYPE_CHECKING:
    from synthbench.generators.base import Generator


def write_model_card(
    out: Path, gen: Generator, data: str, profile: str, seed: int, seconds: float, command: str
) -> None:
    """Write the checkpoint's model card (``README.md``) beside the checkpoint ``gen`` has just
    saved to ``out``: the command, config, data, timing, and what its metadata records."""
    info = gen.fit_info_
    lines = [
        f"# {gen.name} checkpoint",
        "",
        f"- command: `{command}`",
        f"- generator: {gen.name}, config hash {gen.config_hash}, profile {profile}, seed {seed}",
        f"- data spec: `{data}` (train split, {info.get('n_train', '?')} images)",
        f"- training time: {_training_time(info, seconds)}; steps {info.get('steps', '-')}; "
        f"final loss {info.get('final_loss', '-')}; images/s {info.get('images_per_s', '-')}",
        *provenance_lines(out, "trained"),
        f"- torch {torch_version()}, on {host_description()}",
        f"- parameters: {info.get('parameters', '-')}",
        f"- conditioning: {gen.capabilities.conditioning}",
        *_init_line(info),
        "",
        "Settings:",
        "",
        *[f"- `{k}` = `{v}`" for k, v in gen.config.to_dict().items()],
        "",
        *_base_card(info),
    ]
    (out / CARD_FILE).write_text("\n".join(lines))


def provenance_lines(out: Path, verb: str) -> list[str]:
    """The card's lines on what made the checkpoint in ``out``, read from its metadata."""
    meta = read_checkpoint_info(out)
    lines = [
        f"- {verb} with synthbench {meta.synthbench_version}, source revision "
        f"{meta.source_revision}; training precision {meta.training_precision or '-'}"
    ]
    if meta.weights_sha256:
        lines.append(
            f"- weights sha256 {weights_digest(meta.weights_sha256)} (over the "
            f"{len(meta.weights_sha256)} files listed in synthbench_generator.json, each checked "
            "on loading)"
        )
    return lines


def _init_line(info: dict) -> list[str]:
    """The card's line on the checkpoint a fine-tuned model started from (none otherwise)."""
    base = info.get("init_from")
    if not base:
        return []
    return [
        f"- fine-tuned from `{base['path']}` (config hash {base['config_hash']}, "
        f"{base['steps']} steps on `{base['data']}`); the training time and steps above are "
        "the fine-tuning's"
    ]


def _base_card(info: dict) -> list[str]:
    """A fine-tuned model's card keeps the model card of the checkpoint it started from (its
    headings one level down), so the whole training stays on record if that folder goes."""
    base = info.get("init_from")
    card = Path(base["path"]) / "README.md" if base else None
    if card is None or not card.is_file():
        return []
    text = card.read_text().rstrip("\n").splitlines()
    return [
        "## The checkpoint it was fine-tuned from",
        "",
        "Its model card at the time:",
        "",
        *[f"#{line}" if line.startswith("#") else line for line in text],
        "",
    ]


def _training_time(info: dict, seconds: float) -> str:
    """The training time for the card: the fit's own record (all resumed runs together) where
    it has one, else the command's wall time."""
    total = info.get("train_seconds")
    text = f"{total if total is not None else seconds:.1f} s"
    if info.get("untimed_steps"):
        text += (
            f" (plus the first {info['untimed_steps']} steps, from a run that did not time them)"
        )
    elif 0 < info.get("resumed_from", 0) < info.get("steps", 0):
        # (a run that resumed at the end trained nothing: the time is all the earlier runs')
        text += f" (in runs resumed at step {info['resumed_from']})"
    return text


def write_improve_card(
    out: Path,
    gen: Generator,
    parent: str,
    ratings: list[Path],
    agreement: dict[str, float],
    command: str,
) -> None:
    """The model card of a refined checkpoint: its parent, the ratings it learned from and how
    well its reward model agrees with the raters on held-out items."""
    lines = [
        f"# {gen.name} checkpoint (a refinement round)",
        "",
        f"- command: `{command}`",
        f"- parent checkpoint: `{parent}`",
        f"- ratings: {', '.join(f'`{r}`' for r in ratings)}",
        f"- method: {gen.fit_info_.get('method', gen.name)}; config hash {gen.config_hash}",
        "- reward model, held-out agreement with the raters: "
        + ", ".join(f"{k} {v:.3f}" for k, v in agreement.items()),
        f"- made with synthbench {package_version()}, source revision {source_revision()}, "
        f"torch {torch_version()}, on {host_description()}",
        *provenance_lines(out, "its parts trained")[1:],
        "",
    ]
    parent_card = Path(gen.fit_info_.get("base", {}).get("path", "")) / "README.md"
    if parent_card.is_file():
        lines += ["## The parent's model card", ""]
        lines += [f"#{x}" if x.startswith("#") else x for x in parent_card.read_text().splitlines()]
    (out / "README.md").write_text("\n".join(lines) + "\n")
