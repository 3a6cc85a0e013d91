"""``synthbench task``: the command function, run through typer."""

import typer
from typer.testing import CliRunner

from synthbench.cli.task import task


def _app():
    app = typer.Typer()
    app.command("task")(task)

    @app.command("noop")
    def noop() -> None:  # a second command keeps 'task' a named subcommand
        pass

    return app


def test_task_command_prints_rows_and_writes_artifacts(tmp_path):
    from synthbench.cohort import is_cohort_dir
    from synthbench.data.source import load_data

    synth = tmp_path / "synth"
    load_data("phantom:oct?n=80&size=16&seed=5").train.save(synth)
    assert is_cohort_dir(synth)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        _app(),
        [
            "task",
            "classification",
            "--data",
            "phantom:oct?n=48&size=16",
            "--synthetic",
            str(synth),
            "--synth-ratio",
            "1",
            "--profile",
            "smoke",
            "--set",
            "steps=2",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "balanced_accuracy" in result.output and "32 synthetic" in result.output
    from synthbench.results import read_rows

    rows = read_rows(out / "rows.jsonl")
    assert {(r.synth_ratio, r.n_synth, r.seed) for r in rows} == {(1.0, 32, 3)}
    assert (out / "predictions.csv").is_file()


def test_unknown_task_says_did_you_mean():
    result = CliRunner().invoke(
        _app(), ["task", "clasification", "--data", "phantom:oct?n=48&size=16"]
    )
    assert result.exit_code != 0
    assert "did you mean" in str(result.exception)


def test_a_task_failing_its_input_check_leaves_no_output_folder(oct_data, tmp_path):
    """The check inside ``_run`` (no biomarker status on OCT) comes after ``run`` made
    ``out_dir``; the failed run removes the folders it made, and only those."""
    import pytest

    from synthbench.errors import SynthbenchError
    from synthbench.tasks.base import create_task

    task = create_task("biomarker-survival", profile="smoke")
    with pytest.raises(SynthbenchError, match="biomarker"):
        task.run(oct_data.train, oct_data.val, oct_data.test, out_dir=tmp_path / "a" / "b")
    assert not any(tmp_path.iterdir())
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(SynthbenchError, match="biomarker"):
        task.run(oct_data.train, oct_data.val, oct_data.test, out_dir=kept)
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
