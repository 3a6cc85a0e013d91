"""A refinement suite's rounds judged again, by judges no setting of the suite was chosen on.

    python benchmarks/perf/rejudge_rounds.py benchmarks/feedback_heldout.toml --cache CACHE \
        --judge-data 'phantom:oct,fundus,cxr,chest_ct?n=2000&size=32&seed=15485863' \
        --rater-seed 1000 --out results/feedback-heldout-rejudged

A suite's settings (a guidance scale, the reward model's pretraining) are chosen on what its
judges said in earlier runs: the simulated rater's judge and critics, and the classifier and
features that score prompt adherence, FD and near copies. A figure quoted from such a suite is
measured again here on judges of their own. This script takes every finished round of the suite
from its cell cache (run the suite first; the cache is only read) and scores the batch each round
was scored on (the held-out evaluation batch where the suite has one) again:

- rated by a simulated rater whose judge and realism critics train on another fresh simulation
  (the rater's seed plus ``--rater-seed``) and whose noise is drawn afresh, rating a copy of the
  batch;
- FD, near copies, CAS and prompt adherence in the features and by the classifier of the
  ``domain`` extractor trained on ``--judge-data``'s training split (patients of another fresh
  simulation).

It writes the rows (the rounds' own metrics, with the suite's labels), the rounds table they
give and a ``manifest.json`` under ``--out``, and prints the table. Each round's rejudged rows
are kept in ``--work`` as they are made, so an interrupted run, or one started before the suite
has finished, goes on where it stopped.

Cells are found by the keys the suite plans, which include a digest of the rounds' code: after
a commit that changes that code, ``--code`` with the digest the rounds ran under (each cell's
``cell.json`` records it) finds them again; the rating and scoring are then the current code's.
Where the suite's cells are planned otherwise since (another key for round 0, or cells run
before rounds were keyed by their metrics' and scoring extractor's code as well), ``--like
FOLDER`` rejudges the very cells an earlier run of this script wrote to FOLDER, labelled as its
rows are, with the judges given now.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--cache", type=Path, required=True, help="the run's cell cache")
    parser.add_argument(
        "--judge-data",
        required=True,
        help="data spec of a fresh simulation the scoring features and classifier learn from",
    )
    parser.add_argument(
        "--rater-seed",
        type=int,
        default=1000,
        help="added to each round's rater seed: another fresh simulation for its judge and critics",
    )
    parser.add_argument(
        "--code",
        help="the code digest the rounds were run under (their cell.json's payload 'code'; "
        "default: the current code's): rejudges rounds a later commit no longer reuses",
    )
    parser.add_argument(
        "--like",
        type=Path,
        help="a folder an earlier run of this script wrote: rejudge the very round cells it "
        "scored, labelled as its rows are (for rounds the current code plans under other keys)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path.home() / ".cache" / "synthbench" / "rejudge",
        help="kept between runs: each round's rejudged rows, the judge's extractor and features",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from synthbench.io import atomic_dir
    from synthbench.machine import script_output

    script_output(args.out, "benchmarks/perf/rejudge_rounds.py")
    started = time.perf_counter()

    import torch

    torch.set_num_threads(args.threads)
    from synthbench.cohort import Cohort
    from synthbench.data.source import check_spec
    from synthbench.errors import SynthbenchError
    from synthbench.feedback.rater import simulate
    from synthbench.feedback.rounds import RoundSettings, round_rows
    from synthbench.feedback.store import DB_FILE
    from synthbench.leaderboard import render
    from synthbench.machine import write_script_manifest
    from synthbench.results import read_rows, write_rows
    from synthbench.runner.cells import Store
    from synthbench.runner.plan import digest, load_payload_data, make_plan
    from synthbench.runner.suite import load_suite

    store = Store(args.cache)
    try:
        check_spec(args.judge_data)
        suite = load_suite(args.suite)
        if args.like:
            rounds = _rounds_like(args.like, store)
            planned = None
        else:
            # plan the cells as the code that ran them did
            code = {"synthbench.feedback.rounds": args.code} if args.code else None
            planned = make_plan(suite, code=code)
            rounds = _rounds_of_plan(planned, store)
    except SynthbenchError as exc:
        sys.exit(f"error: {exc}")
    if not rounds:
        sys.exit(
            f"error: {args.cache} holds no finished round of {args.suite}; run the suite first"
        )

    # one folder per pair of judges: the rows of each round they rejudged, their features
    work = args.work / digest([args.judge_data, args.rater_seed])
    (work / "rounds").mkdir(parents=True, exist_ok=True)
    rows = []
    for cell in rounds:
        payload = cell.payload
        done = work / "rounds" / f"{cell.key}.jsonl"
        if done.is_file():
            rows += cell.labelled(read_rows(done))
            continue
        settings = RoundSettings.from_flat(payload["settings"], seed=payload["seed"])
        settings = replace(
            settings,
            extractor_data=args.judge_data,
            rater=replace(settings.rater, seed=settings.rater.seed + args.rater_seed),
        )
        scored = store.dir("refine", cell.key) / ("eval" if settings.eval_prompts else "batch")
        real = load_payload_data(payload["data"])
        with tempfile.TemporaryDirectory() as tmp:
            batch = Path(tmp) / "batch"
            shutil.copytree(scored, batch, ignore=shutil.ignore_patterns(f"{DB_FILE}*"))
            simulate(batch, settings.rater)
            cohort = Cohort.load(batch / "cohort")
            new = round_rows(
                cohort,
                batch,
                None,
                real,
                payload["round"],
                payload["method"],
                settings,
                work / "features",
            )
        write_rows(done.with_suffix(".tmp"), new)
        done.with_suffix(".tmp").replace(done)
        rows += cell.labelled(new)
        print(f"{cell.label}: rejudged", flush=True)

    table = render(rows, "md")
    with atomic_dir(args.out) as out:
        write_rows(out / "rows.jsonl", rows)
        head = (
            f"{args.suite}: every finished round rejudged; rater seed + {args.rater_seed}, "
            f"scoring features and adherence classifier trained on {args.judge_data}"
        )
        (out / "rounds.md").write_text(f"{head}\n\n{table}")
        write_script_manifest(
            out,
            "benchmarks/perf/rejudge_rounds.py",
            started,
            threads=args.threads,
            precision={"rater, extractor and metrics": "fp32"},
            cells=sorted(c.key for c in rounds),
            **(
                {"rounds not finished": len(planned.of_kind("refine")) - len(rounds)}
                if planned
                else {"cells of": str(args.like)}
            ),
        )
    print(head, table, sep="\n\n")


#: what a round's rejudged rows take from the suite's own rows of that round
LABELS = ("suite", "dataset", "modality", "generator", "generator_config_hash", "protocol")


@dataclass
class Round:
    """A finished round cell and the labels its rows carry: one copy of them per suite block the
    round serves (``variant``: the block's label, or None), each with that block's own labels."""

    key: str
    payload: dict
    label: str
    copies: list[tuple[str | None, dict]]

    def labelled(self, new: list) -> list:
        out = []
        for variant, same in self.copies:
            for row in new:
                quals = {**row.qualifiers, **({"variant": variant} if variant else {})}
                out.append(row.model_copy(update={**same, "qualifiers": quals}))
        return out


def _method(payload: dict) -> str:
    return payload["method"] if payload["round"] else "base"


def _labels(row) -> dict:
    return {k: getattr(row, k) for k in (*LABELS, "precision")}


def _rounds_of_plan(plan, store) -> list[Round]:
    """The suite's planned round cells that are finished, labelled as the suite's own rows."""
    from synthbench.runner.run import collect_rows

    cells = [c for c in plan.of_kind("refine") if store.done("refine", c.key)]
    own = {
        (r.seed, r.qualifiers["method"], r.qualifiers["round"], r.qualifiers.get("variant")): r
        for r in collect_rows(plan, store)
        if r.task == "refine" and r.metric == "top_rated"
    }
    out = []
    for cell in cells:
        p = cell.payload
        variants = [n.get("qualifiers", {}).get("variant") for n in cell.annotations]
        copies = [(v, _labels(own[(p["seed"], _method(p), str(p["round"]), v)])) for v in variants]
        out.append(Round(cell.key, p, cell.label, copies))
    return out


def _rounds_like(folder: Path, store) -> list[Round]:
    """The very round cells an earlier run of this script scored (its manifest's), labelled as
    its rows are: for rounds the current code plans under other keys."""
    import json

    from synthbench.errors import SynthbenchError
    from synthbench.results import read_rows

    try:
        keys = json.loads((folder / "manifest.json").read_text())["cells"]
        earlier = read_rows(folder / "rows.jsonl")
    except (OSError, KeyError, ValueError) as exc:
        raise SynthbenchError(f"--like {folder}: not a folder this script wrote ({exc})") from None
    labels: dict[tuple, dict] = {}
    for r in earlier:
        where = (r.seed, r.qualifiers["method"], r.qualifiers["round"])
        labels.setdefault(where, {})[r.qualifiers.get("variant")] = _labels(r)
    out = []
    for key in keys:
        if not store.done("refine", key):
            raise SynthbenchError(f"--like {folder}: round cell {key} is not in {store.root}")
        p = store.info("refine", key)["payload"]
        copies = list(labels[(p["seed"], _method(p), str(p["round"]))].items())
        label = f"{_method(p)} round {p['round']} seed {p['seed']} ({key})"
        out.append(Round(key, p, label, copies))
    return out


if __name__ == "__main__":
    main()
