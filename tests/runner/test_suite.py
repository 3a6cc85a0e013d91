"""Suites: the shipped ones validate; each kind of bad suite is one line, exit 2, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

from synthbench.errors import SynthbenchError
from synthbench.runner.plan import make_plan, protocol_of
from synthbench.runner.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((ROOT / "benchmarks").glob("*.toml"))

GOOD = """
name = "t"
profile = "smoke"
seeds = [0, 1]

[data.oct]
spec = "phantom:oct?n=120&size=16"

[generators.classical-aug]

[[experiments]]
task = "classification"
data = "oct"
generators = ["classical-aug"]
same-data = { synth_ratios = [1] }
pretrain-pool = { synth_ratios = [1], real_fractions = [0.5] }
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suites_validate(path, tmp_path, monkeypatch):
    if path.stem == "medmnist":  # real data: a file in MedMNIST's layout where the suite looks
        import numpy as np

        folder = tmp_path / "data" / "medmnist"
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        arrays = {}
        for split, n in {"train": 2000, "val": 200, "test": 200}.items():
            arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            arrays[f"{split}_labels"] = (np.arange(n) % 4).astype(np.uint8)[:, None]
        np.savez_compressed(folder / "octmnist.npz", **arrays)
        monkeypatch.chdir(tmp_path)
    suite = load_suite(path)
    plan = make_plan(suite)
    if suite.refinement:  # round 0 shared by the methods, then every method's rounds
        ref = suite.refinement[0]
        seeds = len(ref.seeds or suite.seeds)
        assert len(plan.of_kind("refine")) == seeds * (1 + len(ref.methods) * ref.rounds)
    if suite.experiments:
        assert plan.of_kind("task")
    assert plan.cells


def test_good_suite_plans_protocols_and_controls(tmp_path):
    (tmp_path / "s.toml").write_text(GOOD)
    plan = make_plan(load_suite(tmp_path / "s.toml"))
    notes = [n for c in plan.of_kind("task") for n in c.annotations]
    assert {"generator": "real-pool", "protocol": "pretrain-pool"} in notes
    assert {"generator": "real-only", "protocol": "same-data"} in notes
    assert {"generator": "real-only", "protocol": "pretrain-pool"} in notes
    # real only at fraction 1 serves the same-data control and the real-pool ceiling: one cell
    full = [
        c
        for c in plan.of_kind("task")
        if c.payload["synth_ratio"] == 0 and c.payload["real_fraction"] == 1
    ]
    assert len(full) == 2  # two seeds
    assert all(len(c.annotations) == 2 for c in full)
    # one training of the generator on the whole pool serves both protocols
    assert len(plan.of_kind("train")) == 1


REFINE = """
[generators.minim]
checkpoint = "shipped:minim-oct-brain_mri"

[[refinement]]
data = "oct"
generator = "{generator}"
methods = {methods}
{settings}
"""
#: one more refinement block of the same generator
BLOCK = REFINE[REFINE.index("[[refinement]]") :]

BAD = {
    "unknown key": (
        GOOD.replace('profile = "smoke"', 'profile = "smoke"\ncolour = "red"'),
        "colour: unknown key",
    ),
    "unknown nested key": (
        GOOD.replace(
            "same-data = { synth_ratios = [1] }", "same-data = { synth_ratios = [1], ratio = 2 }"
        ),
        "experiments.0.same-data.ratio: unknown key",
    ),
    "unknown generator": (
        GOOD.replace(
            "[generators.classical-aug]", "[generators.classical-aug]\n[generators.minin]"
        ).replace('generators = ["classical-aug"]', 'generators = ["classical-aug", "minin"]'),
        "did you mean",
    ),
    "unknown task": (
        GOOD.replace('task = "classification"', 'task = "clasification"'),
        "did you mean",
    ),
    "negative ratio": (
        GOOD.replace("same-data = { synth_ratios = [1] }", "same-data = { synth_ratios = [-1] }"),
        "synthetic ratios must be > 0",
    ),
    "real fraction above 1": (
        GOOD.replace("real_fractions = [0.5]", "real_fractions = [1.5]"),
        "real fractions must be in (0, 1]",
    ),
    "real fraction 0": (
        GOOD.replace("real_fractions = [0.5]", "real_fractions = [0]"),
        "real fractions must be in (0, 1]",
    ),
    "missing data path": (
        GOOD.replace("phantom:oct?n=120&size=16", "imagefolder:/nonexistent/images"),
        "/nonexistent/images",
    ),
    "task the data cannot serve": (
        GOOD.replace('task = "classification"', 'task = "biomarker-survival"'),
        "biomarker-survival cannot run on data.oct",
    ),
    "unknown data key": (GOOD.replace('data = "oct"', 'data = "fundus"'), "no data set 'fundus'"),
    "unknown metric": (
        GOOD + '\n[[quality]]\ndata = "oct"\ngenerators = ["classical-aug"]\nmetrics = ["fid"]\n',
        "did you mean",
    ),
    "not TOML": ("name = ", "not valid TOML"),
    "unknown resize mode": (
        GOOD + '\n[[quality]]\ndata = "oct"\ngenerators = ["classical-aug"]\nresize = "nearest"\n',
        "quality.0.resize",
    ),
    "extractor data for an extractor that does not train": (
        GOOD
        + '\n[[quality]]\ndata = "oct"\ngenerators = ["classical-aug"]\nextractor = "inception"\n'
        + 'extractor_data = "phantom:oct?n=100&seed=3"\n',
        "quality[0].extractor_data: only extractors that train on data take it (autoencoder, contrastive, domain)",
    ),
    "extractor data that is no data spec": (
        GOOD
        + '\n[[quality]]\ndata = "oct"\ngenerators = ["classical-aug"]\n'
        + 'extractor_data = "nosuch:oct"\n',
        "quality[0].extractor_data",
    ),
    "refinement sampling that is no sampling setting": (
        GOOD
        + REFINE.format(
            generator="minim", methods='["dpo"]', settings="settings = { sampling = 3 }"
        ),
        "sampling: a table of sampling settings",
    ),
    "refinement of a generator without a checkpoint": (
        GOOD + REFINE.format(generator="classical-aug", methods='["raft"]', settings=""),
        "refinement[0].generator: 'classical-aug' needs a checkpoint",
    ),
    "unknown refinement method": (
        GOOD + REFINE.format(generator="minim", methods='["ppo"]', settings=""),
        "unknown method 'ppo'",
    ),
    "unknown refinement setting": (
        GOOD
        + REFINE.format(generator="minim", methods='["dpo"]', settings="settings = { step = 3 }"),
        "unknown refinement settings ['step']",
    ),
    "reward pretraining for dpo alone": (
        GOOD
        + REFINE.format(
            generator="minim",
            methods='["dpo"]',
            settings='settings = { reward_pretrain = 3, extractor_data = "phantom:oct?n=100&seed=3" }',
        ),
        "dpo learns from the rating pairs",
    ),
    "a pick cap past the rating scale": (
        GOOD
        + REFINE.format(
            generator="minim",
            methods='["best-of-n"]',
            settings="settings = { pick_quantile = 1.5 }",
        ),
        "pick_quantile must be 0 (the reward model's best) or a quantile in (0, 1), got 1.5",
    ),
    "a pick cap without best-of-n": (
        GOOD
        + REFINE.format(
            generator="minim", methods='["raft"]', settings="settings = { pick_quantile = 0.5 }"
        ),
        "pick_quantile is how best-of-n picks",
    ),
    "reward pretraining of a fraction of an epoch": (
        GOOD
        + REFINE.format(
            generator="minim", methods='["raft"]', settings="settings = { reward_pretrain = 2.5 }"
        ),
        "reward_pretrain must be a whole number",
    ),
    "reward pretraining judged by the classifier of the same images": (
        GOOD
        + REFINE.format(
            generator="minim", methods='["raft"]', settings="settings = { reward_pretrain = 3 }"
        ),
        "set extractor_data",
    ),
    "refinement extractor data without the modality": (
        GOOD
        + REFINE.format(
            generator="minim",
            methods='["raft"]',
            settings='settings = { extractor_data = "phantom:cxr?n=100&size=16&seed=3" }',
        ),
        "refinement[0].settings: extractor_data 'phantom:cxr?n=100&size=16&seed=3' has no oct images",
    ),
    "two blocks whose rows would mix": (
        GOOD
        + REFINE.format(generator="minim", methods='["raft"]', settings="")
        + BLOCK.format(generator="minim", methods='["dpo"]', settings="settings = { steps = 3 }"),
        "refinement[1].label: refinement[0] refines 'minim' on 'oct' for the same seeds with "
        "other settings",
    ),
    "a blank label": (
        GOOD + REFINE.format(generator="minim", methods='["raft"]', settings='label = " "'),
        "refinement.0.label",
    ),
    "zero rounds": (
        GOOD + REFINE.format(generator="minim", methods='["dpo"]', settings="rounds = 0"),
        "refinement.0.rounds",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_suite_is_one_line_exit_2_nothing_written(tmp_path, case):
    text, expected = BAD[case]
    (tmp_path / "s.toml").write_text(text)
    for command in (["validate", "s.toml"], ["run", "s.toml", "--out", "res", "--cache", "cache"]):
        result = cli(*command, cwd=tmp_path)
        assert result.returncode == 2, (case, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (case, lines)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_labelled_blocks_stand_side_by_side(tmp_path):
    """Blocks on the same data and generator with other settings are told apart by the label;
    those whose settings differ in the methods' own alone (``steps``, ``pick_quantile``) share round
    0, and blocks that differ in their methods alone share every cell."""
    text = (
        GOOD
        + REFINE.format(generator="minim", methods='["raft"]', settings='label = "plain"')
        + BLOCK.format(
            generator="minim",
            methods='["raft"]',
            settings='label = "short"\nrounds = 2\nsettings = { steps = 3 }',
        )
        + BLOCK.format(generator="minim", methods='["dpo"]', settings='label = "plain"')
        + BLOCK.format(
            generator="minim",
            methods='["best-of-n"]',
            settings='label = "capped"\nsettings = { pick_quantile = 0.5 }',
        )
        + BLOCK.format(
            generator="minim",
            methods='["raft"]',
            settings='label = "small"\nsettings = { n_prompts = 4 }',
        )
    )
    (tmp_path / "s.toml").write_text(text)
    plan = make_plan(load_suite(tmp_path / "s.toml"))
    cells = plan.of_kind("refine")
    zeros = [c for c in cells if c.payload["round"] == 0]
    # per seed: one round 0 for blocks 0-3, one for n_prompts = 4
    assert len(zeros) == 2 * 2 and len(cells) == 2 * (2 + 3 + 2 + 3 + 3 + 3)
    shared = next(c for c in zeros if c.payload["settings"] == {})
    variants = {n["qualifiers"]["variant"] for n in shared.annotations}
    assert variants == {"plain", "short", "capped"}  # blocks 0 and 2 give the same note
    capped = [c for c in cells if c.payload["method"] == "best-of-n"]
    assert {c.payload["settings"]["pick_quantile"] for c in capped} == {0.5}


def test_missing_medmnist_file_says_where_to_put_it(tmp_path):
    suite = ROOT / "benchmarks" / "medmnist.toml"
    text = (
        suite.read_text()
        .replace("root = ", "root = ")
        .replace('"data/medmnist"', f'"{tmp_path}/none"')
    )
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(SynthbenchError, match=r"\.npz"):
        make_plan(load_suite(tmp_path / "m.toml"))


def test_protocol_of():
    a, b, c, d = (frozenset({x}) for x in "abcd")
    assert protocol_of(a | b, a | b, c, "g", 1.0) == "same-data"
    assert protocol_of(a | b, a, c, "g", 0.5) == "pretrain-pool"
    with pytest.raises(SynthbenchError, match="validation or test"):
        protocol_of(a | c, a, c, "g", 0.5)
    with pytest.raises(SynthbenchError, match="neither"):
        protocol_of(a, a | b, c | d, "g", 1.0)


def test_validate_counts_every_kind_of_cell(capsys):
    from synthbench.cli import main
    from synthbench.runner.plan import KINDS

    path = ROOT / "benchmarks" / "feedback.toml"  # refinement rounds only
    plan = make_plan(load_suite(path))
    with pytest.raises(SystemExit) as stop:
        main(["validate", str(path)])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "is valid" in out
    for kind in KINDS:
        assert f" {len(plan.of_kind(kind))} {kind} cells" in out, kind
    assert len(plan.of_kind("refine")) > 0


def test_a_fine_tuning_cell_is_keyed_by_the_checkpoint_it_starts_from(tmp_path):
    import shutil

    from synthbench.generators.shipped import resolve_checkpoint

    start = tmp_path / "start"
    shutil.copytree(resolve_checkpoint("shipped:minim-oct-brain_mri"), start)
    text = f"""
name = "t"
profile = "smoke"
seeds = [0]

[data.mri]
spec = "phantom:breast_mri?n=60&size=16"

[generators.lora]
generator = "minim-adapted"
settings = {{ init_from = "{start}", method = "lora" }}

[[quality]]
data = "mri"
generators = ["lora"]
"""
    (tmp_path / "s.toml").write_text(text)

    def train_key():
        (cell,) = make_plan(load_suite(tmp_path / "s.toml")).of_kind("train")
        assert cell.payload["init_from_digest"]
        return cell.key

    before = train_key()
    assert train_key() == before
    (start / "README.md").write_text("another model card")
    assert train_key() != before


def test_a_plan_under_an_earlier_code_digest_moves_only_those_cells(tmp_path):
    """``code`` plans a module's cells under the digest an earlier commit ran them with (to read
    them again); every other cell keeps its key."""
    text = GOOD + REFINE.format(generator="minim", methods='["raft"]', settings="")
    (tmp_path / "s.toml").write_text(text)
    suite = load_suite(tmp_path / "s.toml")
    now = make_plan(suite).cells
    then = make_plan(suite, code={"synthbench.feedback.rounds": "0123abcd"}).cells
    moved = set(now) - set(then)
    assert moved and {now[k].kind for k in moved} == {"refine"}
    assert len(moved) == len(set(then) - set(now))
    assert {c.payload["code"] for c in then.values() if c.kind == "refine"} == {"0123abcd"}
    assert {k for k, c in now.items() if c.kind != "refine"} <= set(then)


def test_a_refinement_cell_is_keyed_by_the_code_of_the_metrics_it_scores_with(tmp_path):
    """The registry names metric modules as strings, which the rounds' code digest does not
    follow: a round is keyed by the code of each metric it computes, and of no other."""
    text = GOOD + REFINE.format(
        generator="minim", methods='["raft"]', settings='settings = { metrics = ["fd"] }'
    )
    (tmp_path / "s.toml").write_text(text)
    suite = load_suite(tmp_path / "s.toml")
    now = make_plan(suite).cells
    refine = {k for k, c in now.items() if c.kind == "refine"}
    assert {tuple(c.payload["metrics_code"]) for c in now.values() if c.kind == "refine"} == {
        ("fd",)
    }
    fd = make_plan(suite, code={"synthbench.metrics.distribution": "0123abcd"}).cells
    assert set(now) - set(fd) == refine
    copies = make_plan(suite, code={"synthbench.metrics.copy_detect": "0123abcd"}).cells
    assert set(copies) == set(now)  # not asked for: no refine cell moves
    domain = make_plan(suite, code={"synthbench.metrics.features": "0123abcd"}).cells
    assert set(now) - set(domain) == refine
