import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synthbench import __version__
from synthbench.cli import app
from synthbench.cohort import Cohort

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthbench.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_imports_no_torch():
    code = (
        "import sys; from synthbench.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'datasets', 'matplotlib', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_ls_datasets():
    result = runner.invoke(app, ["ls", "datasets"])
    assert result.exit_code == 0
    for name in ("phantom", "medmnist", "imagefolder", "hf"):
        assert name in result.output


def test_ls_empty_kind_says_so():
    result = runner.invoke(app, ["ls", "tasks"])
    assert result.exit_code == 0 and result.output.strip()


def test_data_make_and_show(tmp_path):
    out = tmp_path / "oct"
    result = runner.invoke(app, ["data", "make", "phantom:oct?n=40&size=16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    parts = {s: Cohort.load(out / s) for s in ("train", "val", "test")}
    assert sum(len(c) for c in parts.values()) == 40
    import datasets

    whole = datasets.load_from_disk(str(out))
    assert isinstance(whole, datasets.DatasetDict) and set(whole) == {"train", "val", "test"}
    assert {s: len(whole[s]) for s in whole} == {s: len(c) for s, c in parts.items()}
    png = tmp_path / "grid.png"
    result = runner.invoke(app, ["data", "show", str(out), "--out", str(png)])
    assert result.exit_code == 0, result.output
    from PIL import Image

    grid = Image.open(png)
    assert grid.size[0] > 8 * 16 and grid.size[1] > 4 * 16  # four class rows of tiles
    result = runner.invoke(
        app, ["data", "show", str(out / "test"), "--out", str(tmp_path / "t.png")]
    )
    assert result.exit_code == 0 and (tmp_path / "t.png").is_file()


def test_data_show_from_spec(tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "show",
            "phantom:oct?n=40&size=16",
            "--out",
            str(tmp_path / "g.png"),
            "--split",
            "val",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "make", "phantom:pet", "--out", "x"], "unknown phantom modality 'pet'"),
        (["data", "show", "no-colon-here", "--out", "x.png"], "must look like"),
        (["ls", "widgets"], "unknown kind 'widgets'"),
        (["data", "make", "phantom:oct?n=abc", "--out", "x"], "option 'n'"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "synthbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_show_on_a_folder_that_is_not_a_cohort(tmp_path):
    (tmp_path / "junk").mkdir()
    result = run_cli("data", "show", str(tmp_path / "junk"), "--out", str(tmp_path / "g.png"))
    assert result.returncode == 2 and "neither a cohort folder" in result.stderr
