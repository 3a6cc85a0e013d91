"""The smoke suite end to end: rows that validate, protocols and controls, a warm rerun that
computes nothing, resuming after ``kill -9`` with identical results, and the Ray executor."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthbench.results import ResultRow, git_sha, read_results
from synthbench.runner.run import run_suite
from synthbench.runner.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "benchmarks" / "smoke.toml"
#: fields that legitimately differ between two runs of the same cells
VOLATILE = {"wall_seconds", "git_sha"}


def comparable(rows: list[ResultRow]) -> list[tuple]:
    out = []
    for r in rows:
        d = r.model_dump(exclude=VOLATILE)
        d["qualifiers"] = tuple(sorted(d["qualifiers"].items()))
        out.append(tuple(sorted(d.items())))
    return sorted(out, key=repr)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One uninterrupted local run of the smoke suite (shared by the tests below)."""
    root = tmp_path_factory.mktemp("smoke")
    report = run_suite(load_suite(SMOKE), root / "out", cache=root / "cache", workers=2)
    return root, report


def test_smoke_rows_validate_and_carry_protocols(smoke_run):
    root, report = smoke_run
    assert not report.failed
    rows = read_results(root / "out")
    assert comparable(rows) == comparable(report.rows)
    # the CSV holds the same rows as the Parquet file
    (root / "csv").mkdir(exist_ok=True)
    (root / "csv" / "rows.csv").write_bytes((root / "out" / "rows.csv").read_bytes())
    assert comparable(read_results(root / "csv")) == comparable(rows)
    assert {r.patient_split for r in rows} == {"patient"}  # phantoms have patients
    tasks = [r for r in rows if r.task]
    assert {r.protocol for r in tasks} == {"same-data", "pretrain-pool"}
    assert all(r.suite == "smoke" and r.seed in (0, 1) and r.profile == "smoke" for r in tasks)
    pool = [r for r in tasks if r.protocol == "pretrain-pool"]
    gens = {r.generator for r in pool}
    assert {"real-only", "real-pool", "cvae", "classical-aug"} <= gens
    assert all(r.real_fraction == 1.0 for r in pool if r.generator == "real-pool")
    assert all(r.real_fraction == 0.5 for r in pool if r.generator != "real-pool")
    # the downstream model of a pretrain-pool row saw half the real images the generator saw
    cvae = [r for r in pool if r.generator == "cvae" and r.metric == "accuracy"]
    assert cvae and all(r.n_real < 112 and r.checkpoint for r in cvae)
    same = [r for r in tasks if r.protocol == "same-data" and r.generator != "real-only"]
    assert all(r.real_fraction == 1.0 and r.n_real == 112 for r in same)
    quality = [r for r in rows if not r.task]
    assert {r.generator for r in quality} == {"real-vs-real", "cvae", "classical-aug"}
    floor = [r for r in quality if r.generator == "real-vs-real" and r.metric == "fd"]
    assert len(floor) == 1 and floor[0].n_synth == floor[0].n_real
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["cells_computed"] == report.computed and manifest["failed"] == {}
    assert manifest["suite"]["name"] == "smoke" and "torch" in manifest["packages"]
    assert manifest["git_sha"] == git_sha()
    assert manifest["row_commits"] == sorted({r.git_sha for r in rows})
    # every trained checkpoint behind the rows is sized, by the key the rows carry
    sizes = manifest["checkpoint_bytes"]
    assert set(sizes) == {r.checkpoint for r in rows if r.checkpoint} != set()
    for key, size in sizes.items():
        files = (root / "cache" / "train" / key / "checkpoint").rglob("*")
        assert size == sum(f.stat().st_size for f in files if f.is_file()) > 0
    for name in ("leaderboard.md", "leaderboard.csv", "report.html"):
        assert (root / "out" / name).stat().st_size > 0
    assert list((root / "out" / "artifacts" / "samples").rglob("*.png"))


def test_warm_rerun_computes_nothing_and_gives_the_same_rows(smoke_run):
    root, first = smoke_run
    again = run_suite(load_suite(SMOKE), root / "out2", cache=root / "cache", workers=2)
    assert again.computed == 0 and again.reused == first.computed + first.reused
    assert comparable(again.rows) == comparable(first.rows)


def test_the_manifest_records_the_code_as_the_run_started(smoke_run, monkeypatch):
    """A commit made while a long run computes is not its code: the manifest's environment is
    read before any cell runs, and the rows' own commits are listed beside it."""
    import synthbench.machine
    import synthbench.runner.run as run_module

    root, _ = smoke_run
    reads: list[int] = []
    real_environment = synthbench.machine.environment

    def environment():
        reads.append(len(reads))
        return {**real_environment(), "git_sha": f"read-{len(reads)}"}

    seen_by_cells: list[int] = []

    def run_local(*args, **kwargs):
        seen_by_cells.append(len(reads))
        return []

    monkeypatch.setattr(synthbench.machine, "environment", environment)
    monkeypatch.setattr(run_module, "run_local", run_local)
    report = run_suite(load_suite(SMOKE), root / "out3", cache=root / "cache", workers=1)
    manifest = json.loads((root / "out3" / "manifest.json").read_text())
    assert seen_by_cells == [1] and manifest["git_sha"] == "read-1"
    assert manifest["row_commits"] == sorted({r.git_sha for r in report.rows}) != []


def _cells_done(cache: Path) -> dict[str, float]:
    """Finished cells: folders in place, not the temporary ones a running cell is renaming."""
    return {
        str(p.parent): p.stat().st_mtime_ns
        for p in cache.glob("*/*/cell.json")
        if not p.parent.name.startswith(".")
    }


def test_kill_9_then_resume_gives_identical_results(smoke_run, tmp_path):
    _root, first = smoke_run
    cache = tmp_path / "cache"
    command = [
        sys.executable,
        "-m",
        "synthbench.cli",
        "run",
        str(SMOKE),
        "--out",
        str(tmp_path / "out"),
        "--cache",
        str(cache),
        "--workers",
        "2",
        "--format",
        "none",
    ]
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(_cells_done(cache)) < 6 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _cells_done(cache)
    assert 0 < len(before) < first.computed + first.reused
    assert not (tmp_path / "out").exists()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    after = _cells_done(cache)
    assert all(after[k] == v for k, v in before.items()), "a finished cell was recomputed"
    assert f"{len(after) - len(before)} cells computed, {len(before)} reused" in result.stdout
    # without a terminal, the log says when each computed cell starts and when it ends
    lines = result.stderr.splitlines()
    started = [line.removeprefix("started: ") for line in lines if line.startswith("started: ")]
    ended = [
        line.removeprefix("done: ").rsplit(" (", 1)[0]
        for line in lines
        if line.startswith("done: ")
    ]
    assert len(started) == len(after) - len(before) and sorted(started) == sorted(ended)
    assert not [p for p in cache.glob("*/.*") if ".tmp-" in p.name], "temporary folders left"
    assert comparable(read_results(tmp_path / "out")) == comparable(first.rows)


def test_ray_executor_gives_the_local_results(smoke_run, tmp_path):
    _root, first = smoke_run
    report = run_suite(
        load_suite(SMOKE), tmp_path / "out", cache=tmp_path / "cache", executor="ray", workers=2
    )
    assert not report.failed and report.computed == first.computed + first.reused
    assert comparable(report.rows) == comparable(first.rows)


def test_a_failing_cell_is_recorded_and_the_rest_go_on(tmp_path):
    # settings no loop can run are refused when the suite loads; a folder generator whose
    # folder is missing fails when its train cell runs
    missing = tmp_path / "no-such-folder"
    text = SMOKE.read_text().replace(
        "settings = { steps = 30 }", f'generator = "folder"\nsettings = {{ path = "{missing}" }}'
    )
    (tmp_path / "s.toml").write_text(text)
    suite = load_suite(tmp_path / "s.toml")
    report = run_suite(suite, tmp_path / "out", cache=tmp_path / "cache", workers=2)
    assert report.failed
    assert all("cvae" in m for m in report.failed.values()), report.failed
    rows = read_results(tmp_path / "out")
    assert {r.generator for r in rows if r.task} >= {"real-only", "classical-aug"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["failed"] == report.failed


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch):
    """Tried by creating a file, not by os.access (which says yes to root on /proc)."""
    import synthbench.runner.run as runner
    from synthbench.errors import SynthbenchError

    def no_plan(suite):
        raise AssertionError("planned before checking --out")

    monkeypatch.setattr(runner, "make_plan", no_plan)
    suite = load_suite(SMOKE)
    out = Path("/proc/synthbench-unwritable/out")  # procfs refuses new files, even from root
    with pytest.raises(SynthbenchError, match=r"--out .*: cannot write in /proc \(") as err:
        run_suite(suite, out, cache=tmp_path / "cache")
    assert "\n" not in str(err.value) and not out.parent.exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SynthbenchError, match="is a file, not a folder"):
        run_suite(suite, tmp_path / "file" / "out", cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
