"""The result-row schema: rows written before a field existed stay valid, fields round-trip
through JSON lines, CSV and Parquet, and bad values are refused."""

from __future__ import annotations

import json

import pytest

from synthbench.errors import SynthbenchError
from synthbench.results import (
    ROWS_CSV,
    ROWS_PARQUET,
    ResultRow,
    read_results,
    read_rows,
    rows_frame,
    write_rows,
)


def test_rows_without_patient_split_stay_valid(tmp_path):
    old = {"metric": "fd", "value": 3.5, "dataset": "phantom:oct", "feature_extractor": "domain-x"}
    (tmp_path / "rows.jsonl").write_text(json.dumps(old) + "\n")
    (row,) = read_rows(tmp_path / "rows.jsonl")
    assert row.patient_split == "" and row.value == 3.5


@pytest.mark.parametrize("table", [ROWS_CSV, ROWS_PARQUET])
def test_patient_split_round_trips(tmp_path, table):
    rows = [
        ResultRow(metric="fd", value=1.0, patient_split="image"),
        ResultRow(metric="fd", value=2.0, patient_split="patient"),
        ResultRow(metric="accuracy", value=0.5),
    ]
    frame = rows_frame(rows)
    if table == ROWS_CSV:
        frame.to_csv(tmp_path / table, index=False)
    else:
        frame.to_parquet(tmp_path / table)
    back = read_results(tmp_path)
    assert [r.patient_split for r in back] == ["image", "patient", ""]
    write_rows(tmp_path / "rows.jsonl", rows)
    assert read_rows(tmp_path / "rows.jsonl") == rows


def test_unknown_patient_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="patient_split"):
        ResultRow(metric="fd", value=1.0, patient_split="slice")
    bad = {"metric": "fd", "value": 1.0, "patient_split": "slice"}
    (tmp_path / "rows.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(SynthbenchError, match=r"rows\.jsonl:1: invalid result row") as err:
        read_rows(tmp_path / "rows.jsonl")
    assert "\n" not in str(err.value)


def test_a_benchmark_scripts_manifest_names_its_run(tmp_path, monkeypatch):
    import json
    import sys
    import time

    from synthbench.machine import write_script_manifest

    monkeypatch.setattr(sys, "argv", ["x.py", "--out", "o"])
    started = time.perf_counter() - 2.0
    path = write_script_manifest(
        tmp_path, "benchmarks/perf/x.py", started, threads=1, precision={"all": "fp32"}, k=3
    )
    manifest = json.loads(path.read_text())
    assert list(manifest)[:3] == ["script", "argv", "k"]
    assert manifest["argv"] == ["--out", "o"] and manifest["precision"] == {"all": "fp32"}
    assert manifest["seconds"] >= 2.0 and manifest["git_sha"] and manifest["packages"]["torch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]  # no temporary left


def test_a_benchmark_script_replaces_only_its_own_earlier_output(tmp_path, monkeypatch):
    """A new, empty or earlier folder of the same script may be written (whole, through
    atomic_dir, so a failed run leaves the old one); any other folder is refused in one line
    with a non-zero exit, before any work."""
    import sys
    import time

    import pytest

    from synthbench.io import atomic_dir
    from synthbench.machine import script_output, write_script_manifest

    monkeypatch.setattr(sys, "argv", ["x.py"])
    mine = tmp_path / "mine"
    assert script_output(mine, "benchmarks/perf/x.py") == mine  # new
    with atomic_dir(mine) as out:
        (out / "fd.md").write_text("old")
        write_script_manifest(
            out, "benchmarks/perf/x.py", time.perf_counter(), threads=1, precision={}
        )
    script_output(mine, "benchmarks/perf/x.py")  # its own earlier output
    with pytest.raises(RuntimeError), atomic_dir(mine) as out:
        (out / "fd.md").write_text("half")
        raise RuntimeError("interrupted")
    assert (mine / "fd.md").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "mine"
    ]

    other = tmp_path / "results"
    other.mkdir()
    (other / "rows.jsonl").write_text("{}")
    for folder, script in ((other, "benchmarks/perf/x.py"), (mine, "benchmarks/perf/y.py")):
        with pytest.raises(SystemExit) as info:
            script_output(folder, script)
        message = str(info.value.code)
        assert message.startswith(
            f"error: --out {folder}: an existing folder that is not an earlier output of {script}"
        )
        assert "\n" not in message
    assert (other / "rows.jsonl").read_text() == "{}"
