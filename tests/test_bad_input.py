"""Bad input to every command, tried as a hostile user would: each case ends with exit code 2,
one line on stderr that says what is wrong, no traceback, and nothing written or moved in the
place the command was asked to write to."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthbench.cli import main

DATA = "phantom:oct?n=40&size=16"
CKPT = "shipped:cvae-oct"
ROOT = Path(__file__).resolve().parents[1]
SUITE = str(ROOT / "benchmarks" / "smoke.toml")
RESULTS = str(ROOT / "results" / "quick")
#: a folder nothing can be created in, not even by root (procfs refuses new files)
UNWRITABLE = "/proc/synthbench-unwritable/out"

# {file}: an existing file; {folder}: an existing folder holding someone's file
CASES = {
    # typer's usage errors: one line, not a boxed panel
    "generate -n not a number": (["generate", CKPT, "-n", "abc", "--out", "g.png"], "'-n'"),
    "generate --per-row 0": (["generate", CKPT, "--per-row", "0", "--out", "g.png"], "--per-row"),
    "generate -n 0": (["generate", CKPT, "-n", "0", "--out", "synth"], "'-n'"),
    "generate --chunk-size 0": (["generate", CKPT, "--chunk-size", "0", "--out", "s"], "chunk"),
    "data show --per-row 0": (
        ["data", "show", DATA, "--per-row", "0", "--out", "g.png"],
        "per-row",
    ),
    "task ratio not a number": (
        ["task", "classification", "--data", DATA, "--synth-ratio", "x", "--out", "t"],
        "--synth-ratio",
    ),
    "train --steps not a number": (
        ["train", "cvae", "--data", DATA, "--steps", "many", "--out", "c"],
        "--steps",
    ),
    "run --workers 0": (["run", SUITE, "--workers", "0", "--out", "r"], "--workers"),
    "unknown option": (["data", "make", DATA, "--out", "d", "--bogus"], "--bogus"),
    "missing option": (["train", "cvae", "--out", "c"], "--data"),
    "unknown command": (["trian", "cvae"], "trian"),
    "feedback serve --port not a number": (["feedback", "serve", "b", "--port", "x"], "--port"),
    "improve --n-candidates 0": (
        ["improve", CKPT, "--ratings", "b", "--n-candidates", "0", "--out", "c"],
        "candidates",
    ),
    # an existing file where a folder is written
    "data make into a file": (["data", "make", DATA, "--out", "{file}"], "an existing file"),
    "train into a file": (
        ["train", "cvae", "--data", DATA, "--profile", "smoke", "--out", "{file}"],
        "an existing file",
    ),
    "generate into a file": (["generate", CKPT, "-n", "4", "--out", "{file}"], "an existing file"),
    "retune into a file": (
        ["retune", CKPT, "--set", "temperature=0.5", "--out", "{file}"],
        "an existing file",
    ),
    "task into a file": (
        ["task", "classification", "--data", DATA, "--profile", "smoke", "--out", "{file}"],
        "an existing file",
    ),
    "evaluate artifacts into a file": (
        ["evaluate", DATA, DATA, "--out", "{file}"],
        "existing file",
    ),
    "evaluate cache in a file": (
        ["evaluate", DATA, DATA, "--cache-dir", "{file}"],
        "existing file",
    ),
    "run into a file": (["run", SUITE, "--out", "{file}"], "an existing file"),
    "improve into a file": (
        ["improve", CKPT, "--ratings", "b", "--out", "{file}"],
        "existing file",
    ),
    "feedback sample into a file": (
        ["feedback", "sample", CKPT, "-n", "2", "--out", "{file}"],
        "an existing file",
    ),
    "feedback reward into a file": (
        ["feedback", "reward", "b", "--out", "{file}"],
        "existing file",
    ),
    # an existing folder where a file is written
    "data show onto a folder": (["data", "show", DATA, "--out", "{folder}"], "an existing folder"),
    "generate a grid onto a folder": (
        ["generate", CKPT, "-n", "4", "--out", "{folder}.png"],
        "an existing folder",
    ),
    "evaluate --json onto a folder": (["evaluate", DATA, DATA, "--json", "{folder}"], "folder"),
    "leaderboard onto a folder": (["leaderboard", "rs", "--out", "{folder}"], "existing folder"),
    # someone's folder, which a folder output would replace whole
    "data make over a folder": (
        ["data", "make", DATA, "--out", "{folder}"],
        "not a folder written",
    ),
    "train over a folder": (
        ["train", "cvae", "--data", DATA, "--profile", "smoke", "--out", "{folder}"],
        "not a checkpoint",
    ),
    "generate over a folder": (["generate", CKPT, "-n", "4", "--out", "{folder}"], "not a cohort"),
    "retune over a folder": (
        ["retune", CKPT, "--set", "temperature=0.5", "--out", "{folder}"],
        "not a checkpoint",
    ),
    "run over a folder": (["run", SUITE, "--out", "{folder}"], "not a results folder"),
    "feedback sample over a folder": (
        ["feedback", "sample", CKPT, "-n", "2", "--out", "{folder}"],
        "not a batch folder",
    ),
    "improve over a folder": (
        ["improve", CKPT, "--ratings", "b", "--out", "{folder}"],
        "not a checkpoint",
    ),
    "improve rounds over a folder": (
        [
            "improve",
            CKPT,
            "--rounds",
            "1",
            "--rater",
            "simulated",
            "--data",
            DATA,
            "--out",
            "{folder}",
        ],
        "not a folder of rounds",
    ),
    "improve rounds without a rater": (
        ["improve", CKPT, "--rounds", "1", "--data", DATA, "--out", "r"],
        "--rater simulated",
    ),
    # a place that cannot be written
    "data make, unwritable": (["data", "make", DATA, "--out", UNWRITABLE], "cannot write"),
    "data show, unwritable": (["data", "show", DATA, "--out", UNWRITABLE + ".png"], "cannot write"),
    "train, unwritable": (
        ["train", "cvae", "--data", DATA, "--profile", "smoke", "--out", UNWRITABLE],
        "cannot write",
    ),
    "generate, unwritable": (["generate", CKPT, "-n", "4", "--out", UNWRITABLE], "cannot write"),
    "generate a grid, unwritable": (
        ["generate", CKPT, "-n", "4", "--out", UNWRITABLE + ".png"],
        "cannot write",
    ),
    "retune, unwritable": (
        ["retune", CKPT, "--set", "temperature=0.5", "--out", UNWRITABLE],
        "cannot write",
    ),
    "evaluate --json, unwritable": (["evaluate", DATA, DATA, "--json", UNWRITABLE], "cannot write"),
    "task, unwritable": (
        ["task", "classification", "--data", DATA, "--profile", "smoke", "--out", UNWRITABLE],
        "cannot write",
    ),
    "run, unwritable": (["run", SUITE, "--out", UNWRITABLE], "cannot write"),
    "under a file": (["data", "make", DATA, "--out", "{file}/sub"], "is a file, not a folder"),
    # values no run can use
    "task ratio NaN": (
        ["task", "classification", "--data", DATA, "--synth-ratio", "nan", "--out", "t"],
        "synth_ratio",
    ),
    "task ratio negative": (
        ["task", "classification", "--data", DATA, "--synth-ratio", "-1", "--out", "t"],
        "synth_ratio",
    ),
    "task real fraction 0": (
        ["task", "classification", "--data", DATA, "--real-fraction", "0", "--out", "t"],
        "real_fraction",
    ),
    "task on data it cannot use": (
        ["task", "biomarker-survival", "--data", DATA, "--profile", "smoke", "--out", "t"],
        "no biomarker status",
    ),
    "task unknown protocol": (
        ["task", "classification", "--data", DATA, "--protocol", "x", "--out", "t"],
        "protocol",
    ),
    "train negative steps": (
        ["train", "cvae", "--data", DATA, "--profile", "smoke", "--steps", "-3", "--out", "c"],
        "steps",
    ),
    "train NaN minutes": (
        ["train", "cvae", "--data", DATA, "--profile", "smoke", "--minutes", "nan", "--out", "c"],
        "minutes",
    ),
    "train unknown profile": (
        ["train", "cvae", "--data", DATA, "--profile", "huge", "--out", "c"],
        "profile",
    ),
    "evaluate unknown --resize": (["evaluate", DATA, DATA, "--resize", "nearest"], "--resize"),
    # --resize reaches the extractor, which says the domain extractor has no resize to choose
    "evaluate --resize for the domain extractor": (
        ["evaluate", DATA, DATA, "--resize", "legacy", "--no-cache"],
        "resize='legacy' applies to the inception extractor only",
    ),
    "data make split not summing to 1": (
        ["data", "make", "phantom:oct?n=40&size=16&split=0.5,0.5,0.5", "--out", "d"],
        "sum to 1",
    ),
    "data make NaN split": (
        ["data", "make", "phantom:oct?n=40&size=16&split=nan,0.5,0.5", "--out", "d"],
        "sum to 1",
    ),
    "adapt unknown method": (
        ["adapt", "shipped:minim-oct-brain_mri", "--data", DATA, "--method", "x", "--out", "a"],
        "--method",
    ),
    "adapt --shots 0": (
        ["adapt", "shipped:minim-oct-brain_mri", "--data", DATA, "--shots", "0", "--out", "a"],
        "--shots",
    ),
    "adapt from a cvae": (
        ["adapt", CKPT, "--data", DATA, "--out", "a"],
        "adapt starts from a minim",
    ),
    "adapt into a file": (
        ["adapt", "shipped:minim-oct-brain_mri", "--data", DATA, "--out", "{file}"],
        "an existing file",
    ),
    "adapt over a folder": (
        ["adapt", "shipped:minim-oct-brain_mri", "--data", DATA, "--out", "{folder}"],
        "not a checkpoint",
    ),
    "adapt, unwritable": (
        ["adapt", "shipped:minim-oct-brain_mri", "--data", DATA, "--out", UNWRITABLE],
        "cannot write",
    ),
    "data make unknown modality": (["data", "make", "phantom:pet", "--out", "d"], "pet"),
    "ls unknown kind": (["ls", "widgets"], "widgets"),
    "validate a missing suite": (["validate", "nosuch.toml"], "nosuch.toml"),
    "leaderboard unknown format": (
        ["leaderboard", RESULTS, "--format", "pdf", "--out", "l"],
        "pdf",
    ),
    "feedback export a missing batch": (["feedback", "export", "b", "--out", "e.csv"], "batch"),
    "feedback import a missing batch": (["feedback", "import", "b", "r.csv"], "batch"),
    "feedback simulate a missing batch": (["feedback", "simulate", "b"], "batch"),
}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with a file's bytes."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            tree[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            path = os.path.join(folder, name)
            tree[os.path.relpath(path, root)] = Path(path).read_bytes()
    return tree


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder holding someone's file and someone's folder, and no results folder."""
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "photos.png").mkdir()
    (tmp_path / "rs").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The entry point in this process (an exception other than SystemExit fails the test)."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.mark.parametrize(("args", "message"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(args, message, place, capsys):
    args = [a.format(file=place / "notes.txt", folder=place / "photos") for a in args]
    before = _tree(place)
    code, _, err = run_main(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err
    assert _tree(place) == before
    assert not Path(UNWRITABLE).parent.exists()


def test_every_command_has_bad_input_cases():
    from synthbench.cli import app

    commands = {c.name for c in app.registered_commands}
    for group in app.registered_groups:
        commands |= {f"{group.name} {c.name}" for c in group.typer_instance.registered_commands}
    tried = {
        " ".join(args[:2]) if args[0] in ("data", "feedback") else args[0]
        for args, _ in CASES.values()
    }
    assert commands - tried == set()


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
    """Only user errors become one line: anything else propagates as the bug it is."""
    import synthbench.cli

    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(synthbench.cli, "_ls_checkpoints", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["ls", "checkpoints"])


def test_the_installed_command_prints_usage_errors_on_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "synthbench.cli", "generate", CKPT, "-n", "abc", "--out", "g.png"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid value for '-n'"), lines
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_killed_generate_resumes_and_leaves_no_temporary_folder(tmp_path):
    """``kill -9`` in the middle of ``generate --like``, then the same command: it reuses the
    finished chunks, writes what an uninterrupted run writes, and leaves only the cohort."""
    import numpy as np

    from synthbench.cohort import Cohort
    from synthbench.data.source import load_data
    from synthbench.generators.base import load_generator
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.streaming import stale_work_folders

    like, out = "phantom:oct?n=800&size=32", tmp_path / "synth"
    command = [sys.executable, "-m", "synthbench.cli", "generate", "shipped:cgan-oct"]
    command += ["--like", like, "--chunk-size", "64", "--out", str(out)]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in first.stderr:
            if line.strip().startswith("128/"):
                break
        first.kill()
    finally:
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL and not out.exists()
    (work,) = stale_work_folders(out)
    assert {"chunk-00000", "chunk-00001"} <= {p.name for p in work.iterdir()}

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    resumed = [line for line in second.stderr.splitlines() if "resuming:" in line]
    assert len(resumed) == 1 and int(resumed[0].split()[1].split("/")[0]) >= 128, second.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]
    expected = load_generator("shipped:cgan-oct").sample(
        Conditions.like(load_data(like).train), seed=0
    )
    cohort = Cohort.load(out)
    np.testing.assert_array_equal(cohort.images, expected.images)
    assert list(cohort.label) == list(expected.label)


@pytest.mark.slow
def test_a_killed_smoke_train_resumes_and_leaves_no_temporary_folder(tmp_path):
    """``kill -9`` of a smoke ``train`` once it has saved training state, then the same command:
    it trains on from the saved step, writes the checkpoint and removes the state."""
    from safetensors import safe_open

    from synthbench.generators.base import read_checkpoint_info
    from synthbench.generators.training import STATE_META_KEY, STATE_WEIGHTS

    out = tmp_path / "cvae"
    state = out.with_name("cvae.training-state")
    command = [sys.executable, "-m", "synthbench.cli", "train", "cvae", "--data", DATA]
    command += ["--profile", "smoke", "--steps", "60", "--set", "checkpoint_every=10"]
    command += ["--no-progress", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (state / STATE_WEIGHTS).is_file() and first.poll() is None:
            assert time.monotonic() < deadline, "no training state saved"
            time.sleep(0.02)
        first.kill()
    finally:
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL and not out.exists() and state.is_dir()
    # the step of the state it left: every 10 steps, or sooner where 10 s pass first (a busy CPU)
    with safe_open(str(state / STATE_WEIGHTS), "pt") as saved:
        step = json.loads(saved.metadata()[STATE_META_KEY])["step"]
    assert 0 < step < 60

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    fit = read_checkpoint_info(out).fit
    assert fit["steps"] == 60 and fit["resumed_from"] == step, (fit, step)
    assert [p.name for p in tmp_path.iterdir()] == ["cvae"]
