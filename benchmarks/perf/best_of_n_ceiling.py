"""How far can best-of-n go? Its ceiling on one base: candidates picked by the simulated rater itself.

    python benchmarks/perf/best_of_n_ceiling.py shipped:minim-oct-brain_mri \
        --data 'phantom:oct,brain_mri?n=2000&size=32' --modality oct --out out/ceiling/oct

best-of-n never changes its base: a round keeps, for each image, the candidate its reward model
scores highest. However well the reward model learns, it cannot pick better than the rater's own
scores would, so this script takes the reward model out and picks with those:

1. the base (with any ``--set`` sampling setting, such as ``guidance_scale=3``) samples
   ``--candidates`` images for each of a round's images (``--prompts`` held-out
   reports x ``--per-prompt``, the prompts round 1 of ``synthbench improve --rounds`` would use);
2. the simulated rater's expected scores (before noise and rounding; its realism critics trained on
   the whole pool) are computed for every candidate;
3. each rule picks one candidate per image: ``base`` (the first: what the base gives alone),
   ``rater-best`` (the highest realism + fidelity) and ``rater-capped`` (the same with each score
   capped at 2.7, past which the rating is 3 anyway; the first of equals, so the pick does not
   chase the judge's most confident images), for the first k candidates, each k of ``--k``;
4. each pick is rated afresh by the simulated rater (new critics, noise, rounding, as in a round)
   and scored with the round's metrics (FD against the test split, prompt adherence by the data
   set's own classifier, memorisation).

It prints one table (changes against ``base``) and writes it (``ceiling.md``), with the picks' rows and a
``manifest.json`` (what was run, on what machine, at what precision, how long), under ``--out``.
The candidates and their scores are kept in ``pool/`` of ``--work`` (default: ``--out``), beside
the picks' batches and the features; a rerun with the same draw settings re-picks from them, one
with other settings into the same folder is refused.

    python benchmarks/perf/best_of_n_ceiling.py --summary results/best-of-n-ceiling

prints one line per run folder under it (the base's figures and the picks' changes), and one
per learned reward model's pick of the runs made with ``--reward``: the tables docs/feedback.md
shows.
A rule that cannot raise the top-rated share and prompt adherence by 10 points without FD worsening
marks what no reward model can do for best-of-n on that base.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

CAP = 2.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("--data")
    parser.add_argument("--modality")
    parser.add_argument("--summary", type=Path, help="summarise the runs under this folder")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument(
        "--k", default="", help="candidate counts to pick among (a,b; default: all)"
    )
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--per-prompt", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a sampling setting of the base (guidance_scale=3); repeatable",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--reward",
        action="store_true",
        help="also pick with the reward model round 1 learns from the base batch's ratings",
    )
    parser.add_argument(
        "--fidelity-weights",
        default="",
        help="with --reward, also pick by realism + W x fidelity of the reward model for these "
        "W (a,b): how far weighing prompt fidelity trades the top-rated share for adherence",
    )
    parser.add_argument(
        "--reward-pretrain",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="with --reward, also pick with a reward model that first learns the classes of the "
        "base's own labelled training images for EPOCHS epochs (refinement's reward_pretrain)",
    )
    parser.add_argument(
        "--extractor-data",
        help="score every pick in features, and with an adherence classifier, trained on this "
        "data spec (a fresh simulation) instead of --data's training split",
    )
    parser.add_argument("--out", type=Path, help="the table, rows and manifest")
    parser.add_argument(
        "--work", type=Path, help="the candidates, picks and features (default: --out)"
    )
    args = parser.parse_args()
    if args.summary is not None:
        print(summary(args.summary))
        return
    if not (args.checkpoint and args.data and args.modality and args.out):
        parser.error("give CHECKPOINT, --data, --modality and --out (or --summary FOLDER)")
    if args.reward_pretrain and not (args.reward and args.extractor_data):
        parser.error(
            "--reward-pretrain adds a reward model's picks: it needs --reward, and "
            "--extractor-data for a judge that did not learn from the same images"
        )
    started = time.perf_counter()
    work = args.work or args.out
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.cohort import Cohort
    from synthbench.feedback.batch import write_batch
    from synthbench.feedback.rater import RaterSettings, expected_scores, simulate
    from synthbench.feedback.reward import RewardSettings, train_reward
    from synthbench.feedback.rounds import RoundSettings, round_prompts, round_rows
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.shipped import resolve_checkpoint
    from synthbench.results import write_rows
    from synthbench.runner.plan import load_payload_data

    ks = [int(k) for k in args.k.split(",")] if args.k else [args.candidates]
    if not all(1 <= k <= args.candidates for k in ks):
        parser.error(f"--k values must lie in 1..{args.candidates}, got {args.k}")
    real = load_payload_data({"spec": args.data, "modalities": [args.modality]})
    rater = RaterSettings(seed=args.seed)
    settings = RoundSettings(
        n_prompts=args.prompts,
        per_prompt=args.per_prompt,
        extractor_data=args.extractor_data,
        rater=rater,
        seed=args.seed,
    )
    prompts = round_prompts(real, args.prompts, args.seed, 1)
    conditions = Conditions.from_prompts([p for p in prompts for _ in range(args.per_prompt)])
    n, k_all = len(conditions), args.candidates

    pool_dir = work / "pool"
    # what the pool was drawn with: a rerun into the same --out reuses it only for these
    drawn = {
        "checkpoint": args.checkpoint,
        "data": args.data,
        "modality": args.modality,
        "candidates": k_all,
        "prompts": args.prompts,
        "per_prompt": args.per_prompt,
        "seed": args.seed,
        **({"sampling": sorted(args.set)} if args.set else {}),
    }
    if (pool_dir / "drawn.json").is_file():
        before = json.loads((pool_dir / "drawn.json").read_text())
        if before != drawn:
            changed = sorted(k for k in {**before, **drawn} if before.get(k) != drawn.get(k))
            parser.error(
                f"{pool_dir} holds candidates drawn with other {', '.join(changed)}; "
                "give another --work (or --out) or delete it"
            )
    gen = load_generator(resolve_checkpoint(args.checkpoint))
    gen.config = gen.config.with_sampling(args.set)
    if not (pool_dir / "cohort").is_dir():  # the slow part: kept, so a rerun only re-picks
        parts = [gen.sample(conditions, seed=args.seed * 1000 + 100 + k) for k in range(k_all)]
        pool = Cohort.concat(parts)
        realism, fidelity = expected_scores(pool, rater)
        tmp = work / "pool.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        pool.save(tmp / "cohort")
        np.savez(tmp / "scores.npz", realism=realism, fidelity=fidelity)
        (tmp / "drawn.json").write_text(json.dumps(drawn, indent=1))
        tmp.rename(pool_dir)
    pool = Cohort.load(pool_dir / "cohort")
    scores = np.load(pool_dir / "scores.npz")
    realism = scores["realism"].reshape(k_all, n)
    fidelity = scores["fidelity"].reshape(k_all, n)

    order = 1e-6 * np.arange(k_all)[::-1, None]  # among equals, the earlier candidate
    rules = {
        "rater-best": realism + fidelity,
        "rater-capped": np.minimum(realism, CAP) + np.minimum(fidelity, CAP) + order,
    }
    picks = {"base": np.zeros(n, np.int64)}
    for k in ks:
        for name, score in rules.items():
            picks[f"{name} of {k}"] = np.argmax(score[:k], axis=0)

    all_rows = []
    names = list(picks)
    for name in names:  # grows by the reward model's picks once the base is rated
        folder = work / name.replace(" ", "-") / "batch"
        shutil.rmtree(folder.parent, ignore_errors=True)
        cohort = pool.subset(picks[name] * n + np.arange(n))
        write_batch(
            cohort,
            folder,
            checkpoint=args.checkpoint,
            generator=name,
            config_hash="-",
            seed=args.seed,
        )
        simulate(folder, rater)
        rows = round_rows(cohort, folder, None, real, 1, name, settings, work / "features")
        for row in rows:
            row.suite = "best-of-n-ceiling"
            row.modality = args.modality
            row.checkpoint = args.checkpoint
            row.generator = gen.name
            row.generator_config_hash = gen.config_hash
            row.precision = gen.sampling_precision()  # the arithmetic that made the candidates
        all_rows += rows
        if name == "base" and args.reward:
            # round 1 of best-of-n: a reward model learned from the base batch's ratings
            reward = train_reward([folder], RewardSettings(seed=args.seed))
            expected = reward.predict(pool.images, list(pool.text))
            learned = expected.mean(axis=1).reshape(k_all, n)  # what best-of-n picks by
            weights = [float(w) for w in args.fidelity_weights.split(",") if w]
            learned_names = []
            for k in ks:
                picks[f"reward of {k}"] = np.argmax(learned[:k], axis=0)
                learned_names.append(f"reward of {k}")
                for w in weights:
                    weighed = (expected[:, 0] + w * expected[:, 1]).reshape(k_all, n)
                    picks[f"reward w{w:g} of {k}"] = np.argmax(weighed[:k], axis=0)
                    learned_names.append(f"reward w{w:g} of {k}")
            if args.reward_pretrain:
                from synthbench.feedback.refine import base_training_images

                pretrained = train_reward(
                    [folder],
                    RewardSettings(seed=args.seed, pretrain_epochs=args.reward_pretrain),
                    labelled=base_training_images(resolve_checkpoint(args.checkpoint)),
                )
                score = pretrained.reward(pool.images, list(pool.text)).reshape(k_all, n)
                for k in ks:
                    picks[f"reward pretrained of {k}"] = np.argmax(score[:k], axis=0)
                    learned_names.append(f"reward pretrained of {k}")
            names[1:1] = learned_names  # picked and scored next
    write_rows(args.out / "rows.jsonl", all_rows)
    table = pick_figures([json.loads(r.model_dump_json()) for r in all_rows])
    lines = [
        f"{args.checkpoint} on {args.modality} ({n} images, {k_all} candidates each, seed {args.seed})",
        "",
        "| pick | top-rated | fidelity 3 | realism 3 | adherence | FD | near copies | Δ top-rated | Δ adherence | Δ FD |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = table["base"]
    for name, t in table.items():
        delta = (
            f"{100 * (t['top_rated'] - base['top_rated']):+.1f} pts | "
            f"{100 * (t['prompt_adherence'] - base['prompt_adherence']):+.1f} pts | "
            f"{100 * (t['fd'] / base['fd'] - 1):+.1f}%"
            if name != "base"
            else " | | "
        )
        lines.append(
            f"| {name} | {t['top_rated']:.1%} | {t['top_fidelity']:.1%} | {t['top_realism']:.1%} | "
            f"{t['prompt_adherence']:.1%} | {t['fd']:.3f} | {t['near_copy_share']:.1%} | {delta} |"
        )
    text = "\n".join(lines)
    (args.out / "ceiling.md").write_text(text + "\n")
    from synthbench.machine import write_script_manifest

    write_script_manifest(
        args.out,
        "benchmarks/perf/best_of_n_ceiling.py",
        started,
        threads=args.threads,
        precision={"sampling": gen.sampling_precision(), "rating and scoring": "fp32"},
        drawn=drawn,
        k=args.k or str(args.candidates),
        **({"reward_model": reward_form()} if args.reward else {}),
        **({"reward_pretrain": args.reward_pretrain} if args.reward_pretrain else {}),
        **({"extractor_data": args.extractor_data} if args.extractor_data else {}),
    )
    print(text)


def reward_form() -> dict:
    """The form of the reward model ``--reward`` learns (reward.json's ``format``)."""
    from synthbench.feedback.reward import FORMAT, RewardSettings

    return {"format": FORMAT, "members": RewardSettings().members}


#: how the summary names each saved form of the reward model (a run without the record: form 1)
REWARD_FORMS = {
    1: "one network, fidelity from the words' hashes",
    2: "fidelity from a class head, ensemble of {members}",
}


def summary(root: Path) -> str:
    """One line per run folder under ``root``: the base, then the capped and best picks of the
    largest k (changes against the base), from the runs' rows."""
    lines = [
        "| base, modality, seed | candidates | base: top-rated / adherence / FD / near copies "
        "| real test images' adherence "
        "| capped pick: Δ top-rated / Δ adherence / Δ FD / near copies "
        "| best pick: Δ top-rated / Δ adherence / Δ FD / near copies |",
        "|---|---|---|---|---|---|",
    ]
    learned = [
        "| base, modality, seed | reward model | candidates | the learned reward model's pick: "
        "Δ top-rated / Δ adherence / Δ FD / near copies |",
        "|---|---|---|---|",
    ]
    #: (base and judge without the seed, pick) -> seed -> (Δ top-rated, Δ adherence, Δ FD)
    by_seed: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = {}
    for folder in sorted(p.parent for p in root.glob("*/manifest.json")):
        info = json.loads((folder / "manifest.json").read_text())
        rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines()]
        figures = pick_figures(rows)
        real = next(
            r["value"]
            for r in rows
            if r["metric"] == "prompt_adherence"
            and set(r["qualifiers"]) == {"set", "method", "round"}
            and r["qualifiers"]["set"] == "real-test"
        )
        k = max(int(x) for x in str(info["k"]).split(","))
        base = figures["base"]
        drawn = info["drawn"]
        run = (
            f"{drawn['checkpoint'].removeprefix('shipped:')}"
            f"{''.join(f' ({s})' for s in drawn.get('sampling', []))}, {drawn['modality']}, {drawn['seed']}"
        )
        if info.get("extractor_data"):  # scored by a judge trained on a fresh simulation
            run += f", judged in {info['extractor_data']}"
        form = info.get("reward_model", {"format": 1})
        # one pool size per group: a 16-candidate pool's picks of 8 are not an 8-candidate one's
        group = run.replace(f", {drawn['seed']}", ", seeds", 1) + f", {drawn['candidates']} drawn"
        for pick in (p for p in figures if p.startswith("reward ") or p.startswith("rater-capped")):
            by_seed.setdefault((group, pick), {})[drawn["seed"]] = _deltas(base, figures[pick])
        for pick in (p for p in figures if p.startswith("reward ")):
            # "reward of 8" (the mean of its two scores), "reward w2 of 8" (--fidelity-weights)
            # or "reward pretrained of 8" (--reward-pretrain)
            weight = pick.split()[1]
            how = {
                "of": "",
                "pretrained": f", first taught the base's training images' classes "
                f"({info.get('reward_pretrain')} epochs)",
            }.get(weight, f", picked by realism + {weight[1:]} x fidelity")
            entry = (
                f"| {run} | {REWARD_FORMS[form['format']].format(**form)}{how} | {pick.split()[-1]} "
                f"| {_change(base, figures[pick])} |"
            )
            if entry not in learned:  # a rerun that adds weighted picks repeats the plain ones
                learned.append(entry)
        line = (
            f"| {run} "
            f"| {k} | {base['top_rated']:.1%} / {base['prompt_adherence']:.1%} / {base['fd']:.3g} "
            f"/ {base['near_copy_share']:.1%} | {real:.1%} "
            f"| {_change(base, figures[f'rater-capped of {k}'])} "
            f"| {_change(base, figures[f'rater-best of {k}'])} |"
        )
        if line not in lines:  # a rerun of a pool (to try another reward model) picks alike
            lines.append(line)
    if len(learned) > 2:  # runs with --reward: its picks, as round 1 of best-of-n makes them
        lines += ["", *learned]
    means = seed_means(by_seed)
    if means:
        lines += ["", *means]
    return "\n".join(lines)


def _deltas(base: dict, pick: dict) -> tuple[float, float, float]:
    """A pick's change from the base: top-rated and adherence in points, FD in percent."""
    return (
        100 * (pick["top_rated"] - base["top_rated"]),
        100 * (pick["prompt_adherence"] - base["prompt_adherence"]),
        100 * (pick["fd"] / base["fd"] - 1),
    )


def seed_means(by_seed: dict[tuple[str, str], dict[int, tuple[float, float, float]]]) -> list[str]:
    """The mean and 95% t interval over seeds of each pick's changes, for every base, judge
    and pick run with more than one seed."""
    from synthbench.leaderboard.stats import mean_ci

    out = [
        "| base, modality, judge, candidates drawn | pick | seeds | Δ top-rated | Δ adherence "
        "| Δ FD |",
        "|---|---|---|---|---|---|",
    ]
    for (group, pick), seeds in by_seed.items():
        if len(seeds) < 2:
            continue
        cells = []
        for j, unit in enumerate((" pts", " pts", "%")):
            st = mean_ci([seeds[s][j] for s in sorted(seeds)])
            cells.append(f"{st.mean:+.1f}{unit} [{st.low:+.1f}, {st.high:+.1f}]")
        out.append(f"| {group} | {pick} | {len(seeds)} | {' | '.join(cells)} |")
    return out if len(out) > 2 else []


def pick_figures(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Each pick's own figures by metric, from its rows (as JSON): the rows qualified by pick
    and round only, not by class, real-test set, pixel space or CAS variant."""
    figures: dict[str, dict[str, float]] = {}
    for r in rows:
        if set(r["qualifiers"]) == {"method", "round"}:
            figures.setdefault(r["qualifiers"]["method"], {})[r["metric"]] = r["value"]
    return figures


def _change(base: dict, pick: dict) -> str:
    return (
        f"{100 * (pick['top_rated'] - base['top_rated']):+.1f} / "
        f"{100 * (pick['prompt_adherence'] - base['prompt_adherence']):+.1f} pts / "
        f"{100 * (pick['fd'] / base['fd'] - 1):+.1f}% / {pick['near_copy_share']:.1%}"
    )


if __name__ == "__main__":
    main()
